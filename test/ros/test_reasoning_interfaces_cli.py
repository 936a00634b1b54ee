"""`robot-r1 interfaces`: lists and shows the package's msg/srv/action definitions like
`ros2 interface show` (nested types expanded), from the install or from the source tree."""
from __future__ import annotations

import os
import re
import sys

import pytest

from robot_r1_ros import cli
from robot_r1_ros.ros import interfaces

REPO = interfaces._SOURCE_ROOT


def _run(capsys, *argv: str) -> tuple[int, str, str]:
    code = cli.main(['interfaces', *argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_list(capsys):
    code, out, _ = _run(capsys)
    assert code == 0
    for name in ('robot_r1_ros/msg/KeypointPrediction', 'robot_r1_ros/msg/ExecutorState',
                 'robot_r1_ros/action/PredictKeypoint'):
        assert f'    {name}\n' in out
    assert out.index('Messages:') < out.index('Actions:')


def test_show_has_every_field_of_the_generated_message(capsys):
    code, out, _ = _run(capsys, 'show', 'KeypointPrediction')
    assert code == 0
    top = [line for line in out.splitlines() if line and not line.startswith(('\t', '#'))]
    fields = {line.split('#')[0].split()[1] for line in top if '=' not in line.split('#')[0]}
    try:
        from robot_r1_ros.msg import KeypointPrediction
    except ImportError:
        pytest.skip('generated interfaces not built')
    assert fields == set(KeypointPrediction.get_fields_and_field_types())
    assert 'uint8 STATUS_OUT_OF_WORKSPACE=3' in out
    assert '# One next-keypoint prediction' in out  # top-level comments kept
    # nested types expanded one tab per level, nested comments dropped
    assert re.search(r'\nstd_msgs/Header header[^\n]*\n\tbuiltin_interfaces/Time stamp\n'
                     r'\t\tint32 sec\n', out)
    assert re.search(r'\ngeometry_msgs/Point position[^\n]*\n\tfloat64 x\n', out)
    assert not any(line.startswith('\t') and '#' in line for line in out.splitlines())


def test_show_options_and_other_packages(capsys):
    code, out, _ = _run(capsys, 'show', 'robot_r1_ros/action/PredictKeypoint', '--no-comments')
    assert code == 0 and '#' not in out
    assert out.count('---') == 2 and 'string task' in out
    assert '\trobot_r1_ros/KeypointPrediction' not in out  # only at top level
    assert '\tuint8 status' in out  # the result's prediction is expanded
    code, raw, _ = _run(capsys, 'show', 'msg/ExecutorState', '--raw')
    assert code == 0 and not any(line.startswith('\t') for line in raw.splitlines())
    code, nested, _ = _run(capsys, 'show', 'msg/ExecutorState', '--all-comments')
    assert code == 0 and '\t# Standard metadata for higher-level stamped data types' in nested
    code, pose, _ = _run(capsys, 'show', 'geometry_msgs/msg/PoseStamped')
    assert code == 0 and pose.startswith('# A Pose with reference coordinate frame')
    assert '\nPose pose\n\tPoint position\n' in pose and '\tQuaternion orientation\n' in pose


def test_all_prints_every_definition(capsys):
    code, out, _ = _run(capsys, '--all')
    assert code == 0
    for name in interfaces.list_interfaces()['msg']:
        assert f'# ===== {name} ' in out
    assert out.count('# ===== ') == sum(len(v) for v in interfaces.list_interfaces().values())


@pytest.mark.parametrize('name', ['Nope', 'robot_r1_ros/msg/Nope', 'no_such_pkg/msg/Type',
                                  'a/b/c/d'])
def test_unknown_names_fail_with_a_message(capsys, name):
    code, out, err = _run(capsys, 'show', name)
    assert code == 2 and out == ''
    assert 'robot-r1 interfaces:' in err and (name in err or 'bad interface name' in err)


def test_source_tree_fallback(capsys, monkeypatch):
    # without the colcon install on AMENT_PREFIX_PATH, definitions come from msg/ srv/ action/
    prefixes = [p for p in os.environ.get('AMENT_PREFIX_PATH', '').split(os.pathsep)
                if p and 'install' not in p]
    monkeypatch.setenv('AMENT_PREFIX_PATH', os.pathsep.join(prefixes) or sys.prefix)
    dirs = interfaces.package_dirs('robot_r1_ros')
    assert dirs and (dirs[0] / 'msg' / 'KeypointPrediction.msg').is_file()
    assert dirs[0] == REPO  # the source root
    code, out, _ = _run(capsys, 'show', 'PredictKeypoint')
    assert code == 0 and 'string task' in out and '\tstd_msgs/Header header' in out
