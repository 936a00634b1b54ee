"""Training throughput of the small CPU model: SFT and GRPO samples/s, generated tokens/s and
peak memory. Prints a table and writes bench/results/training.json.

    source scripts/env.sh
    python bench/bench_training.py                      # records 3 demos, builds everything
    python bench/bench_training.py --dataset outputs/dataset --model models/tiny-qwen2.5-vl \\
        --recipe tiny_cpu --sft-steps 20 --grpo-steps 10

It runs the real pipeline (``robot_r1_ros.training.sft`` / ``grpo`` through the recipe, TRL's
trainers, one torch thread unless ``--threads``): ``--sft-steps`` SFT steps from the model, then
``--grpo-steps`` GRPO steps from the SFT result. Rates are steady-state: the first step of each
phase (allocation, first-call overheads) is left out. GRPO counts completions
(``per_device_train_batch_size`` per step = prompts x ``num_generations``) as samples; generated
tokens are TRL's ``completions/mean_length`` x completions. Peak memory is the process's maximum
resident set size. The CPU is shared with other work on this machine: the load average at the
start and end is recorded beside the numbers, which swing with it.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault('MUJOCO_GL', 'egl')
os.environ.setdefault('OMP_NUM_THREADS', '1')
os.environ.setdefault('HF_HUB_OFFLINE', '1')
os.environ.setdefault('TOKENIZERS_PARALLELISM', 'false')


def _record_dataset(tmp: Path) -> Path:
    """3 pick-and-place expert demos -> a dataset (1 episode per split)."""
    import robot_r1_ros.sim  # noqa: F401
    from robot_r1_ros.core.config import QAConfig, WorkspaceConfig
    from robot_r1_ros.sim.episodes import record_expert_episode
    from robot_r1_ros.sim.scene import PandaScene
    from robot_r1_ros.training.dataset import (DEFAULT_FRAME_INTERVAL, DEFAULT_KEYFRAME_METHOD,
                                               BuildSettings, build_dataset)
    with PandaScene() as scene:
        for seed in range(3):
            record_expert_episode(scene, 'pick_place', seed, tmp / 'bags')
    settings = BuildSettings(qa=QAConfig(frame_interval=DEFAULT_FRAME_INTERVAL,
                                         keyframe_method=DEFAULT_KEYFRAME_METHOD),
                             workspace=WorkspaceConfig(), val_frac=0.34, test_frac=0.34)
    build_dataset([tmp / 'bags'], tmp / 'dataset', settings)
    return tmp / 'dataset'


def _step_timer():
    """A Trainer callback recording the wall time at the end of every optimizer step."""
    from transformers import TrainerCallback

    class StepTimer(TrainerCallback):
        def __init__(self) -> None:
            self.ends: list[float] = []

        def on_step_end(self, args, state, control, **kwargs):
            self.ends.append(time.perf_counter())

    return StepTimer()


def _steady_rate(ends: list[float], per_step: float) -> tuple[float, float]:
    """(items per second, seconds per step) over steps 2..n."""
    if len(ends) < 2:
        return float('nan'), float('nan')
    dt = (ends[-1] - ends[0]) / (len(ends) - 1)
    return per_step / dt, dt


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--recipe', default='tiny_cpu')
    parser.add_argument('--model', help='checkpoint to start from (default: build the tiny one)')
    parser.add_argument('--dataset', help='robot-r1 dataset folder (default: record 3 demos)')
    parser.add_argument('--sft-steps', type=int, default=12)
    parser.add_argument('--grpo-steps', type=int, default=8)
    parser.add_argument('--threads', type=int, default=1)
    parser.add_argument('--out', type=Path, default=REPO / 'bench' / 'results' / 'training.json')
    args = parser.parse_args()

    import torch
    torch.set_num_threads(args.threads)
    from robot_r1_ros.training import grpo, runlog, sft
    from robot_r1_ros.training.recipe import load_recipe

    load_start = os.getloadavg()
    t_total = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp_str:
        tmp = Path(tmp_str)
        t0 = time.perf_counter()
        dataset = Path(args.dataset) if args.dataset else _record_dataset(tmp)
        setup_s = time.perf_counter() - t0
        if args.model:
            model = Path(args.model)
        else:
            from robot_r1_ros.model import build_tiny
            model = build_tiny.build(tmp / 'tiny', seed=0)
        recipe = load_recipe(args.recipe).with_paths(model, dataset)
        common = {'save_steps': 10_000, 'logging_steps': 1, 'disable_tqdm': True,
                  'report_to': []}

        sft_times = _step_timer()
        sft_result = sft.train(recipe, tmp / 'sft', callbacks=[sft_times],
                               overrides={**common, 'max_steps': args.sft_steps})
        sft_batch = int((recipe.sft or {}).get('per_device_train_batch_size', 8))
        sft_rate, sft_step_s = _steady_rate(sft_times.ends, sft_batch)

        grpo_times = _step_timer()
        grpo_recipe = recipe.with_paths(sft_result.final_dir)
        grpo.train(grpo_recipe, tmp / 'grpo', callbacks=[grpo_times],
                   overrides={**common, 'max_steps': args.grpo_steps})
        logs = [r for r in runlog.read_jsonl(tmp / 'grpo' / runlog.LOG_NAME)
                if 'completions/mean_length' in r]
        batch = int(recipe.grpo.get('per_device_train_batch_size', 8))
        groups = int(recipe.grpo.get('num_generations', 8))
        grpo_rate, grpo_step_s = _steady_rate(grpo_times.ends, batch)
        steady = logs[1:] or logs
        mean_len = sum(r['completions/mean_length'] for r in steady) / max(len(steady), 1)
        tokens_per_s = mean_len * batch / grpo_step_s if grpo_step_s == grpo_step_s else None
        from transformers import AutoModelForImageTextToText
        n_params = sum(p.numel() for p in
                       AutoModelForImageTextToText.from_pretrained(model).parameters())

    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    result = {
        'machine': {'cpus': os.cpu_count(), 'python': platform.python_version(),
                    'torch': torch.__version__, 'torch_threads': torch.get_num_threads(),
                    'load_average_start': [round(x, 2) for x in load_start],
                    'load_average_end': [round(x, 2) for x in os.getloadavg()]},
        'recipe': args.recipe, 'model_parameters': n_params,
        'image_pixels': recipe.model.image_max_pixels,
        'sft': {'steps': args.sft_steps, 'batch': sft_batch,
                'samples_per_s': round(sft_rate, 2), 'step_s': round(sft_step_s, 3)},
        'grpo': {'steps': args.grpo_steps, 'completions_per_step': batch,
                 'prompts_per_step': batch // groups,
                 'samples_per_s': round(grpo_rate, 2),
                 'prompts_per_s': round(grpo_rate / groups, 3),
                 'generated_tokens_per_s': round(tokens_per_s, 1) if tokens_per_s else None,
                 'mean_completion_tokens': round(mean_len, 1), 'step_s': round(grpo_step_s, 3)},
        'peak_rss_mb': round(peak_mb, 1),
        'setup_s': round(setup_s, 1), 'total_s': round(time.perf_counter() - t_total, 1),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + '\n')
    rows = [('SFT samples/s', result['sft']['samples_per_s']),
            ('SFT s/step (batch %d)' % sft_batch, result['sft']['step_s']),
            ('GRPO samples (completions)/s', result['grpo']['samples_per_s']),
            ('GRPO prompts/s', result['grpo']['prompts_per_s']),
            ('GRPO generated tokens/s', result['grpo']['generated_tokens_per_s']),
            ('GRPO s/step (%d completions)' % batch, result['grpo']['step_s']),
            ('GRPO mean completion tokens', result['grpo']['mean_completion_tokens']),
            ('peak RSS (MB)', result['peak_rss_mb']),
            ('model parameters', n_params),
            ('load average (start -> end)',
             f'{load_start[0]:.1f} -> {os.getloadavg()[0]:.1f}')]
    width = max(len(r[0]) for r in rows)
    print(f'training throughput, recipe {args.recipe}, {torch.get_num_threads()} torch thread(s)')
    for name, value in rows:
        print(f'  {name:<{width}}  {value}')
    print(f'wrote {args.out}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
