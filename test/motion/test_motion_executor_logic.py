"""GoalExecutor (the executor node's logic) with the real direct backend and MuJoCo scene."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from robot_r1_ros.core.status import GripperCommand, PredictionStatus
from robot_r1_ros.core.errors import ConfigError
from robot_r1_ros.core.geometry import Workspace
from robot_r1_ros.motion.direct import DirectBackend, DirectBackendConfig
from robot_r1_ros.motion.executor import ExecState, ExecutionConfig, GoalExecutor
from robot_r1_ros.motion.validation import PredictionInput, ValidationConfig

sys.path.insert(0, str(Path(__file__).resolve().parent))
from scene_robot import SceneRobot  # noqa: E402

WS = Workspace((0.15, -0.5, 0.0), (0.8, 0.5, 0.7))


@pytest.fixture(scope='module')
def robot() -> SceneRobot:
    return SceneRobot()


@pytest.fixture
def make(robot):
    def build(**cfg):
        robot.scene.reset_home()
        robot.plan, robot.frozen = None, False
        robot.trajectories.clear()
        robot.gripper_cmds.clear()
        backend = DirectBackend(DirectBackendConfig(), robot.on_trajectory, robot.on_gripper)
        backend.update_joint_state(robot.joint_state())
        changes = []
        ex = GoalExecutor(backend, WS, ExecutionConfig(**cfg), on_change=changes.append)
        return ex, backend, changes
    return build


def pred(robot: SceneRobot, xyz, gripper: int = GripperCommand.OPEN, **changes
         ) -> PredictionInput:
    w, x, y, z = robot.scene.tcp_pose()[1]
    base = dict(status=PredictionStatus.OK, frame_id='panda_link0', stamp_s=robot.now_s,
                xyz_base_m=tuple(xyz),
                quat_xyzw=(x, y, z, w), gripper_command=gripper)
    base.update(changes)
    return PredictionInput(**base)


def run(robot, ex, backend, max_s=15.0):
    end = robot.now_s + max_s
    while robot.now_s < end:
        robot.step()
        backend.update_joint_state(robot.joint_state())
        ex.tick(robot.now_s)
        if not ex.busy:
            return


def test_executor_logic_executes_and_counts(robot, make):
    ex, backend, changes = make()
    assert ex.submit(pred(robot, (0.5, 0.1, 0.2), gripper=GripperCommand.CLOSED),
                     robot.now_s) is None
    assert ex.state is ExecState.MOVING
    run(robot, ex, backend)
    assert ex.state is ExecState.REACHED
    snap = ex.snapshot()
    assert (snap.received, snap.executed, snap.rejected, snap.reached) == (1, 1, 0, 1)
    assert [s.state for s in changes] == [ExecState.MOVING, ExecState.REACHED]
    assert np.linalg.norm(robot.tcp() - [0.5, 0.1, 0.2]) < 0.005


def test_executor_logic_rejection_during_motion_does_not_interrupt(robot, make):
    ex, backend, _ = make()
    ex.submit(pred(robot, (0.5, 0.1, 0.2)), robot.now_s)
    rejection = ex.submit(pred(robot, (0.5, 0.1, 0.2), status=PredictionStatus.FORMAT_ERROR),
                          robot.now_s)
    assert rejection.code.value == 'status_not_ok'
    assert ex.state is ExecState.MOVING
    run(robot, ex, backend)
    assert ex.state is ExecState.REACHED and ex.snapshot().rejected == 1


def test_executor_logic_wait_policy_revalidates_the_waiting_goal(robot, make):
    ex, backend, _ = make(on_new_goal='wait',
                          validation=ValidationConfig(max_age_s=1.0))
    ex.submit(pred(robot, (0.6, -0.2, 0.15)), robot.now_s)
    ex.submit(pred(robot, (0.5, 0.0, 0.3)), robot.now_s)     # waits; goes stale meanwhile
    ex.submit(pred(robot, (0.45, 0.1, 0.3)), robot.now_s)    # supersedes the waiting one
    assert ex.superseded == 1 and len(robot.trajectories) == 1
    run(robot, ex, backend)
    # The first goal took more than 1 s: the waiting prediction is now stale and is rejected.
    assert ex.state is ExecState.REJECTED and ex.reason.startswith('stale')
    assert len(robot.trajectories) == 1


def test_executor_logic_wait_policy_runs_a_fresh_waiting_goal(robot, make):
    ex, backend, changes = make(on_new_goal='wait')
    ex.submit(pred(robot, (0.5, -0.1, 0.25)), robot.now_s)
    ex.submit(pred(robot, (0.45, 0.1, 0.3)), robot.now_s)
    assert len(robot.trajectories) == 1
    run(robot, ex, backend)     # the waiting goal starts as soon as the first one is reached
    assert [c.state for c in changes] == [ExecState.MOVING, ExecState.MOVING, ExecState.REACHED,
                                          ExecState.MOVING, ExecState.REACHED]
    assert ex.reached == 2 and len(robot.trajectories) == 2
    assert np.linalg.norm(robot.tcp() - [0.45, 0.1, 0.3]) < 0.005


def test_executor_logic_dry_run_never_commands(robot, make):
    ex, backend, _ = make(dry_run=True)
    assert ex.submit(pred(robot, (0.5, 0.1, 0.2)), robot.now_s) is None
    assert ex.state is ExecState.REACHED and 'dry run' in ex.reason
    assert ex.snapshot().executed == 0
    ex.stop(robot.now_s)
    assert robot.trajectories == [] and robot.gripper_cmds == []


def test_executor_logic_dry_run_toggle_is_reported_at_once(robot, make):
    ex, backend, changes = make()
    # Every prediction rejected: the toggle must still show, not wait for a valid one.
    assert ex.submit(pred(robot, (71.4, 0.0, 0.2)), robot.now_s) is not None
    ex.reconfigure(WS, ExecutionConfig(dry_run=True), robot.now_s)
    assert changes[-1].reason == 'dry run set: predictions are validated, not executed'
    n = len(changes)
    ex.reconfigure(WS, ExecutionConfig(dry_run=True), robot.now_s)   # unchanged: no report
    assert len(changes) == n
    ex.reconfigure(WS, ExecutionConfig(), robot.now_s)
    assert changes[-1].reason == 'dry run cleared: predictions are executed'


def test_executor_logic_dry_run_during_motion_holds(robot, make):
    ex, backend, changes = make()
    ex.submit(pred(robot, (0.6, -0.2, 0.15)), robot.now_s)
    robot.step(20)
    backend.update_joint_state(robot.joint_state())
    assert ex.busy
    ex.reconfigure(WS, ExecutionConfig(dry_run=True), robot.now_s)
    assert not ex.busy and changes[-1].state is ExecState.IDLE
    assert 'dry run set: motion held' in changes[-1].reason


def test_executor_logic_start_failure_is_reported(robot, make):
    ex, backend, _ = make(validation=ValidationConfig(max_step_m=2.0))
    # Inside the workspace box but beyond the arm's reach from this side: IK fails.
    ex.submit(pred(robot, (0.8, 0.5, 0.0)), robot.now_s)
    assert ex.state is ExecState.FAILED and 'IK failed' in ex.reason
    assert ex.snapshot().failed == 1 and robot.trajectories == []


def test_executor_logic_stop_and_resume(robot, make):
    ex, backend, _ = make()
    ex.submit(pred(robot, (0.6, -0.2, 0.15)), robot.now_s)
    robot.step(20)
    backend.update_joint_state(robot.joint_state())
    ex.stop(robot.now_s)
    assert ex.state is ExecState.IDLE and ex.reason == 'stopped'
    assert ex.submit(pred(robot, (0.5, 0.0, 0.3)), robot.now_s).code.value == 'stopped'
    ex.resume()
    assert ex.submit(pred(robot, (0.5, 0.0, 0.3)), robot.now_s) is None


def test_execution_config_rejects_unknown_policy():
    with pytest.raises(ConfigError) as info:
        ExecutionConfig(on_new_goal='later')
    assert info.value.field == 'on_new_goal'


def test_executor_logic_before_the_clock_starts_rejects_as_not_ready(robot, make):
    # Sim time before the first /clock: counted as not ready (never "in the future"), nothing
    # moves, and the next prediction on a running clock executes.
    ex, backend, _ = make()
    rejection = ex.submit(pred(robot, (0.5, 0.1, 0.2)), 0.0, clock_running=False)
    assert rejection.code.value == 'not_ready' and not ex.busy
    snap = ex.snapshot()
    assert (snap.received, snap.rejected, snap.executed) == (1, 1, 0)
    assert snap.rejections['not_ready'] == 1 and snap.reason.startswith('not_ready: ')
    assert ex.submit(pred(robot, (0.5, 0.1, 0.2)), robot.now_s) is None and ex.busy
