"""pip metadata for the pure-Python part of robot_r1_ros.

colcon builds this package with ament_cmake (it needs rosidl for msg/ and action/) and ignores this
file. It exists so pip users get the ROS-free layers (``pip install -e .[train,sim]``) and the
console scripts; the node executables additionally need the colcon-built interfaces.
"""
import re
from pathlib import Path

from setuptools import find_packages, setup

HERE = Path(__file__).parent
# One source of truth for name, version and license: package.xml.
_XML = (HERE / 'package.xml').read_text(encoding='utf-8')


def _tag(name: str) -> str:
    return re.search(rf'<{name}>([^<]+)</{name}>', _XML).group(1).strip()


setup(
    name=_tag('name'),
    version=_tag('version'),
    license=_tag('license'),
    description='Robot-R1 next-keypoint reasoning (Qwen2.5-VL + GRPO) for ROS 2',
    long_description=(HERE / 'README.md').read_text(encoding='utf-8'),
    long_description_content_type='text/markdown',
    packages=find_packages(include=['robot_r1_ros', 'robot_r1_ros.*']),
    package_data={'robot_r1_ros': ['py.typed', 'sim/assets/**/*']},
    python_requires='>=3.10',
    install_requires=['numpy', 'pyyaml', 'pillow'],
    extras_require={
        'model': ['torch==2.13.0', 'transformers==5.23.0', 'tokenizers==0.23.3',
                  'accelerate==1.15.0', 'safetensors'],
        'train': ['trl==1.16.0', 'peft==0.21.2', 'datasets', 'tensorboard', 'matplotlib'],
        'sim': ['mujoco==4.0.0', 'mink==1.3.0', 'rosbags==0.11.9'],
        'test': ['pytest', 'pytest-timeout', 'hypothesis'],
    },
    entry_points={
        'console_scripts': [
            'robot-r1 = robot_r1_ros.cli:main',
            'reasoning_node = robot_r1_ros.ros.reasoning_node:main',
            'executor_node = robot_r1_ros.ros.executor_node:main',
            'sim_node = robot_r1_ros.ros.sim_node:main',
        ],
    },
)
