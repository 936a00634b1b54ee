"""``robot-r1 bringup franka``: start the nodes as ``franka.launch.py`` does, without launch.

For pip-only installs (launch_ros and ros2cli cannot be installed): starts the same node
executables (``lib/robot_r1_ros/<node>``), with the same parameters file, overrides and
remappings, both derived from :func:`robot_r1_ros.ros.system.describe_system`. Each node's output
is printed with a ``[name]`` prefix; Ctrl-C (SIGINT) or SIGTERM is forwarded to every node, which
are then given ``--sigterm-timeout-s`` to exit before SIGTERM and SIGKILL (launch's escalation).
If a node dies, the others are stopped and the command exits 1; a clean shutdown exits 0.

Usage (launch-style ``name:=value`` arguments work too)::

    robot-r1 bringup franka [--params-file F] [--namespace robot_r1] [--model M]
                            [--backend direct|moveit] [--use-sim true|false] [--print]
    robot-r1 bringup franka use_sim:=false backend:=moveit
"""
from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence, TextIO

from robot_r1_ros.core.errors import ConfigError
from robot_r1_ros.ros.system import (LAUNCH_ARGUMENTS, PACKAGE, STOP_TIMEOUT_S,
                                     NodeDescription, describe_system)

SYSTEMS = ('franka',)


def _nest(flat: Mapping[str, Any]) -> dict[str, Any]:
    """``{'model.id': x}`` -> ``{'model': {'id': x}}`` (the YAML form of dotted names)."""
    out: dict[str, Any] = {}
    for key, value in flat.items():
        *parents, leaf = key.split('.')
        cur = out
        for part in parents:
            cur = cur.setdefault(part, {})
        cur[leaf] = value
    return out


def installed_executable(name: str) -> str | None:
    """``<prefix>/lib/robot_r1_ros/<name>`` of the built package, or None."""
    try:
        from ament_index_python.packages import PackageNotFoundError, get_package_prefix
    except ImportError:
        return None
    try:
        path = Path(get_package_prefix(PACKAGE)) / 'lib' / PACKAGE / name
    except PackageNotFoundError:
        return None
    return str(path) if path.is_file() else None


@dataclass(frozen=True)
class ProcessPlan:
    """How one node is started."""

    node: NodeDescription
    cmd: tuple[str, ...]
    overrides_file: str | None


def ros_arguments(node: NodeDescription, overrides_file: str | None) -> list[str]:
    """``--ros-args`` part of the command line, as launch_ros builds it for a ``Node``."""
    args = ['--ros-args', '-r', f'__node:={node.name}']
    if node.namespace:
        args += ['-r', f'__ns:=/{node.namespace.strip("/")}']
    args += ['--params-file', node.params_file]
    if overrides_file:
        args += ['--params-file', overrides_file]
    for src, dst in node.remappings:
        args += ['-r', f'{src}:={dst}']
    return args


def plan_processes(nodes: Sequence[NodeDescription], workdir: str,
                   extra_overrides: Mapping[str, Mapping[str, Any]] | None = None
                   ) -> list[ProcessPlan]:
    """Command lines for ``nodes``; overrides go to YAML files in ``workdir`` (as launch does).

    Args:
        nodes: From :func:`describe_system`.
        workdir: Folder for the override files.
        extra_overrides: Node name -> more parameters on top (the demo uses this).
    """
    import yaml

    plans = []
    for node in nodes:
        overrides = {**node.overrides, **(extra_overrides or {}).get(node.name, {})}
        if overrides != dict(node.overrides):
            node = NodeDescription(node.name, node.executable, node.module, node.namespace,
                                   node.params_file, overrides, node.remappings)
        path = None
        if overrides:
            path = str(Path(workdir) / f'{node.name}_overrides.yaml')
            Path(path).write_text(yaml.safe_dump(
                {node.fully_qualified_name: {'ros__parameters': _nest(overrides)}}))
        exe = installed_executable(node.executable)
        # Same interpreter as this command (the venv), same file `ros2 run` would start.
        base = [sys.executable, exe] if exe else [sys.executable, '-m', node.module]
        plans.append(ProcessPlan(node, tuple(base + ros_arguments(node, path)), path))
    return plans


