"""Vision pre-training: the Qwen2.5-VL vision tower learns where the objects are.

    python -m robot_r1_ros.training.vision_pretrain --base checkpoints/robot-r1-tiny-learn \\
        --out outputs/vision --frames 2000 --cpu-minutes 10

Why: a tiny VLM trained only on text answers never needs the image (research note
``vision-probe.md``: with a position-preserving readout and a dense target, a 0.33 M-parameter
tower locates the cube to ~1 cm in 10 CPU-minutes; a mean-pooled readout learns nothing). This
stage trains a fresh, larger tower (``--hidden``/``--depth``) on rendered ``pick_place`` scenes
(seeds of ``training.seeds``: ``vision_pretrain`` for training, ``vision_test`` held out) with
auxiliary heads on its merged tokens; two regress every object's (x, y) in the base frame:

- ``flatten``: one linear map over all merged tokens (position-preserving, learns fast);
- ``attend``: per object, a learned query attends over the tokens and a linear map reads the
  attended token. This is the readout the language model itself has (attention, then a
  linear map), so it pushes the tower to write *where* into the token that shows the object.
- ``digits`` (``digit_weight`` > 0): the attended token of each object also classifies the
  sign, tenths and hundredths digits of its env-frame x and y, as the prompt writes them. The
  language model answers in those digits through the same attention, so the tower learns to write
  the position in a form one linear map turns into the answer's tokens.

``init`` continues from an earlier run's ``resume.pt`` (tower and heads; new heads start fresh).

Export (``final/``): the base checkpoint (tokenizer, language model, processor) with its vision
tower replaced by the trained one; a plain ``Qwen2_5_VLForConditionalGeneration``; the heads are
not in it (they live in ``heads.pt`` beside it). The language model's image-token projection
(the tower's merger) is new, so the VLM stages that follow must train the whole model.

Budgets are CPU time (``time.process_time``); ``resume.pt`` every ``--checkpoint-minutes``; the
same command continues a killed run.
"""
from __future__ import annotations

import argparse
import json
import logging
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from robot_r1_ros.core.config import DEFAULT_WORKSPACE
from robot_r1_ros.training.seeds import seed_range

_LOG = logging.getLogger(__name__)

FRAME_SOURCES = ('start', 'rollout')


@dataclass(frozen=True)
class VisionPretrainConfig:
    """Settings of the vision stage (all validated in ``__post_init__``)."""

    base: str
    task: str = 'pick_place'
    frames: int = 2000
    test_frames: int = 300
    hidden: int = 64
    depth: int = 4
    heads: int = 4
    mlp: int = 128
    lr: float = 1e-3
    batch_size: int = 32
    cpu_minutes: float = 10.0
    checkpoint_minutes: float = 2.0
    seed: int = 0
    digit_weight: float = 0.0
    init: str = ''
    frames_from: str = 'rollout'
    # The image area the stage resizes frames to, in pixels (min = max, as the language links'
    # ``model.image_pixels``). Why stated: the untrained tiny model's processor keeps an image's
    # own size (224 x 224: 64 tokens), the links see 112 x 112 (16 tokens), and a tower trained
    # at one size reads the other badly (E88's first try; experiments/issue13_fast.md).
    image_pixels: int = 12544

    def __post_init__(self) -> None:
        if self.frames_from not in FRAME_SOURCES:
            raise ValueError(f'frames_from must be one of {FRAME_SOURCES}, '
                             f'got {self.frames_from!r}')
        for name in ('frames', 'test_frames', 'hidden', 'depth', 'heads', 'mlp', 'batch_size',
                     'image_pixels'):
            if int(getattr(self, name)) <= 0:
                raise ValueError(f'{name} must be positive, got {getattr(self, name)}')
        if self.hidden % self.heads:
            raise ValueError(f'hidden ({self.hidden}) must be a multiple of heads ({self.heads})')
        if self.digit_weight < 0:
            raise ValueError(f'digit_weight must be >= 0, got {self.digit_weight}')
        if self.lr <= 0 or self.cpu_minutes <= 0 or self.checkpoint_minutes <= 0:
            raise ValueError('lr, cpu_minutes and checkpoint_minutes must be positive')


