"""core.kinematics: the robot model as data, numpy FK/Jacobian/IK (MuJoCo comparison in
test/sim/test_sim_fk_vs_mujoco.py)."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from robot_r1_ros.core.errors import BadInputError, ConfigError
from robot_r1_ros.core.geometry import panda_fk
from robot_r1_ros.core.kinematics import (PANDA, IKError, Kinematics, RobotModel, solve_ik,
                                          top_down_quat)
from robot_r1_ros.motion.limits import JointLimits


def test_panda_model_and_names():
    assert PANDA.arm_joint_names[0] == 'panda_joint1' and len(PANDA.arm_joint_names) == 7
    fr3 = replace(PANDA, name='fr3', joint_prefix='fr3')
    assert fr3.finger_joint_names == ('fr3_finger_joint1', 'fr3_finger_joint2')
    limits = JointLimits.from_robot(fr3)
    np.testing.assert_allclose(limits.max_velocity_rad_s, PANDA.max_velocity_rad_s)


@pytest.mark.parametrize('change,field', [
    ({'lower_rad': (0.0,) * 7, 'upper_rad': (0.0,) * 7}, 'lower_rad'),
    ({'max_velocity_rad_s': (1.0,) * 6}, 'max_velocity_rad_s'),
    ({'max_acceleration_rad_s2': (0.0,) * 7}, 'max_velocity_rad_s'),
    ({'home_q_rad': (9.0,) * 7}, 'home_q_rad'),
    ({'dh_modified': PANDA.dh_modified[:7]}, 'dh_modified'),
    ({'joint_prefix': 'a b'}, 'joint_prefix'),
    ({'tcp_offset_m': float('nan')}, 'tcp_offset_m'),
])
def test_bad_models_are_config_errors(change, field):
    with pytest.raises(ConfigError) as err:
        replace(PANDA, **change)
    assert err.value.field == field


def test_fk_is_the_geometry_fk_and_the_tcp_offset_applies():
    kin = Kinematics()
    q = np.array(PANDA.home_q_rad) + 0.1
    xyz, rot = kin.fk_matrix(q)
    xyz_g, rot_g = panda_fk(q)
    np.testing.assert_allclose(xyz, xyz_g, atol=1e-12)
    np.testing.assert_allclose(rot, rot_g, atol=1e-12)
    longer = Kinematics(replace(PANDA, tcp_offset_m=0.2)).fk_matrix(q)[0]
    np.testing.assert_allclose(longer - xyz, rot[:, 2] * (0.2 - PANDA.tcp_offset_m), atol=1e-12)


def test_jacobian_is_the_fk_derivative():
    kin = Kinematics()
    q = np.array(PANDA.home_q_rad) + 0.2
    jac = kin.jacobian(q)
    eps = 1e-6
    for j in range(7):
        dq = np.zeros(7)
        dq[j] = eps
        dp = (kin.fk_matrix(q + dq)[0] - kin.fk_matrix(q - dq)[0]) / (2 * eps)
        np.testing.assert_allclose(jac[:3, j], dp, atol=1e-6)


def test_ik_reaches_and_respects_the_model_limits():
    kin = Kinematics()
    target, quat = [0.5, 0.1, 0.2], top_down_quat(0.3)
    q = solve_ik(kin, target, quat, PANDA.home_q_rad)
    assert np.linalg.norm(kin.fk(q)[0] - target) < 2e-3
    # A cell that limits joint 1 to +-0.1 rad: solutions stay inside, or there is none.
    narrow = replace(PANDA, lower_rad=(-0.1, *PANDA.lower_rad[1:]),
                     upper_rad=(0.1, *PANDA.upper_rad[1:]))
    kin_n = Kinematics(narrow)
    q_n = solve_ik(kin_n, [0.5, 0.0, 0.2], quat, narrow.home_q_rad)
    assert -0.1 <= q_n[0] <= 0.1
    with pytest.raises(IKError):
        solve_ik(kin_n, [0.3, 0.4, 0.2], quat, narrow.home_q_rad, restarts=2)


def test_ik_bad_input():
    with pytest.raises(BadInputError):
        Kinematics().solve([0.5, np.nan, 0.2])
    with pytest.raises(BadInputError):
        Kinematics().solve([0.5, 0.0, 0.2], [0, 0, 0, 0])
    with pytest.raises(IKError):
        solve_ik(None, [1.5, 0.0, 0.2], top_down_quat(), restarts=1)
