"""Prediction validation: one table row per rejection code, property tests, bad config."""
from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from robot_r1_ros.core.status import GripperCommand, PredictionStatus
from robot_r1_ros.core.errors import ConfigError
from robot_r1_ros.core.geometry import Workspace
from robot_r1_ros.motion.validation import (PredictionInput, RejectCode, RejectionCounter,
                                            ValidationConfig, validate_prediction)

WS = Workspace((0.15, -0.5, 0.0), (0.8, 0.5, 0.7))
CFG = ValidationConfig(base_frame='panda_link0', max_age_s=2.0, max_future_s=0.5, max_step_m=0.5)
NOW = 1000.0
TCP = (0.4, 0.0, 0.4)
DOWN_XYZW = (1.0, 0.0, 0.0, 0.0)   # TCP pointing down
OK, FORMAT, OUT_WS = (int(PredictionStatus.OK), int(PredictionStatus.FORMAT_ERROR),
                      int(PredictionStatus.OUT_OF_WORKSPACE))
CLOSED = int(GripperCommand.CLOSED)


def pred(**changes) -> PredictionInput:
    base = dict(status=OK, frame_id='panda_link0', stamp_s=NOW - 0.1, xyz_base_m=(0.5, 0.1, 0.2),
                quat_xyzw=DOWN_XYZW, gripper_command=CLOSED)
    base.update(changes)
    return PredictionInput(**base)


CASES = [
    # (changes, tcp, stopped, expected code or None)
    ({}, TCP, False, None),                                                   # all fine
    ({}, None, False, None),                                  # no TCP: no step check
    ({'status': FORMAT, 'status_reason': 'no <answer>'}, TCP, False, RejectCode.STATUS_NOT_OK),
    ({'status': OUT_WS}, TCP, False, RejectCode.STATUS_NOT_OK),               # node said out of ws
    ({'status': 0}, TCP, False, RejectCode.STATUS_NOT_OK),                    # unset (zero value)
    ({'quat_xyzw': None}, TCP, False, None),                  # a point target: keep the TCP's
    ({'frame_id': 'world'}, TCP, False, RejectCode.WRONG_FRAME),
    ({'frame_id': ''}, TCP, False, RejectCode.WRONG_FRAME),
    ({'xyz_base_m': (math.nan, 0.0, 0.2)}, TCP, False, RejectCode.NOT_FINITE),
    ({'xyz_base_m': (0.5, math.inf, 0.2)}, TCP, False, RejectCode.NOT_FINITE),
    ({'quat_xyzw': (math.nan, 0.0, 0.0, 1.0)}, TCP, False, RejectCode.NOT_FINITE),
    ({'stamp_s': math.nan}, TCP, False, RejectCode.NOT_FINITE),
    ({'quat_xyzw': (0.0, 0.0, 0.0, 0.0)}, TCP, False, RejectCode.BAD_ORIENTATION),
    ({'quat_xyzw': (0.0, 0.0, 0.0, 1.05)}, TCP, False, RejectCode.BAD_ORIENTATION),
    ({'gripper_command': 3}, TCP, False, RejectCode.BAD_GRIPPER),
    ({'gripper_command': 0}, TCP, False, RejectCode.BAD_GRIPPER),             # unset (zero value)
    ({'stamp_s': NOW - 2.01}, TCP, False, RejectCode.STALE),
    ({'stamp_s': NOW - 1.99}, TCP, False, None),                              # just fresh enough
    ({'stamp_s': NOW + 0.6}, TCP, False, RejectCode.FUTURE_STAMP),
    ({'stamp_s': NOW + 0.4}, TCP, False, None),                               # clock skew allowed
    ({'xyz_base_m': (0.5, 0.1, -0.01)}, TCP, False, RejectCode.OUT_OF_WORKSPACE),
    ({'xyz_base_m': (0.9, 0.1, 0.2)}, TCP, False, RejectCode.OUT_OF_WORKSPACE),
    ({'xyz_base_m': (0.8, 0.5, 0.7)}, (0.8, 0.5, 0.6), False, None),          # corner: inclusive
    ({'xyz_base_m': (0.75, -0.45, 0.02)}, TCP, False, RejectCode.STEP_TOO_LONG),
    ({}, TCP, True, RejectCode.STOPPED),
    ({'status': FORMAT}, TCP, True, RejectCode.STOPPED),                      # stop wins
    ({'status': FORMAT, 'frame_id': 'world'}, TCP, False, RejectCode.STATUS_NOT_OK),  # first
]