class Supervisor:
    """Runs node processes: prefixed logs, signal forwarding, ordered shutdown.

    Args:
        plans: What to start, in order.
        out: Where prefixed output goes.
        env: Environment of the children (default: this process's).
        sigterm_timeout_s: Time after SIGINT before SIGTERM, and after SIGTERM before SIGKILL.
        log_dir: If given, each node's output is also written to ``<log_dir>/<name>.log``.
        echo: Print the nodes' output (the demo prints only its own lines).
    """

    def __init__(self, plans: Sequence[ProcessPlan], out: TextIO = sys.stdout,
                 env: Mapping[str, str] | None = None, sigterm_timeout_s: float = 5.0,
                 log_dir: str | None = None, echo: bool = True) -> None:
        self.plans = list(plans)
        self.out = out
        self.env = dict(os.environ if env is None else env)
        self.env.setdefault('PYTHONUNBUFFERED', '1')
        self.sigterm_timeout_s = sigterm_timeout_s
        self.log_dir = log_dir
        self.echo = echo
        self.procs: dict[str, subprocess.Popen] = {}
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self.stopping = threading.Event()
        self.failed: list[str] = []
        self._width = max((len(p.node.name) for p in self.plans), default=8)
        self.on_line: Callable[[str, str], None] | None = None

    def say(self, name: str, line: str) -> None:
        """Print one line with the ``[name]`` prefix."""
        with self._lock:
            self.out.write(f'[{name:<{self._width}}] {line.rstrip()}\n')
            self.out.flush()

    def _pump(self, name: str, proc: subprocess.Popen) -> None:
        path = Path(self.log_dir) / f'{name}.log' if self.log_dir else None
        log = open(path, 'w') if path is not None else None  # noqa: SIM115 (closed below)
        try:
            for raw in iter(proc.stdout.readline, b''):
                line = raw.decode('utf-8', 'replace')
                if log is not None:
                    log.write(line)
                    log.flush()
                if self.echo:
                    self.say(name, line)
                if self.on_line is not None:
                    self.on_line(name, line)
        finally:
            if log is not None:
                log.close()

    def start(self) -> None:
        """Start every process (each in its own session: signals come from here only)."""
        if self.log_dir:
            Path(self.log_dir).mkdir(parents=True, exist_ok=True)
        for plan in self.plans:
            name = plan.node.name
            proc = subprocess.Popen(plan.cmd, env=self.env, stdout=subprocess.PIPE,
                                    stderr=subprocess.STDOUT, start_new_session=True)
            self.procs[name] = proc
            self.say('bringup', f'started {name} (pid {proc.pid}): {" ".join(plan.cmd)}')
            thread = threading.Thread(target=self._pump, args=(name, proc), daemon=True)
            thread.start()
            self._threads.append(thread)

    def dead(self) -> list[tuple[str, int]]:
        """Processes that have exited: (name, return code)."""
        return [(n, p.returncode) for n, p in self.procs.items() if p.poll() is not None]

    def wait(self, poll_s: float = 0.1, until: Callable[[], bool] | None = None) -> bool:
        """Block until a stop request, ``until()``, or a node exiting on its own.

        Returns:
            True when a node died (it is recorded in :attr:`failed`).
        """
        while not self.stopping.is_set():
            died = self.dead()
            if died:
                for name, code in died:
                    self.say('bringup', f'{name} exited unexpectedly with code {code}')
                    self.failed.append(name)
                return True
            if until is not None and until():
                return False
            time.sleep(poll_s)
        return False

    def shutdown(self) -> bool:
        """SIGINT all (reverse start order), then SIGTERM, then SIGKILL after the timeouts.

        Returns:
            True when every process exited by itself after SIGINT with code 0.
        """
        self.stopping.set()
        clean = True
        alive = [(n, p) for n, p in reversed(list(self.procs.items())) if p.poll() is None]
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGKILL):
            if not alive:
                break
            if sig is not signal.SIGINT:
                clean = False
                self.say('bringup', f'sending {sig.name} to {", ".join(n for n, _ in alive)}')
            for _, proc in alive:
                try:
                    proc.send_signal(sig)
                except ProcessLookupError:
                    pass
            deadline = time.monotonic() + self.sigterm_timeout_s
            while time.monotonic() < deadline and any(p.poll() is None for _, p in alive):
                time.sleep(0.05)
            alive = [(n, p) for n, p in alive if p.poll() is None]
        for name, proc in self.procs.items():
            proc.wait()
            if name not in self.failed and proc.returncode != 0:
                clean = False
                self.say('bringup', f'{name} exited with code {proc.returncode} on shutdown')
        for thread in self._threads:
            thread.join(timeout=2.0)
        return clean


