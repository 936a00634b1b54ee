"""Data-parallel training over several single-thread processes on this machine (gloo, loopback).

Why: this project's training budgets are CPU-minutes on one thread per process (two torch threads
in one process are erratically slow here), so a 3 CPU-hour recipe takes 3 hours on one core. With
``workers`` processes, each draws its own ``batch_size / workers`` rows a step, the gradients are
averaged (one all-reduce of one flat buffer a step) and every process applies the same update, so
a step is the single-process step on the whole batch and the run takes about ``1 / workers`` of
the wall time for the same CPU-minutes (``bench/bench_workers.py`` measures both).

:class:`Workers` is the handle the training loop uses: with one worker (:data:`SINGLE`) every
collective is a no-op and the loop is the plain single-process one. :func:`launch` starts the
processes (``torch.multiprocessing`` spawn), each with its own rank, and joins them; a failure in
one stops the others, and the workers end when the launching process dies.
"""
from __future__ import annotations

import datetime
import logging
import os
import signal
import socket
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable

from robot_r1_ros.core.errors import ConfigError

_LOG = logging.getLogger(__name__)
# A worker can wait this long on the others (the main worker's quick evaluations, its resume
# point writes); longer means one of them hangs.
_COLLECTIVE_TIMEOUT = datetime.timedelta(minutes=60)


@dataclass(frozen=True)
class Workers:
    """One process's place among the run's workers.

    Attributes:
        rank: This process's index (0 is the main worker: it logs, evaluates and writes).
        world: How many processes train together.
    """

    rank: int = 0
    world: int = 1

    @property
    def main(self) -> bool:
        """True on the worker that logs, evaluates and writes files."""
        return self.rank == 0

    def per_worker(self, batch_size: int) -> int:
        """The rows each worker draws a step for a global ``batch_size``.

        Raises:
            ConfigError: ``batch_size`` is not a multiple of the worker count.
        """
        return split_batch(batch_size, self.world)

    def sum(self, value: float) -> float:
        """``value`` summed over the workers (every worker gets the same result)."""
        if self.world == 1:
            return float(value)
        import torch
        import torch.distributed as dist
        t = torch.tensor([float(value)], dtype=torch.float64)
        dist.all_reduce(t)
        return float(t.item())

    def average_gradients(self, params: Iterable[Any]) -> None:
        """Replace each parameter's gradient by its mean over the workers.

        A parameter without a gradient on one worker counts as zero there; one without a
        gradient on every worker keeps none (the optimizer then skips it, as alone)."""
        if self.world == 1:
            return
        import torch
        import torch.distributed as dist
        params = list(params)
        flat = torch.cat([(p.grad if p.grad is not None else torch.zeros_like(p)).reshape(-1)
                          .to(torch.float32) for p in params])
        dist.all_reduce(flat)
        flat /= self.world
        offset = 0
        for p in params:
            part = flat[offset:offset + p.numel()].view_as(p).to(p.dtype)
            offset += p.numel()
            if p.grad is not None:
                p.grad.copy_(part)
            elif bool(part.any()):
                p.grad = part.clone()

    def broadcast(self, params: Iterable[Any]) -> None:
        """Copy the main worker's parameter values to every worker."""
        if self.world == 1:
            return
        import torch
        import torch.distributed as dist
        with torch.no_grad():
            for p in params:
                dist.broadcast(p.data, src=0)

    def gather(self, obj: Any) -> list[Any]:
        """Every worker's ``obj``, by rank (on every worker)."""
        if self.world == 1:
            return [obj]
        import torch.distributed as dist
        out: list[Any] = [None] * self.world
        dist.all_gather_object(out, obj)
        return out

    def exchange(self, obj: Any, folder: Path | None) -> list[Any]:
        """Every worker's ``obj``, by rank (on every worker), through files in ``folder``.

        For objects too big for one collective message (each worker's share of the encoded
        training rows: about 1.4 GB; ``gather`` pickles into tensors and would hold several
        copies at once): each worker writes its own once and reads the others'. ``folder`` is
        removed afterwards (one worker needs none)."""
        if self.world == 1:
            return [obj]
        if folder is None:
            raise ValueError('several workers exchange through a folder (exchange_dir)')
        import shutil

        import torch
        import torch.distributed as dist
        folder.mkdir(parents=True, exist_ok=True)
        torch.save(obj, folder / f'part{self.rank}.pt')
        dist.barrier()
        out = [obj if rank == self.rank else torch.load(folder / f'part{rank}.pt',
                                                        weights_only=False)
               for rank in range(self.world)]
        dist.barrier()  # every worker has read every part
        if self.main:
            shutil.rmtree(folder, ignore_errors=True)
        return out


#: The handle of a run in one process.
SINGLE = Workers()


def split_batch(batch_size: int, world: int) -> int:
    """``batch_size / world`` rows per worker.

    Raises:
        ConfigError: ``world`` < 1 or ``batch_size`` not a multiple of it.
    """
    if world < 1:
        raise ConfigError(f'workers must be at least 1, got {world}', 'workers')
    if batch_size % world:
        raise ConfigError(f'train.batch_size {batch_size} is not a multiple of the {world} '
                          'workers (each draws the same share of a step\'s batch)', 'workers')
    return batch_size // world


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(('127.0.0.1', 0))
        return int(s.getsockname()[1])


