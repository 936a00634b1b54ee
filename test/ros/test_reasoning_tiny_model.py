"""The reasoning node with the real tiny Qwen2.5-VL checkpoint (random weights, same code path as
the 7B: transformers from_pretrained, processor, constrained decoding) in another process: a
camera peer's frames lead to a KeypointPrediction that parsed (constrained decoding), with the
base frame, the image's stamp, token counts and timings; an untrained model's keypoint is either
inside the workspace (OK) or reported OUT_OF_WORKSPACE, never FORMAT_ERROR."""
from __future__ import annotations

import pytest

from r1_testing import require, require_ros_interfaces
from reasoning_harness import NODE_MODULE, ReasoningProbe, node_args

pytestmark = [pytest.mark.ros, pytest.mark.slow]


@pytest.fixture(scope='module')
def tiny_checkpoint(tmp_path_factory):
    require('torch')
    require('transformers')
    from robot_r1_ros.model import build_tiny
    return build_tiny.build(tmp_path_factory.mktemp('reasoning-ckpt') / 'tiny-qwen2.5-vl', seed=0)


def test_node_with_the_tiny_checkpoint(spawn, rclpy_node, tiny_checkpoint):
    require('rclpy')
    require_ros_interfaces()
    probe = ReasoningProbe(rclpy_node('reasoning_tiny_probe'))
    node = spawn(NODE_MODULE, *node_args(
        str(tiny_checkpoint), model__device='cpu', model__num_threads=1,
        model__max_pixels=112 * 112, model__warmup=True, generation__max_new_tokens=128,
        generation__think_budget_tokens=16, trigger__max_rate_hz=20.0,
        input__max_image_age_s=2.0))
    KP = probe.KP
    assert probe.wait_for(lambda: probe.predictions or 'configure failed' in node.output(),
                          90.0, probe.publish_inputs)
    assert probe.predictions, node.output()[-4000:]
    got = probe.predictions[0]
    assert got.status in (KP.STATUS_OK, KP.STATUS_OUT_OF_WORKSPACE), (got.status,
                                                                     got.status_reason)
    assert got.header.frame_id == 'panda_link0'
    assert (got.header.stamp.sec, got.header.stamp.nanosec) in probe.camera_stamps
    assert got.model_id == str(tiny_checkpoint)
    assert got.generated_tokens > 0 and got.inference_time_s > 0.0
    assert '<answer>' in got.raw_answer and '</answer>' in got.raw_answer
    from robot_r1_ros.core.parsing import parse_completion, parse_open_keypoint
    xyz_env, _ = parse_open_keypoint(parse_completion(got.raw_answer).answer)
    pos = got.position
    assert (pos.x, pos.y, pos.z) == pytest.approx((xyz_env[0] + 0.35, xyz_env[1], xyz_env[2]),
                                                  abs=1e-6)
    if got.status == KP.STATUS_OK:
        assert 0.15 <= pos.x <= 0.8 and -0.5 <= pos.y <= 0.5 and 0.0 <= pos.z <= 0.7
    else:
        assert 'workspace' in got.status_reason
    # a second prediction from a newer frame: the node keeps going
    again = probe.wait_prediction(lambda p: p.header.stamp != got.header.stamp, 60.0)
    assert again is not None and again.status != KP.STATUS_FORMAT_ERROR
    assert 'configured in' in node.output() and node.alive()
