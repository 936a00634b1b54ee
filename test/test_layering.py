"""Import rules between the package's layers (see docs/architecture.md).

Third-party: rclpy and ROS message packages only in robot_r1_ros/ros/; core/ free of ROS, torch,
transformers and mujoco; model/ free of ROS and mujoco; sim/ free of ROS and torch; motion/ free
of torch and mujoco, ROS or MoveIt only lazily (inside functions), never at module level.

The package's own layers (anywhere in a file, lazy imports included): core imports only core;
model, sim and motion import core and themselves (motion never sim: the executor runs on a robot
without the simulator); training may import core, model, sim and motion; ros and the top-level
modules may import everything.
"""
import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[1] / 'robot_r1_ros'
ROS = {'rclpy', 'std_msgs', 'sensor_msgs', 'geometry_msgs', 'trajectory_msgs', 'builtin_interfaces',
       'visualization_msgs', 'diagnostic_msgs', 'action_msgs', 'lifecycle_msgs', 'std_srvs',
       'rosgraph_msgs', 'launch', 'launch_ros', 'moveit', 'tf2_ros', 'cv_bridge',
       'robot_r1_ros.msg', 'robot_r1_ros.srv', 'robot_r1_ros.action'}
ML = {'torch', 'transformers', 'trl', 'peft', 'accelerate', 'datasets', 'tokenizers'}
SIM = {'mujoco', 'mink'}
FORBIDDEN = {  # folder -> (forbidden anywhere, forbidden at module level only)
    'core': (ROS | ML | SIM, set()),
    'model': (ROS | SIM, set()),
    'sim': (ROS | ML, set()),
    'motion': (ML | SIM, ROS),
    'training': (ROS, set()),
}


PKG_NAME = 'robot_r1_ros'
LAYERS = ('core', 'model', 'sim', 'motion', 'training', 'ros')
OWN_ALLOWED = {  # layer -> the package's layers it may import
    'core': {'core'},
    'model': {'core', 'model'},
    'sim': {'core', 'sim'},
    'motion': {'core', 'motion'},
    'training': {'core', 'model', 'sim', 'motion', 'training'},
}


def _own_layer(name: str) -> str | None:
    """The package layer an absolute module name belongs to (None: not one of ours)."""
    parts = name.split('.')
    if parts[0] != PKG_NAME or len(parts) < 2:
        return None
    return parts[1] if parts[1] in LAYERS else None


def _imports(tree: ast.AST, top_level_only: bool) -> list[tuple[int, str]]:
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    if top_level_only:  # include imports inside module-level try/if blocks
        nodes = [n for stmt in nodes for n in ast.walk(stmt)
                 if not isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))]
    found = []
    for node in nodes:
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level > 0:
            found.append((node.lineno, '.' * node.level + (node.module or '')))
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
            found += [(node.lineno, f'{node.module}.{a.name}') for a in node.names]
    return found


def _hits(name: str, banned: set[str]) -> bool:
    return any(name == b or name.startswith(b + '.') for b in banned)


def violations(root: Path = PKG) -> list[str]:
    """All layering violations under ``root`` as 'path:line imports name' strings."""
    out = []
    for path in sorted(root.rglob('*.py')):
        rel = path.relative_to(root)
        layer = rel.parts[0] if len(rel.parts) > 1 else '<top>'
        tree = ast.parse(path.read_text(encoding='utf-8'), str(path))
        if layer == 'ros':
            continue
        anywhere, top_only = FORBIDDEN.get(layer, (ROS, set()))
        for line, name in _imports(tree, top_level_only=False):
            if _hits(name, anywhere):
                out.append(f'{rel}:{line} imports {name}')
        for line, name in _imports(tree, top_level_only=True):
            if _hits(name, top_only):
                out.append(f'{rel}:{line} imports {name} at module level')
        allowed = OWN_ALLOWED.get(layer)
        if allowed is None:
            continue
        for line, name in _imports(tree, top_level_only=False):
            if name.startswith('.'):
                out.append(f'{rel}:{line} imports {name}: relative import (use the '
                           'absolute name, so the layer rules can see it)')
                continue
            target = _own_layer(name)
            if target is not None and target not in allowed:
                out.append(f'{rel}:{line} imports {name}: layer {layer} may not import '
                           f'{target}')
    return out


def test_package_respects_layering():
    assert violations() == []


@pytest.mark.parametrize('layer,source,bad', [
    ('core', 'import rclpy\n', True),
    ('core', 'from torch import nn\n', True),
    ('core', 'import numpy as np\n', False),
    ('sim', 'import mujoco\n', False),
    ('sim', 'from rclpy.node import Node\n', True),
    ('motion', 'def f():\n    from moveit.planning import MoveItPy\n', False),
    ('motion', 'from moveit.planning import MoveItPy\n', True),
    ('model', 'from robot_r1_ros.msg import KeypointPrediction\n', True),
    ('ros', 'import rclpy\nimport torch\n', False),
    ('<top>', 'import rclpy\n', True),
    ('motion', 'def f():\n    from robot_r1_ros.sim.ik import solve_ik\n', True),
    ('motion', 'import robot_r1_ros.sim\n', True),
    ('motion', 'import mujoco\n', True),
    ('motion', 'from robot_r1_ros.core.kinematics import Kinematics\n', False),
    ('core', 'from robot_r1_ros.model.step import predict_step\n', True),
    ('core', 'from . import geometry\n', True),
    ('model', 'from robot_r1_ros.training import common\n', True),
    ('sim', 'from robot_r1_ros.motion.types import JointStateSample\n', True),
    ('training', 'from robot_r1_ros.ros import conversions\n', True),
    ('training', 'from robot_r1_ros.sim.scene import PandaScene\n', False),
    ('ros', 'from robot_r1_ros.sim.scene import PandaScene\n', False),
])
def test_layering_rule_catches_violations(tmp_path, layer, source, bad):
    if layer == '<top>':
        (tmp_path / 'mod.py').write_text(source)
    else:
        (tmp_path / layer).mkdir()
        (tmp_path / layer / 'mod.py').write_text(source)
    assert bool(violations(tmp_path)) == bad
