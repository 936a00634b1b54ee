"""MoveIt 2 backend on moveit_py: the executor's side (MoveIt calls: :mod:`.moveit_session`).

By default MoveItPy lives in a child process (``moveit.planner_process``): ``plan()`` holds the
Python GIL while it plans, which in the executor's own process would freeze ``~/stop``, joint
states and ``executor_state`` for the planning time. The backend only sends goals and stop
requests down a pipe and reads results when polled, so :meth:`MoveItBackend.hold` returns at
once (it never joins a worker). With ``planner_process: false`` (or a MoveItPy handed in, as
the contract tests do) the same :class:`~.moveit_session.GoalLoop` runs on a thread here.

Every failure (moveit_py missing, MoveItPy refusing the config, planning, time
parameterisation, execution, the child dying) is a :class:`MotionError` or a FAILED progress
with the reason, which the node puts on ``executor_state``. See the README ("MoveIt 2
backend"); ``test/motion/test_motion_moveit_contract_fake.py`` checks the calls against a
recording fake of the moveit_py API, since moveit_py cannot be installed here.
"""
from __future__ import annotations

import importlib.util
import logging
import threading
from dataclasses import replace
from typing import Any

from robot_r1_ros.core.geometry import matrix_to_quat_wxyz, panda_fk
from robot_r1_ros.motion.backend import MotionBackend, MotionError
from robot_r1_ros.motion.moveit_session import (GoalLoop, MoveItBackendConfig, MoveItSession,
                                                load_moveit_config, process_main,
                                                tcp_goal_to_link_pose)
from robot_r1_ros.motion.types import JointStateSample, MotionGoal, MotionProgress, MotionState

__all__ = ['MoveItBackend', 'MoveItBackendConfig', 'load_moveit_config', 'tcp_goal_to_link_pose']
_LOG = logging.getLogger(__name__)


class _ProcessLink:
    """The MoveIt child process and the pipe to it."""

    def __init__(self, config: MoveItBackendConfig, moveit_config: dict | None) -> None:
        import multiprocessing

        ctx = multiprocessing.get_context('spawn')   # never fork a process running DDS
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=process_main, args=(child, config, moveit_config),
                                name='moveit', daemon=True)
        self.proc.start()
        child.close()
        if not self.conn.poll(config.connect_timeout_s):
            self.close()
            raise MotionError(f'MoveIt did not start within {config.connect_timeout_s:.0f} s')
        try:
            reply = self.conn.recv()
        except EOFError:
            code = self.proc.exitcode
            self.close()
            raise MotionError(f'MoveIt process exited while starting (exit code {code})') \
                from None
        if reply[0] != 'connected':
            self.close()
            raise MotionError(reply[1])

    def send(self, msg: tuple) -> None:
        try:
            self.conn.send(msg)
        except (OSError, ValueError):
            pass                                    # dead child: reported by results()

    def results(self) -> list[tuple]:
        """Messages waiting from the child; ('dead', code) once it has exited."""
        out = []
        try:
            while self.conn.poll(0):
                out.append(self.conn.recv())
        except (EOFError, OSError):
            pass
        if not self.proc.is_alive():
            out.append(('dead', self.proc.exitcode))
        return out

    def close(self) -> None:
        self.send(('close',))
        self.proc.join(timeout=2.0)
        if self.proc.is_alive():
            self.proc.terminate()
        self.conn.close()


