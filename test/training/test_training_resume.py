"""Kill-and-resume: a GRPO run stopped mid-way continues at the next step, nothing lost or
repeated (same final weights as an uninterrupted run)."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from robot_r1_ros.training import grpo, runlog
from robot_r1_ros.training.recipe import load_recipe

REPO = Path(__file__).resolve().parents[2]
MAX_STEPS = 6


def _start(recipe: Path, out: Path, log: Path) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        p for p in (str(REPO), os.environ.get('PYTHONPATH', '')) if p), OMP_NUM_THREADS='1')
    return subprocess.Popen(
        [sys.executable, '-m', 'robot_r1_ros.training.grpo', '--recipe', str(recipe),
         '--output-dir', str(out), '--max-steps', str(MAX_STEPS), '--save-steps', '1',
         '--threads', '1', '--log-level', 'WARNING'],
        cwd=REPO, env=env, stdout=log.open('a'), stderr=subprocess.STDOUT,
        start_new_session=True)


def _wait_for_checkpoint(proc: subprocess.Popen, out: Path, step: int, log: Path,
                         timeout_s: float = 90.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if runlog.is_complete_checkpoint(out / f'checkpoint-{step}'):
            return
        if proc.poll() is not None:
            pytest.fail(f'training exited early ({proc.returncode}):\n{log.read_text()[-3000:]}')
        time.sleep(0.1)
    proc.kill()
    pytest.fail(f'no checkpoint-{step} after {timeout_s} s:\n{log.read_text()[-3000:]}')


def test_killed_run_resumes_at_the_next_step(sft_model, qa_dataset, write_recipe, tmp_path):
    recipe_path = write_recipe(sft_model, qa_dataset['path'])
    out = tmp_path / 'run'
    log = tmp_path / 'train.log'

    # 1. Hard kill (SIGKILL) once checkpoint-2 is complete.
    proc = _start(recipe_path, out, log)
    _wait_for_checkpoint(proc, out, 2, log)
    proc.send_signal(signal.SIGKILL)
    proc.wait(30)
    first = runlog.find_resumable_checkpoint(out)
    k1 = runlog.checkpoint_step(first)
    assert 2 <= k1 < MAX_STEPS

    # 2. Resume; SIGTERM asks for a checkpoint at the end of the current step, then a stop.
    proc = _start(recipe_path, out, log)
    _wait_for_checkpoint(proc, out, k1 + 1, log)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(60) == 130, log.read_text()[-3000:]
    info = json.loads((out / runlog.RUN_INFO_NAME).read_text())
    assert info['resumed_from'] == str(first)
    assert info['finished'] is False
    k2 = info['global_step']
    assert k1 + 1 <= k2 < MAX_STEPS
    assert runlog.checkpoint_step(runlog.find_resumable_checkpoint(out)) == k2

    # 3. Resume to the end.
    proc = _start(recipe_path, out, log)
    assert proc.wait(120) == 0, log.read_text()[-3000:]
    info = json.loads((out / runlog.RUN_INFO_NAME).read_text())
    assert info['resumed_from'].endswith(f'checkpoint-{k2}')
    assert info['global_step'] == MAX_STEPS and info['finished']

    # Every step logged exactly once, in order, across the three processes.
    steps = [r['step'] for r in runlog.read_jsonl(out / runlog.LOG_NAME)
             if 'loss' in r and 'train_runtime' not in r]
    assert steps == list(range(1, MAX_STEPS + 1))

    # Same weights as one uninterrupted run (RNG, data order and optimizer state restored).
    recipe = load_recipe(recipe_path)
    ref = grpo.train(recipe, tmp_path / 'reference',
                     overrides={'max_steps': MAX_STEPS, 'save_steps': 1000})
    got = load_file(str(out / 'final' / 'model.safetensors'))
    want = load_file(str(ref.final_dir / 'model.safetensors'))
    assert got.keys() == want.keys()
    diff = max(float((got[k] - want[k]).abs().max()) for k in got)
    assert diff < 1e-5, f'resumed weights differ from an uninterrupted run by {diff}'
    start = load_file(str(Path(sft_model) / 'model.safetensors'))
    assert any(not torch.equal(got[k], start[k]) for k in got), 'training changed nothing'


def test_checkpoint_helpers_skip_incomplete_folders(tmp_path):
    assert runlog.find_resumable_checkpoint(tmp_path / 'missing') is None
    done = tmp_path / 'checkpoint-3'
    done.mkdir()
    (done / 'model.safetensors').write_bytes(b'x')
    (done / 'trainer_state.json').write_text('{}')
    torn = tmp_path / 'checkpoint-4'
    torn.mkdir()
    (torn / 'model.safetensors').write_bytes(b'x')  # killed before trainer_state.json
    assert runlog.find_resumable_checkpoint(tmp_path) == done
    with pytest.raises(ValueError):
        runlog.checkpoint_step(tmp_path / 'final')
    log = tmp_path / 'log.jsonl'
    log.write_text('{"step": 1}\n{"step": 2}\n{"step": 3}\n{"ste')
    assert [r['step'] for r in runlog.read_jsonl(log)] == [1, 2, 3]
    assert runlog.truncate_jsonl(log, 2) == 1
    assert [r['step'] for r in runlog.read_jsonl(log)] == [1, 2]
