"""Run bookkeeping shared by SFT and GRPO: checkpoints, resume, JSON-lines log, graceful stop.

Resume contract: a run folder holds ``checkpoint-N`` folders written by the Hugging Face Trainer
(model, optimizer, scheduler, RNG states, ``trainer_state.json`` written last). A run started
again on the same folder continues from the newest *complete* checkpoint at step N + 1, with the
same data order and RNG streams. The JSON-lines log (``log.jsonl``, one line per logged step) is
cut back to step N on resume, so it lists every step exactly once. SIGTERM / SIGINT make the
trainer save a checkpoint at the end of the current step and stop, so nothing is lost; after a
hard kill (SIGKILL, power loss) the steps since the last checkpoint are run again.
"""
from __future__ import annotations

import json
import logging
import os
import re
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

from transformers import TrainerCallback

from robot_r1_ros.core.paths import REPO_ROOT

_LOG = logging.getLogger(__name__)

LOG_NAME = 'log.jsonl'
RUN_INFO_NAME = 'run_info.json'
_CKPT_RE = re.compile(r'^checkpoint-(\d+)$')


def checkpoint_step(path: str | os.PathLike) -> int:
    """The step number of a ``checkpoint-N`` folder.

    Raises:
        ValueError: The folder name is not ``checkpoint-N``.
    """
    match = _CKPT_RE.match(Path(path).name)
    if match is None:
        raise ValueError(f'not a checkpoint folder name: {Path(path).name!r}')
    return int(match.group(1))


def is_complete_checkpoint(path: str | os.PathLike) -> bool:
    """True when the Trainer finished writing it (``trainer_state.json`` is written last)."""
    path = Path(path)
    if not (path / 'trainer_state.json').is_file():
        return False
    try:
        json.loads((path / 'trainer_state.json').read_text(encoding='utf-8'))
    except (OSError, ValueError):
        return False
    return any(path.glob('*.safetensors')) or any(path.glob('*.bin'))


def find_resumable_checkpoint(run_dir: str | os.PathLike) -> Path | None:
    """The newest complete ``checkpoint-N`` in ``run_dir``, or None.

    Incomplete folders (a kill during saving) are skipped with a warning.
    """
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        return None
    found = sorted((p for p in run_dir.iterdir() if p.is_dir() and _CKPT_RE.match(p.name)),
                   key=checkpoint_step, reverse=True)
    for path in found:
        if is_complete_checkpoint(path):
            return path
        _LOG.warning('skipping incomplete checkpoint %s', path)
    return None


def read_jsonl(path: str | os.PathLike) -> list[dict[str, Any]]:
    """All records of a JSON-lines file (a torn last line from a kill is skipped)."""
    path = Path(path)
    if not path.is_file():
        return []
    out = []
    for line in path.read_text(encoding='utf-8').splitlines():
        line = line.strip()
        if not line:
            continue
        try:
            out.append(json.loads(line))
        except ValueError:
            _LOG.warning('skipping a torn line in %s', path)
    return out


def truncate_jsonl(path: str | os.PathLike, max_step: int) -> int:
    """Keep the records with ``step <= max_step``; returns how many were dropped."""
    path = Path(path)
    records = read_jsonl(path)
    kept = [r for r in records if int(r.get('step', 0)) <= max_step]
    tmp = path.with_suffix('.tmp')
    tmp.write_text(''.join(json.dumps(r) + '\n' for r in kept), encoding='utf-8')
    os.replace(tmp, path)
    return len(records) - len(kept)


def _jsonable(value: Any) -> Any:
    if isinstance(value, (str, int, bool)) or value is None:
        return value
    if isinstance(value, float):
        return value if value == value and abs(value) != float('inf') else None
    try:
        return float(value)
    except (TypeError, ValueError):
        return str(value)


