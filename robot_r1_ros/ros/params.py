"""Machinery shared by the nodes' parameter modules (``executor_params``, ``reasoning_params``).

Each node module keeps its own :data:`PARAMETERS` list of :class:`ParamSpec` and its config
builder; a :class:`ParamTable` over that list declares the parameters on an rclpy node (with
descriptions, dynamically typed), reads their values back, checks names and types
(:meth:`ParamTable.getter`, so a bad value is a :class:`~robot_r1_ros.core.errors.ConfigError`
naming the parameter) and prints the README table (:meth:`ParamTable.main`).
"""
from __future__ import annotations

from pathlib import Path

import sys
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

from robot_r1_ros.core.errors import ConfigError


@dataclass(frozen=True)
class ParamSpec:
    """One declared parameter.

    Attributes:
        name: Dotted parameter name (YAML nesting gives the dots).
        default: Default value; its Python type is the parameter type (write 1.0 for doubles).
        description: Meaning, unit and special values (shown by ``ros2 param describe`` and in
            the README table).
    """

    name: str
    default: Any
    description: str

    @property
    def type_name(self) -> str:
        """ROS type name: bool, int, double, string, or <type>[] for arrays."""
        value = self.default
        if isinstance(value, (list, tuple)):
            return scalar_type(value[0]) + '[]'
        return scalar_type(value)


def scalar_type(value: Any) -> str:
    """ROS type name of one Python value: bool, int, double or string."""
    if isinstance(value, bool):
        return 'bool'
    if isinstance(value, int):
        return 'int'
    if isinstance(value, float):
        return 'double'
    return 'string'


def coerce(spec: ParamSpec, value: Any) -> Any:
    """Check a value against the parameter's type; ints are accepted for doubles.

    Args:
        spec: The parameter.
        value: Its value (a ROS parameter value, a YAML value or a test's value).

    Returns:
        The value, doubles as ``float`` and arrays as lists.

    Raises:
        ConfigError: Wrong type (the message names the parameter and both types).
    """
    expected = spec.type_name

    def fail() -> ConfigError:
        return ConfigError(f'parameter {spec.name} must be of type {expected}, got {value!r} '
                           f'({type(value).__name__})', spec.name)

    def scalar(kind: str, item: Any) -> Any:
        if kind == 'bool':
            if isinstance(item, bool):
                return item
        elif kind == 'int':
            if isinstance(item, int) and not isinstance(item, bool):
                return item
        elif kind == 'double':
            if isinstance(item, (int, float)) and not isinstance(item, bool):
                return float(item)
        elif isinstance(item, str):
            return item
        raise fail()

    if expected.endswith('[]'):
        if isinstance(value, (str, bytes)) or not hasattr(value, '__iter__'):
            raise fail()
        items = [v.item() if hasattr(v, 'item') else v for v in value]
        return [scalar(expected[:-2], v) for v in items]
    return scalar(expected, value)


def _shown_default(default: Any) -> str:
    """A default as the README table shows it (an empty string in a list as ``''``)."""
    if isinstance(default, str):
        return f'`{default}`' if default else '`""`'
    if isinstance(default, bool):
        return f'`{str(default).lower()}`'
    if isinstance(default, (list, tuple)):
        return '`[' + ', '.join(repr(v) if v == '' else str(v) for v in default) + ']`'
    return f'`{default}`'


class ParamTable:
    """One node's parameter list and the operations on it.

    Args:
        node_name: The node's name, for the unknown-parameter message.
        specs: Every parameter of the node.
    """

    def __init__(self, node_name: str, specs: Sequence[ParamSpec]) -> None:
        self.node_name = node_name
        self.specs = tuple(specs)
        self.by_name = {p.name: p for p in self.specs}

    def getter(self, values: Mapping[str, Any]) -> Callable[[str], Any]:
        """Check parameter values and give a lookup that falls back to the defaults.

        Args:
            values: Parameter name -> value (missing names take their defaults).

        Returns:
            ``name -> value``, each value type-checked by :func:`coerce`.

        Raises:
            ConfigError: An unknown parameter name, or a value of the wrong type (``field`` is
                the parameter).
        """
        unknown = sorted(set(values) - set(self.by_name))
        if unknown:
            raise ConfigError(f'unknown {self.node_name} parameter(s): {", ".join(unknown)}',
                              unknown[0])
        checked = {name: coerce(self.by_name[name], value) for name, value in values.items()}
        return lambda name: checked[name] if name in checked else self.by_name[name].default

    def declare(self, node: Any) -> None:
        """Declare every parameter on an rclpy node (with descriptions)."""
        from rcl_interfaces.msg import ParameterDescriptor

        for spec in self.specs:
            default = list(spec.default) if isinstance(spec.default, tuple) else spec.default
            # dynamic_typing: a YAML `1` for a double reaches coerce() (and a wrong type becomes
            # a ConfigError naming the parameter) instead of aborting the node at declaration.
            node.declare_parameter(spec.name, default,
                                   ParameterDescriptor(description=spec.description,
                                                       dynamic_typing=True))

    def read_values(self, node: Any) -> dict[str, Any]:
        """Current values of every declared parameter (arrays as lists)."""
        out = {}
        for spec in self.specs:
            value = node.get_parameter(spec.name).value
            out[spec.name] = list(value) if isinstance(value, (tuple, list)) or hasattr(
                value, 'tolist') else value
        return out

    def markdown_table(self) -> str:
        """The README table: | name | type | default | meaning |."""
        rows = ['| Parameter | Type | Default | Meaning |', '|---|---|---|---|']
        rows += [f'| `{spec.name}` | {spec.type_name} | {_shown_default(spec.default)} | '
                 f'{spec.description} |' for spec in self.specs]
        return '\n'.join(rows)

    def main(self, argv: Sequence[str] | None = None) -> int:
        """Print the parameter table (markdown)."""
        del argv
        sys.stdout.write(self.markdown_table() + '\n')
        return 0


def params_file_values(path: str | Path, node: str) -> dict[str, Any]:
    """A node's parameters from a ROS parameters file, by dotted name (the ``/**/<node>`` or
    ``<node>`` block's ``ros__parameters``, nested keys joined with dots).

    Raises:
        ConfigError: no block for ``node`` in the file.
    """
    import yaml

    data = yaml.safe_load(Path(path).read_text()) or {}
    block = data.get(f'/**/{node}', data.get(node))
    if not isinstance(block, dict) or not isinstance(block.get('ros__parameters'), dict):
        raise ConfigError(f'{path}: no /**/{node} ros__parameters block', node)

    def flatten(tree: dict, prefix: str = '') -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in tree.items():
            name = f'{prefix}.{key}' if prefix else str(key)
            out.update(flatten(value, name) if isinstance(value, dict) else {name: value})
        return out

    return flatten(block['ros__parameters'])
