"""The motion layer plans without the simulator: in a child process where mujoco,
dm-robotics-panda and ``robot_r1_ros.sim`` cannot be imported (``test/peers/no_sim.py``), every
``motion`` module imports and the direct backend plans, times and follows a goal with the core's
numpy kinematics. (``test/ros/test_executor_node.py`` runs the whole executor node that way.)"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PEERS = REPO / 'test' / 'peers'

_CHILD = r'''
import importlib, json, pkgutil, sys
sys.path.insert(0, sys.argv[1])
from no_sim import block_simulator
block_simulator()
import numpy as np
import robot_r1_ros.motion as motion
for info in pkgutil.iter_modules(motion.__path__):
    importlib.import_module(f'robot_r1_ros.motion.{info.name}')
from robot_r1_ros.core.kinematics import top_down_quat
from robot_r1_ros.core.types import GripperState
from robot_r1_ros.motion.direct import DirectBackend, DirectBackendConfig
from robot_r1_ros.motion.types import JointStateSample, MotionGoal, MotionState
sent = []
backend = DirectBackend(DirectBackendConfig(), sent.append, lambda cmd: None)
names = backend.cfg.arm_joints
q = np.array(backend.robot.home_q_rad)
backend.update_joint_state(JointStateSample(dict(zip(names, q)), {}, 0.0))
target = np.array([0.45, 0.15, 0.25])
backend.start(MotionGoal(tuple(target), GripperState.OPEN, tuple(top_down_quat(0.3))), 0.0)
traj = sent[-1]
q_end = np.array(traj.positions_rad[-1])
t_end = traj.time_from_start_s[-1]
# a perfectly tracking robot: at the end of the trajectory the joints are there
state = None
for t in (t_end + 0.1, t_end + 0.2, t_end + 0.3, t_end + 1.5, t_end + 2.5):
    backend.update_joint_state(JointStateSample(dict(zip(names, q_end)),
                                                dict.fromkeys(names, 0.0), t))
    state = backend.poll(t).state
xyz, _ = backend.fk(q_end)
blocked = [m for m in sys.modules if m.split('.')[0] in ('mujoco', 'dm_robotics')
           or m.startswith('robot_r1_ros.sim')]
print(json.dumps({'err_m': float(np.linalg.norm(xyz - target)), 'points': len(traj.positions_rad),
                  'state': state.name, 'loaded': blocked}))
'''


def test_direct_backend_plans_and_arrives_without_mujoco():
    proc = subprocess.run([sys.executable, '-c', _CHILD, str(PEERS)], cwd=REPO,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out['loaded'] == []
    assert out['err_m'] < 0.002 and out['points'] > 2
    assert out['state'] == 'REACHED'  # arm arrived, then the gripper's time passed


def test_the_blocker_really_blocks():
    code = (f'import sys; sys.path.insert(0, {str(PEERS)!r}); from no_sim import block_simulator;'
            ' block_simulator(); import mujoco')
    proc = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode != 0 and 'blocked: no simulator' in proc.stderr
