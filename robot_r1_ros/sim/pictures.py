"""Render a picture of each task: the initial frame, the projected goal point (yellow cross)
and the scripted expert's keyframes (circles: green = gripper open, red = closed; numbered in
order, joined by a line).

    python -m robot_r1_ros.sim.pictures --out docs/images [--size 320] [--seed 0]

Writes ``sim_<task>.png`` per task and ``sim_tasks.png`` (all tasks side by side).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

import robot_r1_ros.sim  # noqa: F401  (MUJOCO_GL before mujoco)
from robot_r1_ros.sim.experts import plan
from robot_r1_ros.sim.scene import PandaScene, SceneConfig
from robot_r1_ros.sim.tasks import make_task, task_names


def draw_task_picture(scene: PandaScene, task_name: str, seed: int):
    """PIL image of ``task_name``/``seed`` with the goal and expert keyframes drawn."""
    from PIL import Image, ImageDraw

    task = make_task(task_name)
    episode = task.reset(scene, seed)
    waypoints = plan(scene, task, episode)
    rgb = scene.render()
    cam = scene.camera
    img = Image.fromarray(rgb)
    draw = ImageDraw.Draw(img)
    s = max(2, cam.width // 80)
    uv, _ = cam.project(np.array([w.xyz_base_m for w in waypoints]))
    draw.line([tuple(p) for p in uv], fill=(255, 255, 255), width=1)
    for i, (w, p) in enumerate(zip(waypoints, uv)):
        colour = (40, 220, 60) if w.gripper_open else (230, 30, 30)
        draw.ellipse([p[0] - s, p[1] - s, p[0] + s, p[1] + s], outline=colour, width=2)
        draw.text((p[0] + s + 1, p[1] - 2 * s), str(i + 1), fill=(255, 255, 255))
    (g,), _ = cam.project(np.asarray(episode.goal_xyz_base_m))
    k = 2 * s
    draw.line([g[0] - k, g[1], g[0] + k, g[1]], fill=(255, 230, 0), width=2)
    draw.line([g[0], g[1] - k, g[0], g[1] + k], fill=(255, 230, 0), width=2)
    draw.rectangle([0, cam.height - 14, cam.width, cam.height], fill=(0, 0, 0))
    draw.text((3, cam.height - 13), episode.instruction, fill=(255, 255, 255))
    return img


def main(argv: list[str] | None = None) -> int:
    """Entry point."""
    p = argparse.ArgumentParser(prog='python -m robot_r1_ros.sim.pictures', description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--out', type=Path, default=Path('docs/images'))
    p.add_argument('--size', type=int, default=320, help='square image size in pixels')
    p.add_argument('--seed', type=int, default=0)
    args = p.parse_args(argv)
    from PIL import Image

    args.out.mkdir(parents=True, exist_ok=True)
    pictures = []
    with PandaScene(SceneConfig().with_camera_size(args.size, args.size)) as scene:
        for name in task_names():
            img = draw_task_picture(scene, name, args.seed)
            path = args.out / f'sim_{name}.png'
            img.save(path, optimize=True)
            pictures.append(img)
            print(path)
    montage = Image.new('RGB', (args.size * len(pictures), args.size))
    for i, img in enumerate(pictures):
        montage.paste(img, (i * args.size, 0))
    montage = montage.resize((montage.width // 2, montage.height // 2), Image.LANCZOS)
    montage.save(args.out / 'sim_tasks.png', optimize=True)
    print(args.out / 'sim_tasks.png')
    return 0


if __name__ == '__main__':
    sys.exit(main())