def render_frames(task_name: str, seeds: range, source: str = 'start', count: int | None = None
                  ) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Front-camera frames and every object's (x, y, z) at that moment.

    ``source='start'``: one initial-state frame per seed (arm at home, cubes on the table).
    ``source='rollout'``: every moment the scene datasets ask at (``training.scene_data``: the
    start and each settled waypoint of the scripted expert), seeds taken in order until ``count``
    frames; a seed whose rollout the expert fails is skipped. Why: a tower trained on start frames
    alone reads them to ~1 cm but mid-episode frames (arm in view, a cube in the gripper) to
    ~10 cm, and most questions, and every closed-loop step after the first, show such frames.

    Returns:
        images (N, H, W, 3) uint8, positions (N, K, 3) base frame metres, the K object names.
    """
    from robot_r1_ros.sim.objects import object_names, object_positions
    from robot_r1_ros.sim.scene import PandaScene
    from robot_r1_ros.sim.tasks import make_task
    from robot_r1_ros.training.scene_data import scene_episode

    if source not in FRAME_SOURCES:
        raise ValueError(f'source must be one of {FRAME_SOURCES}, got {source!r}')
    count = len(seeds) if count is None else int(count)
    task = make_task(task_name)
    images, positions = [], []
    with PandaScene() as scene:
        names = list(object_names(scene))
        for seed in seeds:
            if len(images) >= count:
                break
            if source == 'start':
                task.reset(scene, int(seed))
                pos = object_positions(scene)
                images.append(scene.render())
                positions.append([pos[n] for n in names])
                continue
            got = scene_episode(scene, task, int(seed), 'vision')
            if got is None:
                _LOG.warning('seed %d: the expert failed; no frames from it', seed)
                continue
            episode, frames, _ = got
            for i, image in enumerate(frames[:count - len(images)]):
                images.append(image)
                positions.append([episode.object_xyz_base_m[n][i] for n in names])
    if len(images) < count:
        raise ValueError(f'{len(seeds)} seeds gave {len(images)} frames, {count} wanted')
    return np.stack(images), np.asarray(positions, dtype=np.float32), names


def vision_config(cfg: VisionPretrainConfig, out_hidden: int) -> dict[str, Any]:
    """The ``vision_config`` of the new tower (Qwen2.5-VL's layout, tiny dimensions)."""
    return dict(depth=cfg.depth, hidden_size=cfg.hidden, intermediate_size=cfg.mlp,
                num_heads=cfg.heads, out_hidden_size=out_hidden, patch_size=14,
                spatial_merge_size=2, temporal_patch_size=2, window_size=112,
                fullatt_block_indexes=[cfg.depth - 1], in_chans=3, hidden_act='silu',
                tokens_per_second=4)


DIGIT_CLASSES = 22
"""Per coordinate: sign (2 classes), tenths (10), hundredths (10)."""


def digit_targets(xy_env_m: np.ndarray) -> np.ndarray:
    """(..., 2) env-frame x, y -> (..., 2, 3) class indices: sign, tenths, hundredths.

    The digits are those of the 3-decimal text the prompt and answer use (``-0.102`` -> 1, 1, 0).
    """
    thousandths = np.rint(np.abs(xy_env_m) * 1000).astype(np.int64)
    sign = (np.rint(xy_env_m * 1000) < 0).astype(np.int64)
    return np.stack([sign, (thousandths // 100) % 10, (thousandths // 10) % 10], axis=-1)


def _digit_loss(logits: Any, target: Any) -> Any:
    """Summed cross-entropy of the three digit groups; logits (B, K, 2, 22), target (B, K, 2, 3)."""
    import torch.nn.functional as F

    parts = (logits[..., :2], logits[..., 2:12], logits[..., 12:])
    return sum(F.cross_entropy(part.reshape(-1, part.shape[-1]), target[..., i].reshape(-1))
               for i, part in enumerate(parts))


class Heads:
    """The auxiliary readouts: flatten, attend and the attended token's digits (built lazily so
    importing this module needs no torch)."""

    @staticmethod
    def build(n_tokens: int, width: int, n_objects: int) -> Any:
        import torch
        from torch import nn

        class ReadoutHeads(nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.flatten = nn.Linear(n_tokens * width, 2 * n_objects)
                self.query = nn.Parameter(torch.randn(n_objects, width) * 0.1)
                self.key = nn.Linear(width, width)
                self.read = nn.Linear(width, 2)
                self.digits = nn.Linear(width, 2 * DIGIT_CLASSES)

            def forward(self, tokens: Any) -> tuple[Any, Any, Any]:  # tokens (B, T, W)
                flat = self.flatten(tokens.flatten(1)).view(len(tokens), -1, 2)
                scores = torch.einsum('kw,btw->bkt', self.query, self.key(tokens))
                attended = torch.einsum('bkt,btw->bkw', scores.softmax(-1), tokens)
                digits = self.digits(attended).view(len(tokens), -1, 2, DIGIT_CLASSES)
                return flat, self.read(attended), digits

        return ReadoutHeads()


def encode_images(processor: Any, images: np.ndarray, chunk: int = 1000) -> tuple[Any, Any]:
    """(N, H, W, 3) uint8 frames -> the image processor's pixel patches (float16) and grid.

    Encoded ``chunk`` frames at a time and kept in half precision: the patches of 112 x 112
    frames take 300 kB each in float32, so more frames (the stage overfits 6,000: 0.8-0.9 cm on
    its training frames, 2.6-2.8 cm held out) would not fit beside a training run. The
    normalised pixels lie within a few units, where float16 keeps about three decimals."""
    import torch
    from PIL import Image

    pixels, grids = [], []
    for start in range(0, len(images), chunk):
        out = processor.image_processor(
            images=[Image.fromarray(im) for im in images[start:start + chunk]],
            return_tensors='pt')
        pixels.append(out['pixel_values'].to(torch.float16))
        grids.append(out['image_grid_thw'])
    return torch.cat(pixels), torch.cat(grids)


def train(cfg: VisionPretrainConfig, out: Path) -> dict[str, Any]:
    """Run (or resume) the stage; writes ``out/final`` and ``out/report.json``."""
    import torch
    from transformers import Qwen2_5_VLConfig
    from transformers.models.qwen2_5_vl.modeling_qwen2_5_vl import (
        Qwen2_5_VisionTransformerPretrainedModel)

    from robot_r1_ros.model.processor import load_processor

    out.mkdir(parents=True, exist_ok=True)
    data_file = out / 'frames.npz'
    if not data_file.exists():
        t0 = time.time()
        tr_img, tr_pos, names = render_frames(
            cfg.task, seed_range('vision_pretrain', cfg.frames), cfg.frames_from, cfg.frames)
        te_img, te_pos, _ = render_frames(
            cfg.task, seed_range('vision_test', cfg.test_frames), cfg.frames_from,
            cfg.test_frames)
        np.savez_compressed(data_file, tr_img=tr_img, tr_pos=tr_pos, te_img=te_img,
                            te_pos=te_pos, names=np.array(names))
        _LOG.info('rendered %d + %d frames in %.0f s', len(tr_img), len(te_img), time.time() - t0)
    data = np.load(data_file)
    names = [str(n) for n in data['names']]
    processor = load_processor(cfg.base, min_pixels=cfg.image_pixels,
                               max_pixels=cfg.image_pixels)
    base_config = Qwen2_5_VLConfig.from_pretrained(cfg.base)
    width = base_config.text_config.hidden_size
    vcfg = Qwen2_5_VLConfig(**{**base_config.to_dict(),
                               'vision_config': vision_config(cfg, width)}).vision_config
    torch.manual_seed(cfg.seed)
    tower = Qwen2_5_VisionTransformerPretrainedModel._from_config(vcfg)
    tr_pix, tr_grid = encode_images(processor, data['tr_img'])
    te_pix, te_grid = encode_images(processor, data['te_img'])
    per_image = int(tr_grid[0].prod())
    n_tokens = per_image // 4
    tr_xy = torch.tensor(data['tr_pos'][..., :2])
    te_xy = torch.tensor(data['te_pos'][..., :2])
    mean, std = tr_xy.mean(0), tr_xy.std(0).clamp_min(1e-3)  # a still object: no 0 / 0
    env = DEFAULT_WORKSPACE.env_frame()
    tr_dig, te_dig = (torch.tensor(digit_targets(
        env.base_to_env(data[k].reshape(-1, 3)).reshape(data[k].shape)[..., :2]))
        for k in ('tr_pos', 'te_pos'))
    heads = Heads.build(n_tokens, width, len(names))
    if cfg.init:
        state = torch.load(Path(cfg.init) / 'resume.pt', weights_only=False)
        tower.load_state_dict(state['tower'])
        kept = heads.load_state_dict(state['heads'], strict=False)
        _LOG.info('initialised from %s (new heads: %s)', cfg.init, kept.missing_keys)
    params = list(tower.parameters()) + list(heads.parameters())
    opt = torch.optim.Adam(params, lr=cfg.lr)
    step, cpu_used, log = 0, 0.0, out / 'log.jsonl'
    resume = out / 'resume.pt'
    if resume.exists():
        state = torch.load(resume, weights_only=False)
        tower.load_state_dict(state['tower']), heads.load_state_dict(state['heads'])
        opt.load_state_dict(state['opt'])
        step, cpu_used = state['step'], state['cpu_used']
        _LOG.info('resumed at step %d (%.1f CPU-min)', step, cpu_used / 60)
    gen = torch.Generator().manual_seed(cfg.seed + step)
    tr_pix = tr_pix.view(len(tr_xy), per_image, -1)

    def forward(pix: Any, n: int) -> tuple[Any, Any, Any]:
        grid = tr_grid[:1].repeat(n, 1)
        tokens = tower(pix.reshape(n * per_image, -1).float(), grid_thw=grid).pooler_output
        return heads(tokens.view(n, n_tokens, -1))

    def evaluate() -> dict[str, float]:
        tower.eval()
        with torch.no_grad():
            flat, att, dig = forward(te_pix, len(te_xy))
        tower.train()
        res = {'attend_digits_acc': round(float((torch.stack(
            [dig[..., :2].argmax(-1), dig[..., 2:12].argmax(-1), dig[..., 12:].argmax(-1)],
            -1) == te_dig).float().mean()), 3)}
        for head, pred in (('flatten', flat), ('attend', att)):
            err = ((pred * std + mean - te_xy).norm(dim=-1) * 100)  # (N, K) cm
            for k, name in enumerate(names):
                res[f'{head}_{name}_cm'] = round(float(err[:, k].mean()), 2)
            res[f'{head}_within_2cm'] = round(float((err < 2).float().mean()), 3)
        res['mean_prediction_cm'] = round(float((mean - te_xy).norm(dim=-1).mean() * 100), 2)
        return res

    budget_s, t_start = cfg.cpu_minutes * 60, time.process_time()
    last_ckpt = cpu_used
    while cpu_used < budget_s:
        idx = torch.randint(len(tr_xy), (cfg.batch_size,), generator=gen)
        flat, att, dig = forward(tr_pix[idx], cfg.batch_size)
        target = (tr_xy[idx] - mean) / std
        loss = ((flat - target) ** 2).mean() + ((att - target) ** 2).mean()
        if cfg.digit_weight:
            loss = loss + cfg.digit_weight * _digit_loss(dig, tr_dig[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
        step += 1
        cpu_used_now = cpu_used + time.process_time() - t_start
        if step % 50 == 0:
            with log.open('a') as f:
                f.write(json.dumps({'step': step, 'loss': round(float(loss.detach()), 5),
                                    'cpu_min': round(cpu_used_now / 60, 2)}) + '\n')
        if cpu_used_now - last_ckpt >= cfg.checkpoint_minutes * 60 or cpu_used_now >= budget_s:
            res = evaluate()
            with log.open('a') as f:
                f.write(json.dumps({'step': step, 'eval': res}) + '\n')
            torch.save({'tower': tower.state_dict(), 'heads': heads.state_dict(),
                        'opt': opt.state_dict(), 'step': step, 'cpu_used': cpu_used_now},
                       resume)
            last_ckpt = cpu_used_now
            _LOG.info('step %d, %.1f CPU-min: %s', step, cpu_used_now / 60, res)
        if cpu_used_now >= budget_s:
            cpu_used = cpu_used_now
            break
    report = {'config': asdict(cfg), 'steps': step, 'cpu_minutes': round(cpu_used / 60, 2),
              'frames_per_cpu_s': round(step * cfg.batch_size / max(cpu_used, 1e-9), 1),
              'objects': names, 'held_out': evaluate(),
              'seeds': {'train': [seed_range('vision_pretrain', cfg.frames)[0], cfg.frames],
                        'test': [seed_range('vision_test', cfg.test_frames)[0],
                                 cfg.test_frames]},
              'tower_params': sum(p.numel() for p in tower.parameters()),
              'tokens_per_image': n_tokens}
    export(cfg, tower, base_config, out / 'final')
    torch.save(heads.state_dict(), out / 'heads.pt')
    (out / 'report.json').write_text(json.dumps(report, indent=2))
    return report


def export(cfg: VisionPretrainConfig, tower: Any, base_config: Any, folder: Path) -> Path:
    """The base checkpoint with ``tower`` as its vision tower, saved like any checkpoint."""
    import shutil

    from transformers import Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration

    width = base_config.text_config.hidden_size
    new_config = Qwen2_5_VLConfig(**{**base_config.to_dict(),
                                     'vision_config': vision_config(cfg, width)})
    model = Qwen2_5_VLForConditionalGeneration.from_pretrained(cfg.base)
    fresh = Qwen2_5_VLForConditionalGeneration(new_config)
    state = {k: v for k, v in model.state_dict().items() if '.visual.' not in f'.{k}'}
    fresh.load_state_dict(state, strict=False)
    fresh.model.visual.load_state_dict(tower.state_dict())
    fresh.generation_config = model.generation_config
    folder.mkdir(parents=True, exist_ok=True)
    fresh.save_pretrained(folder)
    for name in ('tokenizer.json', 'tokenizer_config.json', 'chat_template.json',
                 'preprocessor_config.json'):
        src = Path(cfg.base) / name
        if src.exists():
            shutil.copy(src, folder / name)
    pre = folder / 'preprocessor_config.json'
    if pre.exists():  # the checkpoint resizes images as its tower was trained
        settings = json.loads(pre.read_text())
        settings.update(min_pixels=cfg.image_pixels, max_pixels=cfg.image_pixels)
        pre.write_text(json.dumps(settings, indent=2) + '\n')
    return folder


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--base', required=True, help='checkpoint whose LM/tokenizer/processor stay')
    p.add_argument('--out', required=True, type=Path)
    p.add_argument('--frames', type=int, default=2000)
    p.add_argument('--test-frames', type=int, default=300)
    p.add_argument('--hidden', type=int, default=64)
    p.add_argument('--depth', type=int, default=4)
    p.add_argument('--cpu-minutes', type=float, default=10.0)
    p.add_argument('--checkpoint-minutes', type=float, default=2.0)
    p.add_argument('--batch-size', type=int, default=32)
    p.add_argument('--threads', type=int, default=1)
    p.add_argument('--digit-weight', type=float, default=0.0,
                   help='weight of the attended-token digit classification (0: off)')
    p.add_argument('--init', default='', help='an earlier run folder to continue from')
    p.add_argument('--image-pixels', type=int, default=12544,
                   help="image area in pixels the frames are resized to (the links' "
                        "model.image_pixels; 12544 = 112 x 112)")
    p.add_argument('--frames-from', choices=FRAME_SOURCES, default='rollout',
                   help="'rollout': the scene datasets' moments (start and settled waypoints of "
                        "expert rollouts); 'start': initial-state frames only (E13-E41)")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format='%(asctime)s %(message)s')
    import torch
    torch.set_num_threads(args.threads)
    cfg = VisionPretrainConfig(base=args.base, frames=args.frames, test_frames=args.test_frames,
                               hidden=args.hidden, depth=args.depth, cpu_minutes=args.cpu_minutes,
                               checkpoint_minutes=args.checkpoint_minutes,
                               batch_size=args.batch_size, digit_weight=args.digit_weight,
                               init=args.init, frames_from=args.frames_from,
                               image_pixels=args.image_pixels)
    report = train(cfg, args.out)
    print(json.dumps(report['held_out'], indent=1))
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
