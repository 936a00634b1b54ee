"""Data-parallel training (``training.workers``): real worker processes on a loopback gloo group.

The gradient a group of workers applies is the single-process gradient of the whole batch, every
worker stays on the same weights, a curriculum run with two workers trains, exports and resumes,
and a batch the workers cannot share is refused before any process starts."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from robot_r1_ros.core.errors import ConfigError
from robot_r1_ros.training import workers as wk


def _linear_steps(workers: wk.Workers, out: str) -> None:
    """Three SGD steps of a linear model on this worker's half of a fixed batch; saves the
    averaged first gradient and the final weights by rank."""
    import torch
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 2)
    x, y = torch.randn(8, 3), torch.randn(8, 2)
    rows = slice(workers.rank * 4, workers.rank * 4 + 4)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    grads = None
    for _ in range(3):
        opt.zero_grad()
        torch.nn.functional.mse_loss(model(x[rows]), y[rows]).backward()
        workers.average_gradients(model.parameters())
        if grads is None:
            grads = [p.grad.clone() for p in model.parameters()]
        opt.step()
    torch.save({'grads': grads, 'weights': [p.detach() for p in model.parameters()],
                'sum': workers.sum(workers.rank + 1), 'gather': workers.gather(workers.rank)},
               Path(out) / f'rank{workers.rank}.pt')


def test_averaged_gradient_is_the_whole_batch_gradient_and_workers_stay_in_step(tmp_path):
    import torch
    wk.launch(_linear_steps, 2, str(tmp_path))
    r0, r1 = (torch.load(tmp_path / f'rank{r}.pt') for r in (0, 1))
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 2)
    x, y = torch.randn(8, 3), torch.randn(8, 2)
    torch.nn.functional.mse_loss(model(x), y).backward()
    for whole, g0, g1 in zip(model.parameters(), r0['grads'], r1['grads']):
        assert torch.allclose(whole.grad, g0, atol=1e-6) and torch.equal(g0, g1)
    assert all(torch.equal(a, b) for a, b in zip(r0['weights'], r1['weights']))
    assert r0['sum'] == r1['sum'] == 3.0
    assert r0['gather'] == r1['gather'] == [0, 1]


def test_one_worker_is_this_process_and_bad_counts_are_refused():
    seen = []
    wk.launch(lambda workers, tag: seen.append((workers, tag)), 1, 'here')
    assert seen == [(wk.SINGLE, 'here')]
    assert wk.SINGLE.main and wk.SINGLE.sum(2.5) == 2.5 and wk.SINGLE.gather('x') == ['x']
    assert wk.split_batch(16, 2) == 8
    with pytest.raises(ConfigError, match='not a multiple of the 3 workers'):
        wk.split_batch(16, 3)
    with pytest.raises(ConfigError, match='at least 1'):
        wk.launch(print, 0)


def test_two_worker_curriculum_run_trains_exports_and_resumes(tiny_model, qa_dataset, tmp_path,
                                                              capsys):
    import torch
    from transformers import AutoModelForImageTextToText

    from robot_r1_ros.training import curriculum

    data = {'name': 'learn-workers', 'model': {'path': str(tiny_model), 'image_pixels': 12544},
            'data': {'path': str(qa_dataset['path'])}, 'think': 'compare',
            'stages': [{'tasks': ['next_waypoint'], 'distractors': ['random'],
                        'cpu_minutes': 0.05, 'learning_rate': 3e-3}],
            'train': {'batch_size': 4, 'warmup_steps': 2, 'eval_every_cpu_s': 1e9,
                      'eval_rows_per_group': 2, 'seed': 0}}
    config = tmp_path / 'learn.yaml'
    config.write_text(yaml.safe_dump(data), encoding='utf-8')
    run = tmp_path / 'run'
    args = ['--config', str(config), '--out', str(run), '--workers', '2', '--log-level', 'WARNING']
    assert curriculum.main(args) == 0
    info = json.loads((run / 'run_info.json').read_text())
    assert info['workers'] == 2 and info['steps'] >= 2
    # The stage's budget is both workers' CPU: each worker spent part of it.
    assert info['cpu_minutes_total'] >= 0.05
    records = [json.loads(line) for line in (run / 'log.jsonl').open()]
    assert records[-1].get('final') and all(g['n'] > 0 for g in records[-1]['eval'].values())
    state = torch.load(run / 'resume' / 'state.pt', weights_only=False)
    assert len(state['worker_rngs']) == 2 and state['worker_rngs'][0] != state['worker_rngs'][1]
    before = AutoModelForImageTextToText.from_pretrained(tiny_model).state_dict()
    after = AutoModelForImageTextToText.from_pretrained(run / 'final').state_dict()
    assert any(not torch.equal(before[k], after[k]) for k in before)
    # The same command again finds the stage done: no new step.
    assert curriculum.main(args) == 0
    assert json.loads((run / 'run_info.json').read_text())['steps'] == info['steps']
    # A batch the workers cannot share is refused before any process starts.
    capsys.readouterr()
    assert curriculum.main(['--config', str(config), '--out', str(tmp_path / 'r3'),
                            '--workers', '3']) == 2
    assert 'not a multiple of the 3 workers' in capsys.readouterr().err
    assert not (tmp_path / 'r3').exists()


def _wait_long(workers: wk.Workers, out: str) -> None:
    """Say this worker's pid, then wait far longer than the test."""
    import os
    import time
    (Path(out) / f'pid{workers.rank}').write_text(str(os.getpid()))
    time.sleep(600)


def _gone(pid: int) -> bool:
    """No such process, or only its exit status left (a zombie nobody reaps here)."""
    try:
        state = Path(f'/proc/{pid}/stat').read_text().rsplit(')', 1)[1].split()[0]
    except FileNotFoundError:
        return True
    return state in ('Z', 'X')


def test_workers_end_when_the_launching_process_is_killed(tmp_path):
    """Session 29: a killed ``robot-r1 learn`` left its two workers training as orphans.

    It ran as ``nohup robot-r1 learn ... &`` from a script, and a background job of a
    non-interactive shell ignores SIGINT, the signal torch's spawn sends a worker when its
    parent dies; the parent here ignores it the same way."""
    import os
    import signal
    import subprocess
    import sys
    import time

    here = str(Path(__file__).resolve().parent)
    code = (f'import sys; sys.path.insert(0, {here!r}); import test_training_workers as t; '
            f'from robot_r1_ros.training import workers as wk; '
            f'wk.launch(t._wait_long, 2, {str(tmp_path)!r})')
    parent = subprocess.Popen([sys.executable, '-c', code],
                              preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
    pid_files = [tmp_path / 'pid0', tmp_path / 'pid1']
    deadline = time.monotonic() + 120
    while not all(f.is_file() and f.read_text() for f in pid_files):
        assert parent.poll() is None and time.monotonic() < deadline, 'workers did not start'
        time.sleep(0.2)
    pids = [int(f.read_text()) for f in pid_files]
    assert not any(_gone(pid) for pid in pids)
    parent.kill()  # SIGKILL: no handler of the parent's can stop its workers
    parent.wait(timeout=30)
    deadline = time.monotonic() + 30
    while not all(_gone(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.2)
    survivors = [pid for pid in pids if not _gone(pid)]
    for pid in survivors:  # leave no orphan behind a failure
        os.kill(pid, signal.SIGKILL)
    assert not survivors, f'workers {survivors} outlived their parent'
