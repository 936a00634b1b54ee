"""Recorded expert episodes: record one (:func:`record_expert_episode`), name and list them."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from robot_r1_ros.sim.recording import BagRecorder
from robot_r1_ros.sim.scene import PandaScene


def list_episodes(root: str | Path) -> list[Path]:
    """Finished episode bags (directories with a ``metadata.yaml``) under ``root``, sorted."""
    root = Path(root)
    return sorted(p.parent for p in root.glob('*/metadata.yaml'))


@dataclass(frozen=True)
class RecordResult:
    """Outcome of one recorded expert episode."""

    path: Path
    task: str
    seed: int
    success: bool
    n_images: int
    n_joint_states: int
    sim_time_s: float


def episode_name(task: str, seed: int) -> str:
    """Bag directory name of an episode: ``<task>_<seed:06d>``."""
    return f'{task}_{int(seed):06d}'


def record_expert_episode(scene: PandaScene, task_name: str, seed: int, out_dir: str | Path,
                          camera_hz: float = 10.0, joint_state_hz: float = 50.0,
                          compress: bool = True) -> RecordResult:
    """Reset ``scene`` to (task, seed), run the scripted expert and write its bag to
    ``out_dir/<task>_<seed>``.

    Raises:
        FileExistsError: the bag exists already.
        UnknownTaskError: unknown task name.
    """
    from robot_r1_ros.sim.experts import run_expert
    from robot_r1_ros.sim.tasks import make_task

    task = make_task(task_name)
    episode = task.reset(scene, seed)
    path = Path(out_dir) / episode_name(task_name, seed)
    meta = {'task': task_name, 'seed': str(seed), 'source': 'robot_r1_ros.sim expert'}
    with BagRecorder(path, scene.camera, episode.instruction, camera_hz=camera_hz,
                     joint_state_hz=joint_state_hz, compress=compress, metadata=meta) as rec:
        rec.start(scene)
        result = run_expert(scene, task, episode, on_step=rec.on_step)
        rec.finish(scene, result.success)
    return RecordResult(path=path, task=task_name, seed=int(seed), success=result.success,
                        n_images=rec.n_images, n_joint_states=rec.n_joint_states,
                        sim_time_s=scene.time_s)