@pytest.mark.parametrize('changes,tcp,stopped,expected', CASES)
def test_validation_table(changes, tcp, stopped, expected):
    rejection = validate_prediction(pred(**changes), CFG, WS, NOW, tcp, stopped=stopped)
    assert (rejection.code if rejection else None) is expected
    if rejection is not None:
        assert rejection.detail and str(rejection).startswith(expected.value + ': ')


def test_validation_before_the_clock_starts_is_not_ready():
    # Sim time before the first /clock: the clock reads 0, so any stamp would look "in the
    # future"; the prediction is not ready instead, and a stopped executor still says stopped.
    rejection = validate_prediction(pred(), CFG, WS, 0.0, TCP, clock_running=False)
    assert rejection.code is RejectCode.NOT_READY and '/clock' in rejection.detail
    assert validate_prediction(pred(), CFG, WS, 0.0, TCP, stopped=True,
                               clock_running=False).code is RejectCode.STOPPED
    assert validate_prediction(pred(status=FORMAT), CFG, WS, 0.0, TCP,
                               clock_running=False).code is RejectCode.STATUS_NOT_OK


def test_validation_detail_names_the_axis_and_reason():
    rejection = validate_prediction(pred(xyz_base_m=(0.5, 0.1, 0.9)), CFG, WS, NOW, TCP)
    assert 'z=0.900' in rejection.detail
    rejection = validate_prediction(pred(status=FORMAT, status_reason='no <answer> tag'), CFG, WS,
                                    NOW, TCP)
    assert 'no <answer> tag' in rejection.detail


finite = st.floats(allow_nan=True, allow_infinity=True, width=64)


@settings(max_examples=300, deadline=None)
@given(xyz=st.tuples(finite, finite, finite), quat=st.tuples(finite, finite, finite, finite),
       stamp=finite, status=st.integers(0, 255), gripper=st.integers(0, 255),
       frame=st.sampled_from(['panda_link0', 'world', '']))
def test_validation_accepts_only_what_every_rule_allows(xyz, quat, stamp, status, gripper, frame):
    p = PredictionInput(status, frame, stamp, xyz, quat, gripper)
    rejection = validate_prediction(p, CFG, WS, NOW, TCP)   # never raises
    values = [*xyz, *quat, stamp]
    safe = (status == OK and frame == 'panda_link0' and all(map(math.isfinite, values))
            and abs(math.sqrt(sum(q * q for q in quat)) - 1) <= 0.01 and gripper in (1, 2)
            and -0.5 <= NOW - stamp <= 2.0 and WS.contains(xyz) and math.dist(xyz, TCP) <= 0.5)
    assert (rejection is None) == safe


def test_rejection_counter_counts_by_code():
    counter = RejectionCounter()
    for changes in ({'status': FORMAT}, {'status': 0}, {'frame_id': 'x'}):
        counter.add(validate_prediction(pred(**changes), CFG, WS, NOW, TCP))
    assert counter.total == 3
    assert counter.nonzero() == {'status_not_ok': 2, 'wrong_frame': 1}
    assert set(counter.as_dict()) == {c.value for c in RejectCode}


@pytest.mark.parametrize('kwargs,field', [
    ({'base_frame': ''}, 'base_frame'),
    ({'max_age_s': 0.0}, 'max_age_s'),
    ({'max_age_s': math.inf}, 'max_age_s'),
    ({'max_future_s': -1.0}, 'max_future_s'),
    ({'max_step_m': math.nan}, 'max_step_m'),
])
def test_validation_config_rejects_bad_values(kwargs, field):
    with pytest.raises(ConfigError) as info:
        ValidationConfig(**kwargs)
    assert info.value.field == field
