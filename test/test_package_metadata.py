"""package.xml, setup.py and the CMake install rules agree with each other."""
import re
import subprocess
import sys
import xml.etree.ElementTree as ET

from r1_testing import REPO


def _package_xml() -> ET.Element:
    return ET.parse(REPO / 'package.xml').getroot()


def test_package_xml_format_3_and_dependencies():
    root = _package_xml()
    assert root.get('format') == '3'
    deps = {e.text for e in root if e.tag.endswith('depend')}
    for needed in ('rclpy', 'std_msgs', 'sensor_msgs', 'geometry_msgs', 'trajectory_msgs',
                   'visualization_msgs', 'diagnostic_msgs', 'action_msgs',
                   'rosidl_default_generators', 'rosidl_default_runtime', 'moveit_py'):
        assert needed in deps, needed
    assert root.find('export/build_type').text == 'ament_cmake'
    assert root.find('member_of_group').text == 'rosidl_interface_packages'


def test_setup_py_matches_package_xml():
    root = _package_xml()
    out = subprocess.run([sys.executable, 'setup.py', '--name', '--version', '--license'],
                         cwd=REPO, capture_output=True, text=True, check=True).stdout.split()
    assert out[:3] == [root.find('name').text, root.find('version').text,
                       root.find('license').text]


def test_version_is_the_same_everywhere():
    import robot_r1_ros
    assert robot_r1_ros.__version__ == _package_xml().find('version').text


def test_cmake_installs_every_node_executable_and_interface():
    cmake = (REPO / 'CMakeLists.txt').read_text()
    nodes = re.search(r'set\(NODE_EXECUTABLES ([^)]*)\)', cmake).group(1).split()
    for node in nodes:
        wrapper = REPO / 'scripts' / 'nodes' / node
        assert wrapper.exists(), wrapper
        assert f'robot_r1_ros.ros.{node} import main' in wrapper.read_text()
        assert (REPO / 'robot_r1_ros' / 'ros' / f'{node}.py').exists(), node
    for kind in ('msg', 'srv', 'action'):
        for path in (REPO / kind).glob(f'*.{kind}'):
            assert f'"{kind}/{path.name}"' in cmake, path.name
