"""The prediction step (model.step): prompt, judging, statuses; no ROS, no torch."""
from __future__ import annotations

import threading

import numpy as np
import pytest

from robot_r1_ros.core.geometry import PANDA_READY_Q_RAD
from robot_r1_ros.core.reading import PANDA_ARM_JOINTS, PANDA_FINGER_JOINTS, reading_from_joints
from robot_r1_ros.core.status import PredictionStatus
from robot_r1_ros.core.types import GripperState
from robot_r1_ros.model.errors import GenerationCancelledError
from robot_r1_ros.model.reasoner import ReasonerOutput, ScriptedReasoner
from robot_r1_ros.model.step import (Observation, StepSettings, build_request, judge,
                                     predict_step)

SETTINGS = StepSettings.from_workspace_config()


def _obs(fingers_m=(0.04, 0.04), task='stack the cubes') -> Observation:
    reading = reading_from_joints((*PANDA_ARM_JOINTS, *PANDA_FINGER_JOINTS),
                                  (*PANDA_READY_Q_RAD, *fingers_m), 1.5)
    return Observation(np.zeros((8, 8, 3), np.uint8), reading, task, request_id='1.5')


def test_prompt_has_the_env_frame_tcp_and_the_gripper_rule():
    req = build_request(_obs(fingers_m=(0.02, 0.02)), SETTINGS)
    xyz_env = SETTINGS.env_frame.base_to_env(_obs().current_xyz_base_m)
    assert req.metadata.current_xyz_env_m == pytest.approx(tuple(xyz_env))
    assert req.metadata.current_gripper is GripperState.CLOSED  # 0.04 m of 0.08 m
    assert build_request(_obs(), SETTINGS).metadata.current_gripper is GripperState.OPEN
    assert req.instruction == 'stack the cubes' and req.request_id == '1.5'


def _out(**kw) -> ReasonerOutput:
    return ReasonerOutput(kind='open_keypoint', completion='x', **kw)


def test_judge():
    ok = judge(_out(xyz_env_m=(0.0, 0.0, 0.1), gripper=GripperState.OPEN), SETTINGS)
    assert ok.status is PredictionStatus.OK and ok.reason == ''
    assert ok.keypoint.xyz_base_m == pytest.approx(
        tuple(SETTINGS.env_frame.env_to_base((0.0, 0.0, 0.1))))
    far = judge(_out(xyz_env_m=(9.0, 9.0, 9.0), gripper=GripperState.OPEN), SETTINGS)
    assert far.status is PredictionStatus.OUT_OF_WORKSPACE and 'maximum' in far.reason
    assert far.keypoint is not None
    bad = judge(_out(parse_error='no <answer> tag'), SETTINGS)
    assert (bad.status, bad.reason, bad.keypoint) == (PredictionStatus.FORMAT_ERROR,
                                                      'no <answer> tag', None)
    nan = judge(_out(xyz_env_m=(float('nan'), 0.0, 0.1), gripper=GripperState.OPEN), SETTINGS)
    assert nan.status is PredictionStatus.FORMAT_ERROR and 'non-finite' in nan.reason


@pytest.mark.parametrize('model,status', [
    ('valid', PredictionStatus.OK), ('garbage', PredictionStatus.FORMAT_ERROR),
    ('out_of_workspace', PredictionStatus.OUT_OF_WORKSPACE),
    ('error', PredictionStatus.MODEL_ERROR)])
def test_predict_step_statuses(model, status):
    result = predict_step(ScriptedReasoner(model), _obs(), SETTINGS)
    assert result.status is status
    assert result.ok is (status is PredictionStatus.OK)
    assert (result.reason == '') is (status is PredictionStatus.OK)
    assert result.messages()[1]['content'][-1]['text'].count('(open)') == 1


def test_predict_step_streams_and_cancels():
    pieces: list[str] = []
    result = predict_step(ScriptedReasoner('valid'), _obs(), SETTINGS, on_text=pieces.append)
    assert ''.join(pieces) == result.output.completion
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(GenerationCancelledError):
        predict_step(ScriptedReasoner('valid'), _obs(), SETTINGS, cancel=cancel)


def test_bad_prompt_input_is_a_status():
    obs = _obs()
    gray = Observation(np.zeros((8, 8), np.uint8), obs.reading, obs.task)
    result = predict_step(ScriptedReasoner('valid'), gray, SETTINGS)
    assert result.status is PredictionStatus.BAD_INPUT and 'HxWx3' in result.reason
    assert result.output is None and result.request is None
