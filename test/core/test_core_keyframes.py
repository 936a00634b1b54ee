"""Keyframe discovery and observation sampling (core.keyframes) on synthetic demos."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from robot_r1_ros.core.errors import BadInputError
from robot_r1_ros.core.keyframes import (discover_keyframes, next_keyframe,
                                         sample_observation_frames)


def test_arm_keyframes_on_pick_and_place(pick_place_demo):
    demo = pick_place_demo
    keys = discover_keyframes(demo.gripper_open, demo.joint_velocities)
    assert keys == demo.expected_arm_keyframes()
    # every waypoint arrival, both gripper changes and the final frame are keyframes
    assert len(demo.arrivals) == 6 and len(demo.gripper_changes) == 2
    assert keys[-1] == demo.last


def test_hysteresis_keyframes_on_pick_and_place(pick_place_demo):
    demo = pick_place_demo
    keys = discover_keyframes(demo.gripper_open, demo.joint_velocities, method='hysteresis')
    assert keys == demo.expected_hysteresis_keyframes()


def test_still_noise_below_thresholds_changes_nothing(demo_factory, pick_place_waypoints):
    demo = demo_factory(pick_place_waypoints, seed=4, jitter=0.015)
    assert discover_keyframes(demo.gripper_open, demo.joint_velocities) == \
        demo.expected_arm_keyframes()
    assert discover_keyframes(demo.gripper_open, demo.joint_velocities,
                              method='hysteresis') == demo.expected_hysteresis_keyframes()


def test_gripper_change_alone_is_a_keyframe():
    # the arm never stops (always moving), gripper closes at frame 7
    grip = np.array([True] * 7 + [False] * 8)
    vel = np.full((15, 7), 0.5)
    assert discover_keyframes(grip, vel) == [7, 14]


def test_long_stop_fires_again_after_the_buffer():
    # ARM's rule: a stop re-triggers once the 4-frame buffer has run out (documented behaviour)
    vel = np.zeros((12, 7))
    vel[:3] = 0.5
    keys = discover_keyframes(np.ones(12, bool), vel)
    assert keys[0] == 3 and keys[1] == 3 + 5 and keys[-1] == 11


def test_adjacent_last_keyframes_keep_only_the_last():
    # stop detected at n-3 would not be adjacent; make the gripper change at n-2 instead
    grip = np.array([True] * 8 + [False] * 2)
    vel = np.full((10, 7), 0.5)
    assert discover_keyframes(grip, vel) == [9]


@pytest.mark.parametrize('grip,vel,kwargs,message', [
    (np.ones(5, bool), np.zeros((4, 7)), {}, 'joint_velocities must have shape'),
    (np.ones((5, 2), bool), np.zeros((5, 7)), {}, 'non-empty 1-D'),
    (np.ones(5, bool), np.full((5, 7), np.nan), {}, 'finite'),
    (np.ones(5, bool), np.zeros((5, 7)), {'method': 'peaks'}, "'arm' or 'hysteresis'"),
    (np.ones(5, bool), np.zeros((5, 7)), {'method': 'hysteresis', 'still_delta': 0.5},
     'still_delta'),
])
def test_bad_keyframe_inputs(grip, vel, kwargs, message):
    with pytest.raises(BadInputError, match=message):
        discover_keyframes(grip, vel, **kwargs)


def test_sample_observation_frames_every_interval_before_keyframes():
    pairs = sample_observation_frames([25, 50], interval=10)
    assert pairs == [(0, 25), (5, 25), (15, 25), (25, 50), (30, 50), (40, 50)]
    assert sample_observation_frames([25, 50], interval=10, include_segment_start=False) == [
        (5, 25), (15, 25), (30, 50), (40, 50)]
    assert sample_observation_frames([25, 50], interval=10, max_per_segment=1) == [
        (15, 25), (40, 50)]


@pytest.mark.parametrize('kwargs,message', [
    ({'keyframes': [5], 'interval': 0}, 'interval'),
    ({'keyframes': [0, 5]}, '>= 1'),
    ({'keyframes': [5], 'max_per_segment': 0}, 'max_per_segment'),
])
def test_bad_sampling_inputs(kwargs, message):
    with pytest.raises(BadInputError, match=message):
        sample_observation_frames(**kwargs)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(1, 300), min_size=1, max_size=10), st.integers(1, 25),
       st.booleans())
def test_sampled_frames_target_their_next_keyframe(keys, interval, with_start):
    pairs = sample_observation_frames(keys, interval, with_start)
    sorted_keys = sorted(set(keys))
    for frame, key in pairs:
        assert frame < key
        assert next_keyframe(frame, keys) == key
        segment_start = max([0] + [k for k in sorted_keys if k < key])
        assert (key - frame) % interval == 0 or (with_start and frame == segment_start)
    # every keyframe has at least one observation when segment starts are included
    if with_start:
        assert {k for _, k in pairs} == set(sorted_keys)


def test_discovered_keyframes_feed_sampling(pick_place_demo):
    keys = discover_keyframes(pick_place_demo.gripper_open, pick_place_demo.joint_velocities)
    pairs = sample_observation_frames(keys, interval=5)
    assert {k for _, k in pairs} == set(keys)
    assert next_keyframe(keys[-1], keys) is None
