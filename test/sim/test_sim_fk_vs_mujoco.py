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


def test_core_ik_solutions_reach_the_target_in_mujoco():
    """The core's numpy IK (what the executor plans with) against the MuJoCo model: every
    solution places the MuJoCo TCP on the target within 1 mm / 0.02 rad, and its Jacobian
    matches MuJoCo's."""
    from robot_r1_ros.core.geometry import quat_wxyz_to_matrix
    from robot_r1_ros.core.kinematics import Kinematics, solve_ik, top_down_quat

    kin_mj, kin = PandaKinematics(), Kinematics()
    rng = np.random.default_rng(7)
    solved = 0
    for _ in range(40):
        target = rng.uniform([0.3, -0.35, 0.05], [0.7, 0.35, 0.45])
        quat = top_down_quat(rng.uniform(-1.0, 1.0))
        q = solve_ik(kin, target, quat, HOME_Q_RAD)
        xyz_mj, R_mj = kin_mj.fk_matrix(q)
        assert np.linalg.norm(xyz_mj - target) < 1e-3
        R_err = quat_wxyz_to_matrix(quat).T @ R_mj
        assert np.arccos(np.clip((np.trace(R_err) - 1) / 2, -1, 1)) < 0.02
        solved += 1
    assert solved == 40
    # Same IK on both sides: the numpy and MuJoCo solvers land on the same configuration.
    for target in ([0.5, 0.1, 0.2], [0.4, -0.2, 0.35]):
        a = kin.solve(target, top_down_quat(0.2), HOME_Q_RAD)
        b = kin_mj.solve(target, top_down_quat(0.2), HOME_Q_RAD)
        assert a.converged and b.converged
        np.testing.assert_allclose(a.q, b.q, atol=2e-3)


def test_core_jacobian_matches_mujoco():
    import mujoco

    from robot_r1_ros.core.kinematics import Kinematics

    kin_mj, kin = PandaKinematics(), Kinematics()
    rng = np.random.default_rng(3)
    lo, hi = np.array(PANDA_JOINT_LIMITS_RAD[0]), np.array(PANDA_JOINT_LIMITS_RAD[1])
    for _ in range(20):
        q = rng.uniform(lo, hi)
        kin_mj.fk(q)
        jp, jr = np.zeros((3, kin_mj.model.nv)), np.zeros((3, kin_mj.model.nv))
        mujoco.mj_jacSite(kin_mj.model, kin_mj.data, jp, jr, kin_mj.site)
        J_mj = np.vstack([jp[:, kin_mj.dadr], jr[:, kin_mj.dadr]])
        np.testing.assert_allclose(kin.jacobian(q), J_mj, atol=2e-3)
