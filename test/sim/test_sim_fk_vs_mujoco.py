"""The core's analytic Panda FK and the MuJoCo model agree on the TCP (same flange/TCP
convention on both sides), over 100 random joint configurations."""
from __future__ import annotations

import numpy as np

from robot_r1_ros.core.geometry import PANDA_JOINT_LIMITS_RAD, panda_fk
from robot_r1_ros.sim.ik import PandaKinematics
from robot_r1_ros.sim.scene import ARM_LOWER_RAD, ARM_UPPER_RAD, HOME_Q_RAD, PandaScene


def test_core_fk_matches_mujoco_tcp_within_1mm():
    kin = PandaKinematics()
    rng = np.random.default_rng(2024)
    lo, hi = np.array(PANDA_JOINT_LIMITS_RAD[0]), np.array(PANDA_JOINT_LIMITS_RAD[1])
    np.testing.assert_allclose(lo, ARM_LOWER_RAD, atol=1e-3)
    np.testing.assert_allclose(hi, ARM_UPPER_RAD, atol=1e-3)
    pos_err, rot_err = [], []
    for _ in range(100):
        q = rng.uniform(lo, hi)
        xyz_core, R_core = panda_fk(q)
        xyz_mj, R_mj = kin.fk_matrix(q)
        pos_err.append(np.linalg.norm(xyz_core - xyz_mj))
        rot_err.append(np.abs(R_core - R_mj).max())
    assert max(pos_err) < 1e-3, max(pos_err)
    assert max(rot_err) < 1e-3, max(rot_err)


def test_scene_tcp_equals_core_fk_of_measured_joints():
    """In the full physics scene too (the sim node's joint states feed the core's FK)."""
    with PandaScene() as scene:
        scene.set_arm_target(HOME_Q_RAD + 0.2)
        scene.step(40)
        xyz_core, _ = panda_fk(scene.arm_q())
        assert np.linalg.norm(xyz_core - scene.tcp_pose()[0]) < 1e-3