def _parse(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog='robot-r1 bringup', description='Start the robot_r1 nodes as franka.launch.py '
        'does, without launch (pip-only installs). Ctrl-C stops them.')
    parser.add_argument('system', choices=SYSTEMS, help='which system (franka.launch.py)')
    for arg in LAUNCH_ARGUMENTS:
        # choices are checked case-insensitively by describe_system (as for launch)
        choices = f'; one of: {", ".join(arg.choices)}' if arg.choices else ''
        parser.add_argument(f'--{arg.name.replace("_", "-")}', dest=arg.name, default=None,
                            help=f'{arg.description} (default: {arg.default or "see text"}'
                                 f'{choices})')
    parser.add_argument('--print', action='store_true',
                        help='print the commands and exit without starting anything')
    parser.add_argument('--sigterm-timeout-s', type=float, default=STOP_TIMEOUT_S,
                        help='seconds between SIGINT, SIGTERM and SIGKILL on shutdown')
    parser.add_argument('--log-dir', default=None, help='also write <node>.log files here')
    # launch-style name:=value arguments
    plain, assigned = [], {}
    for item in argv:
        if ':=' in item and not item.startswith('-'):
            key, value = item.split(':=', 1)
            assigned[key] = value
        else:
            plain.append(item)
    args = parser.parse_args(plain)
    known = {a.name for a in LAUNCH_ARGUMENTS}
    for key, value in assigned.items():
        if key not in known:
            parser.error(f'unknown argument {key}:= (expected {", ".join(sorted(known))})')
        setattr(args, key, value)
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """``robot-r1 bringup franka [...]``; returns 0 after a clean Ctrl-C, 1 if a node died."""
    args = _parse(list(sys.argv[1:] if argv is None else argv))
    values = {a.name: getattr(args, a.name) for a in LAUNCH_ARGUMENTS
              if getattr(args, a.name) is not None}
    try:
        nodes = describe_system(**values)
    except ConfigError as exc:
        sys.stderr.write(f'robot-r1 bringup: {exc}\n')
        return 2
    missing = [n.params_file for n in nodes if not Path(n.params_file).is_file()]
    if missing:
        sys.stderr.write(f'robot-r1 bringup: parameters file not found: {missing[0]}\n')
        return 2
    with tempfile.TemporaryDirectory(prefix='robot_r1_bringup_') as workdir:
        plans = plan_processes(nodes, workdir)
        if args.print:
            for plan in plans:
                sys.stdout.write(' '.join(plan.cmd) + '\n')
                if plan.overrides_file:
                    sys.stdout.write(Path(plan.overrides_file).read_text())
            return 0
        sup = Supervisor(plans, sigterm_timeout_s=args.sigterm_timeout_s, log_dir=args.log_dir)

        def on_signal(signum: int, frame: Any) -> None:
            sup.say('bringup', f'{signal.Signals(signum).name}: stopping all nodes')
            sup.stopping.set()

        previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            sup.start()
            died = sup.wait()
        finally:
            clean = sup.shutdown()
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        if died:
            sup.say('bringup', f'failed: {", ".join(sup.failed)} died; all nodes stopped')
            return 1
        sup.say('bringup', 'all nodes stopped' + ('' if clean else ' (not all cleanly)'))
        return 0 if clean else 1


if __name__ == '__main__':
    sys.exit(main())