def _exit_with_parent(parent_pid: int) -> None:
    """End this worker when the process that launched it dies (Linux: the parent-death signal).

    Why: killing a ``robot-r1 learn`` process left its two workers training on as orphans for
    18 minutes beside the next run (session 29). Its resume point stays valid: the workers write
    it atomically.
    """
    if sys.platform.startswith('linux'):
        import ctypes
        pr_set_pdeathsig = 1  # <linux/prctl.h>
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, int(signal.SIGTERM))
    if os.getppid() != parent_pid:  # the parent died before the signal was armed
        os._exit(1)


def _entry(rank: int, world: int, port: int, threads: int, log_level: str,
           target: Callable[..., Any], args: tuple, parent_pid: int | None = None) -> None:
    """One worker process: loopback gloo group, one torch thread, then ``target``."""
    if parent_pid is not None:
        _exit_with_parent(parent_pid)
    os.environ.setdefault('GLOO_SOCKET_IFNAME', 'lo')  # nothing leaves this machine
    logging.basicConfig(level=log_level.upper() if rank == 0 else logging.WARNING,
                        format=f'%(asctime)s %(levelname)s [worker {rank}] %(name)s: '
                               '%(message)s')
    import torch
    import torch.distributed as dist
    torch.set_num_threads(threads)
    # The store is made here, not from an init_method, so the teardown below can use it.
    store = dist.TCPStore('127.0.0.1', port, world, is_master=rank == 0,
                          timeout=_COLLECTIVE_TIMEOUT)
    dist.init_process_group('gloo', store=store, rank=rank, world_size=world,
                            timeout=_COLLECTIVE_TIMEOUT)
    target(Workers(rank, world), *args)
    # After a failure the group is left alone: ``launch`` stops the other workers.
    _leave_group(dist, store, rank, world)
    # Why: the abort ("terminate called without an active exception") came back once more in a
    # CI run under load (session 38) after both handshakes above, so it can come from the
    # interpreter's own teardown of torch's C++ objects. Everything a worker makes is on disk by
    # now (``target`` writes its files): end without that teardown.
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def _leave_group(dist: Any, store: Any, rank: int, world: int) -> None:
    """Tear the gloo group down once no worker has a collective in flight, and the store (held
    by rank 0) once no other worker uses it.

    Why each step: a worker that destroyed the group while another still finished the last
    collective aborted ("terminate called without an active exception": 2 of 8 runs). With a
    ``barrier`` first it still did once, in a CI run under load (not in 56 reruns): the barrier
    may return on one worker while the other's part of it is not over. A key each worker sets
    in the store once its barrier returned, read by every worker, says every worker is out.
    """
    dist.barrier()
    store.set(f'out_of_barrier/{rank}', '1')
    store.wait([f'out_of_barrier/{r}' for r in range(world)])
    dist.destroy_process_group()
    if rank != 0:
        store.set(f'left/{rank}', '1')  # this worker's last use of the store
    else:
        store.wait([f'left/{r}' for r in range(1, world)])


def launch(target: Callable[..., Any], world: int, *args: Any, threads: int = 1,
           log_level: str = 'INFO') -> None:
    """Run ``target(workers, *args)`` in ``world`` processes and wait for all of them.

    ``target`` must be a module-level function (the processes are spawned, not forked: torch and
    MuJoCo state is not shared). With ``world`` 1 it runs here, in this process.

    Raises:
        ConfigError: ``world`` < 1.
        torch.multiprocessing.ProcessRaisedException: A worker raised (its traceback inside).
    """
    if world < 1:
        raise ConfigError(f'workers must be at least 1, got {world}', 'workers')
    if world == 1:
        target(SINGLE, *args)
        return
    import torch.multiprocessing as mp
    port = _free_port()
    _LOG.info('starting %d workers (gloo on 127.0.0.1:%d, %d thread each)', world, port, threads)
    mp.spawn(_entry, args=(world, port, threads, log_level, target, args, os.getpid()),
             nprocs=world, join=True)


def seed_worker_rngs(workers: Workers, seed: int, step: int,
                     saved: list[Any] | None = None) -> None:
    """Give each worker its own ``random`` / numpy / torch streams (rank 0 keeps the ones it has:
    a one-worker run's).

    ``saved``: the workers' states from a resume point (by rank); used when it holds one per
    worker, otherwise the other workers start fresh streams from ``seed``, ``step`` and rank.
    """
    import random

    import numpy as np
    import torch
    if saved and len(saved) == workers.world:
        py_state, np_state, torch_state = saved[workers.rank]
        random.setstate(py_state)
        np.random.set_state(np_state)
        torch.set_rng_state(torch_state)
        return
    if saved:
        _LOG.warning('the resume point was written by %d workers, this run has %d: the other '
                     'workers draw new batch streams', len(saved), workers.world)
    if workers.rank:
        random.seed(f'{seed}/{step}/worker{workers.rank}')
        np.random.seed((seed + 1009 * workers.rank + step) % 2**32)
        torch.manual_seed(seed + 1009 * workers.rank + step)