class JsonlLoggerCallback(TrainerCallback):
    """Appends every Trainer log (loss, rewards, lr, step time...) to ``<output_dir>/log.jsonl``.

    Each line is ``{"step": N, "epoch": e, "time_s": wall, "phase": "train", ...logs}``. On a
    resumed run the file is first cut back to the checkpoint's step.
    """

    def __init__(self, path: str | os.PathLike, phase: str = 'train') -> None:
        self.path = Path(path)
        self.phase = phase
        self._t0 = time.monotonic()

    def on_train_begin(self, args, state, control, **kwargs):  # noqa: D102
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.path.exists():
            dropped = truncate_jsonl(self.path, state.global_step)
            if dropped:
                _LOG.info('resume at step %d: dropped %d log lines of lost steps',
                          state.global_step, dropped)
        self._t0 = time.monotonic()

    def on_log(self, args, state, control, logs=None, **kwargs):  # noqa: D102
        if not state.is_world_process_zero or not logs:
            return
        record = {'step': state.global_step, 'epoch': _jsonable(state.epoch),
                  'time_s': round(time.monotonic() - self._t0, 3), 'phase': self.phase}
        record.update({k: _jsonable(v) for k, v in logs.items()})
        with self.path.open('a', encoding='utf-8') as f:
            f.write(json.dumps(record) + '\n')


class GracefulStopCallback(TrainerCallback):
    """SIGTERM / SIGINT: save a checkpoint at the end of the current step, then stop.

    A second signal falls through to the previous handler (SIGINT: KeyboardInterrupt).
    """

    def __init__(self, signals: tuple[int, ...] = (signal.SIGTERM, signal.SIGINT)) -> None:
        self.requested = False
        self._signals = signals
        self._previous: dict[int, Any] = {}

    def _handler(self, signum, frame):  # noqa: ANN001
        if self.requested:
            previous = self._previous.get(signum)
            if callable(previous):
                previous(signum, frame)
            raise KeyboardInterrupt
        _LOG.warning('signal %d: saving a checkpoint after this step, then stopping', signum)
        self.requested = True

    def on_train_begin(self, args, state, control, **kwargs):  # noqa: D102
        try:
            for sig in self._signals:
                self._previous[sig] = signal.signal(sig, self._handler)
        except ValueError:  # not the main thread: leave signals alone
            self._previous.clear()

    def on_step_end(self, args, state, control, **kwargs):  # noqa: D102
        if self.requested:
            control.should_save = True
            control.should_training_stop = True
        return control

    def on_train_end(self, args, state, control, **kwargs):  # noqa: D102
        for sig, previous in self._previous.items():
            signal.signal(sig, previous)
        self._previous.clear()


def git_commit(repo: str | os.PathLike | None = None) -> str:
    """The current commit of the repository (``+dirty`` when changed), or '' without git."""
    repo = Path(repo) if repo else REPO_ROOT
    try:
        commit = subprocess.run(['git', 'rev-parse', 'HEAD'], cwd=repo, capture_output=True,
                                text=True, timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(['git', 'status', '--porcelain', '--untracked-files=no'],
                               cwd=repo, capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return ''
    return commit + ('+dirty' if dirty.strip() else '')


def repo_relative_text(text: str) -> str:
    """``text`` with absolute paths inside this repository made relative to its root.

    Checkpoints and model cards are committed and shared: they must not carry the training
    machine's folders (e.g. the recipe's source path or ``sys.argv[0]``).
    """
    return text.replace(str(REPO_ROOT) + os.sep, '').replace(str(REPO_ROOT), '.')


def write_json(path: str | os.PathLike, data: Any) -> Path:
    """Write ``data`` as indented JSON atomically; returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + '.tmp')
    tmp.write_text(json.dumps(data, indent=2, default=str) + '\n', encoding='utf-8')
    os.replace(tmp, path)
    return path


def seed_everything(seed: int) -> None:
    """Seed python, numpy and torch (TRL's data order is seeded by its config)."""
    from transformers import set_seed
    set_seed(seed)