class MoveItBackend(MotionBackend):
    """Plan and execute with MoveItPy, off the node's thread (see the module docstring).

    Args:
        config: Settings.
        moveit_config: Passed to ``MoveItPy(config_dict=...)``; None: ``config.config_file``,
            else the process's ``--params-file`` arguments (the launch route).
        robot: An already constructed MoveItPy (runs in this process).
    """

    name = 'moveit'

    def __init__(self, config: MoveItBackendConfig, moveit_config: dict | None = None,
                 robot: Any = None) -> None:
        self.cfg = config
        if moveit_config is None and config.config_file:
            moveit_config = load_moveit_config(config.config_file)
        self._moveit_config = moveit_config
        self._robot = robot
        self._in_process = robot is not None or not config.planner_process
        self._session: MoveItSession | None = None
        self._loop: GoalLoop | None = None
        self._link: _ProcessLink | None = None
        self._lock = threading.Lock()
        self._goal_id = 0
        self._state, self._reason = MotionState.IDLE, ''
        self._t_start = 0.0
        self._goal: MotionGoal | None = None
        self._joint_state: JointStateSample | None = None

    @property
    def last_plan_time_s(self) -> float:
        """Planning time of the last goal (in-process only)."""
        return self._session.last_plan_time_s if self._session is not None else 0.0

    # -- connection ---------------------------------------------------------------------------
    def connect(self) -> None:
        """Start MoveItPy (here or in the child process).

        Raises:
            MotionError: moveit_py missing or MoveIt refused to start (the reason).
        """
        if self._loop is not None or self._link is not None:
            return
        if self._in_process:
            session = MoveItSession(self.cfg, self._moveit_config, self._robot)
            session.connect()
            self._session = session
            self._loop = GoalLoop(session, self._on_result)
            return
        try:
            found = importlib.util.find_spec('moveit') is not None
        except (ImportError, ValueError):
            found = False
        if not found:   # say so at once instead of starting a process to find out
            MoveItSession(self.cfg, self._moveit_config).connect()
        self._link = _ProcessLink(self.cfg, self._moveit_config)

    def _on_result(self, goal_id: int, ok: bool, reason: str) -> None:
        with self._lock:
            if goal_id == self._goal_id and self._state is MotionState.MOVING:
                self._state = MotionState.REACHED if ok else MotionState.FAILED
                self._reason = reason

    # -- MotionBackend --------------------------------------------------------------------------
    def start(self, goal: MotionGoal, now_s: float) -> None:
        self.connect()
        if goal.quat_wxyz is None:          # a point target: keep the TCP's orientation
            goal = replace(goal, quat_wxyz=self._tcp_quat_wxyz())
        with self._lock:
            self._goal_id += 1
            goal_id = self._goal_id
            self._goal, self._t_start = goal, now_s
            self._state, self._reason = MotionState.MOVING, ''
        if self._loop is not None:
            self._loop.submit(goal_id, goal)
        else:
            self._link.send(('goal', goal_id, goal))

    def poll(self, now_s: float) -> MotionProgress:
        if self._link is not None:
            for msg in self._link.results():
                if msg[0] == 'done':
                    self._on_result(msg[1], msg[2], msg[3])
                elif msg[0] == 'dead':
                    code = msg[1]
                    self._link = None
                    with self._lock:
                        if self._state is MotionState.MOVING:
                            self._state = MotionState.FAILED
                            self._reason = f'MoveIt process exited (exit code {code})'
        with self._lock:
            return MotionProgress(self._state, self._reason,
                                  elapsed_s=now_s - self._t_start if self._goal else 0.0)

    def hold(self, now_s: float) -> None:
        with self._lock:
            self._goal_id += 1                     # a late result of the old goal is dropped
            self._goal = None
            self._state, self._reason = MotionState.IDLE, ''
        if self._loop is not None:
            self._loop.stop()
        elif self._link is not None:
            self._link.send(('stop',))

    def update_joint_state(self, sample: JointStateSample) -> None:
        self._joint_state = sample

    def _tcp_quat_wxyz(self) -> tuple[float, float, float, float] | None:
        q = self._joint_state.arm_q(self.cfg.arm_joints) if self._joint_state else None
        if q is None:
            return None                      # unknown: the session's top-down default
        return tuple(float(v) for v in matrix_to_quat_wxyz(panda_fk(q)[1]))

    def tcp_position(self) -> tuple[float, float, float] | None:
        # The core's numpy FK (Panda kinematics): no MoveIt round trip for the step check.
        if self._joint_state is None:
            return None
        q = self._joint_state.arm_q(self.cfg.arm_joints)
        if q is None:
            return None
        xyz, _ = panda_fk(q)
        return tuple(float(v) for v in xyz)

    def close(self) -> None:
        if self._loop is not None:
            self._loop.close()
            self._loop = None
        if self._link is not None:
            self._link.close()
            self._link = None
