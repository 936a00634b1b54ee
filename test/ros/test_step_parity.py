"""The reasoning node and the closed-loop evaluation run one prediction step.

For the same recorded sim state (camera frame + joint state), the node (in-process, its
subscription callbacks fed the messages, its worker's job run directly) and the closed-loop
evaluation (``training.closed_loop.SimRig.observe`` + ``model.step.predict_step``) give the
reasoner the same prompt and end with the same judged keypoint, status and orientation.
"""
from __future__ import annotations

import numpy as np
import pytest


class _Recording:
    """Wraps a reasoner and keeps the chat messages of every request."""

    def __init__(self, inner) -> None:
        self.inner, self.messages = inner, []
        self.model_id = inner.model_id

    def predict(self, request, *, on_text=None, cancel=None):
        self.messages.append(request.build_messages())
        return self.inner.predict(request, on_text=on_text, cancel=cancel)

    def describe(self):
        return self.inner.describe()

    def close(self) -> None:
        self.inner.close()


def _texts(messages) -> list[str]:
    return [part.get('text', '') if isinstance(part, dict) else str(part)
            for m in messages for part in (m['content'] if isinstance(m['content'], list)
                                           else [m['content']])]


@pytest.fixture(scope='module')
def recorded_state():
    """A recorded pick_place state mid-episode: gripper closed on nothing, arm moved."""
    from robot_r1_ros.sim.scene import PandaScene
    from robot_r1_ros.sim.tasks import make_task
    with PandaScene() as scene:
        episode = make_task('pick_place').reset(scene, 123)
        scene.set_gripper_width(0.0)
        q = scene.arm_q() + np.array([0.1, 0.05, -0.05, 0.1, 0.0, -0.05, 0.2])
        scene.set_arm_target(q)
        for _ in range(200):
            scene.step()
        js = scene.joint_state()
        yield {'rgb': scene.render(), 'names': tuple(js.name),
               'position': np.array(js.position, float), 'instruction': episode.instruction}


@pytest.mark.parametrize('model_id', ['scripted:echo?gripper=closed',
                                      'scripted:valid?xyz=0.05,-0.1,0.2&gripper=open',
                                      'scripted:out_of_workspace', 'scripted:garbage'])
def test_node_and_closed_loop_eval_make_the_same_prompt_and_keypoint(
        rclpy_node, recorded_state, model_id):
    from sensor_msgs.msg import JointState

    from robot_r1_ros.core.status import PredictionStatus
    from robot_r1_ros.model.reasoner import load_reasoner
    from robot_r1_ros.model.step import StepSettings, predict_step
    from robot_r1_ros.ros import conversions as conv
    from robot_r1_ros.ros.reasoning_inputs import Job
    from robot_r1_ros.ros.reasoning_node import ReasoningNode
    from robot_r1_ros.training.closed_loop import SimRig

    rgb, task = recorded_state['rgb'], recorded_state['instruction']

    # The closed-loop evaluation's path, on a scene whose joints are the recorded ones.
    class _Replay:  # the part of PandaScene that SimRig.observe reads
        def joint_state(self):
            from robot_r1_ros.sim.scene import JointStateSample
            n = len(recorded_state['names'])
            return JointStateSample(0.0, recorded_state['names'], recorded_state['position'],
                                    np.zeros(n), np.zeros(n))

    rig = SimRig.__new__(SimRig)
    rig.scene = _Replay()
    eval_reasoner = _Recording(load_reasoner(model_id))
    result = predict_step(eval_reasoner, rig.observe(task, rgb),
                          StepSettings.from_workspace_config())

    # The node's path: its callbacks get the messages, its worker runs one job.
    node = ReasoningNode(context=rclpy_node.context, parameter_overrides=[])
    try:
        from rclpy.parameter import Parameter
        node.set_parameters([Parameter('model.id', value=model_id),
                             Parameter('model.warmup', value=False),
                             Parameter('trigger.mode', value='on_demand')])
        from rclpy.lifecycle import TransitionCallbackReturn
        assert node.trigger_configure() == TransitionCallbackReturn.SUCCESS
        node.reasoner = node_reasoner = _Recording(node.reasoner)
        stamp = node.get_clock().now().to_msg()
        image = conv.array_to_image_msg(rgb, 'rgb8')
        image.header.stamp = stamp
        joints = JointState(name=list(recorded_state['names']),
                            position=[float(v) for v in recorded_state['position']])
        joints.header.stamp = stamp
        node._on_image(image)
        node._on_joints(joints)
        job = Job(source='action', task=task)
        node._run_job(job)
        msg = job.result
    finally:
        node.close()
        node.destroy_node()

    assert len(node_reasoner.messages) == len(eval_reasoner.messages) == 1
    assert _texts(node_reasoner.messages[0]) == _texts(eval_reasoner.messages[0])
    # The recorded state has the gripper closed: both prompts say so (one gripper rule).
    prompt = '\n'.join(_texts(eval_reasoner.messages[0]))
    assert 'Current gripper position: [' in prompt and '] (closed).' in prompt
    assert msg.status == int(result.status)
    assert msg.status_reason == result.reason
    if result.keypoint is not None:
        p = msg.pose.position
        assert (p.x, p.y, p.z) == pytest.approx(result.keypoint.xyz_base_m, abs=1e-9)
        assert msg.gripper_command == (0 if result.keypoint.gripper.is_open else 1)
        o = msg.pose.orientation
        assert (o.x, o.y, o.z, o.w) == pytest.approx(
            rig.observe(task, rgb).reading.tcp_quat_xyzw, abs=1e-9)
    expected = {'scripted:out_of_workspace': PredictionStatus.OUT_OF_WORKSPACE,
                'scripted:garbage': PredictionStatus.FORMAT_ERROR}.get(model_id,
                                                                       PredictionStatus.OK)
    assert result.status is expected
