"""Executor parameters changed at run time: live ones build the new config, the rest are refused
with the reason (never accepted and ignored)."""
from __future__ import annotations

import array

from robot_r1_ros.ros import executor_params as ep
from robot_r1_ros.ros.executor_live import is_live, plan_change

CURRENT = {p.name: (list(p.default) if isinstance(p.default, tuple) else p.default)
           for p in ep.PARAMETERS}


def test_live_parameters_give_the_new_config():
    decision = plan_change(CURRENT, {'dry_run': True, 'validation.max_step_m': 0.3,
                                     'workspace.max_xyz_base_m': array.array('d', [0.7, 0.4, 0.6])})
    assert decision.accepted and decision.config is not None
    assert decision.config.execution.dry_run is True
    assert decision.config.execution.validation.max_step_m == 0.3
    assert decision.config.workspace.max_xyz_base_m == (0.7, 0.4, 0.6)


def test_start_up_parameters_are_refused_with_the_reason():
    decision = plan_change(CURRENT, {'dry_run': True, 'backend': 'moveit'})
    assert not decision.accepted and decision.config is None
    assert decision.reason.startswith('backend: read at start-up')
    assert 'restart the node' in decision.reason
    assert not is_live('topics.prediction') and is_live('workspace.min_xyz_base_m')


def test_bad_live_values_are_refused_naming_the_parameter():
    decision = plan_change(CURRENT, {'on_new_goal': 'sometimes'})
    assert not decision.accepted and 'on_new_goal' in decision.reason
    decision = plan_change(CURRENT, {'validation.max_step_m': 'far'})
    assert not decision.accepted and 'validation.max_step_m' in decision.reason


def test_unchanged_and_foreign_parameters_pass():
    assert plan_change(CURRENT, {'use_sim_time': True}).accepted
    same = plan_change(CURRENT, {'backend': 'direct',
                                 'workspace.min_xyz_base_m': (0.15, -0.5, 0.0)})
    assert same.accepted and same.config is not None


def test_dry_run_off_needs_a_connected_moveit_backend():
    moveit = {**CURRENT, 'backend': 'moveit', 'dry_run': True}
    refused = plan_change(moveit, {'dry_run': False}, backend_connected=False)
    assert not refused.accepted and 'not connected' in refused.reason
    assert plan_change(moveit, {'dry_run': False}, backend_connected=True).accepted
