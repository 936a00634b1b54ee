"""The machinery of the frozen config dataclasses (``core.config``, ``core.remote_config``):
type coercion of ROS-parameter / YAML values, ``from_dict`` (nested or dotted keys) and
``to_dict``, and the check helpers whose errors name the field's dotted path."""
from __future__ import annotations

import dataclasses
import functools
import math
import types
import typing
from typing import Any, ClassVar, Mapping

from robot_r1_ros.core.errors import ConfigError


def _fail(path: str, message: str) -> ConfigError:
    return ConfigError(f'{path}: {message}', path)


class _Config:
    """Mixin: type coercion, ``from_dict`` and ``to_dict`` for the config dataclasses."""

    _FIELD_PREFIX: ClassVar[str] = ''
    """Prefix of the field names in errors (``'generation.'``: the group is always called so)."""

    def __post_init__(self) -> None:
        hints = _hints(type(self))
        try:
            for f in dataclasses.fields(self):  # type: ignore[arg-type]
                value = _coerce(getattr(self, f.name), hints[f.name], f.name)
                object.__setattr__(self, f.name, value)
            self._validate()
        except ConfigError as exc:
            prefix = self._FIELD_PREFIX
            if prefix and not exc.field.startswith(prefix):
                raise _fail(prefix + exc.field, str(exc).split(': ', 1)[-1]) from None
            raise

    def _validate(self) -> None:
        """Field checks beyond types (overridden per class)."""

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None = None, **overrides: Any) -> Any:
        """Build from nested and/or dotted keys; unknown keys raise :class:`ConfigError`.

        Args:
            data: e.g. ``{'model': {'dtype': 'bfloat16'}, 'generation.max_new_tokens': 64}``.
            **overrides: Top-level fields (applied after ``data``).
        """
        return _from_dict(cls, {**(data or {}), **overrides}, cls._FIELD_PREFIX)

    def to_dict(self) -> dict[str, Any]:
        """Flat dotted dict of all values (tuples become lists), e.g. ``{'model.dtype': ...}``."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            value = getattr(self, f.name)
            if isinstance(value, _Config):
                out.update({f'{f.name}.{k}': v for k, v in value.to_dict().items()})
            elif isinstance(value, tuple):
                out[f.name] = list(value)
            else:
                out[f.name] = value
        return out

    def replace(self, **changes: Any) -> Any:
        """A validated copy with some fields changed."""
        return dataclasses.replace(self, **changes)  # type: ignore[type-var]


@functools.lru_cache(maxsize=None)
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _from_dict(cls: type, data: Mapping[str, Any], prefix: str) -> Any:
    if not isinstance(data, Mapping):
        raise _fail(prefix.rstrip('.') or cls.__name__, f'expected a mapping, got {data!r}')
    names = {f.name: f for f in dataclasses.fields(cls)}
    hints = _hints(cls)
    nested: dict[str, dict[str, Any]] = {}
    kwargs: dict[str, Any] = {}
    for key, value in data.items():
        head, _, rest = str(key).partition('.')
        if head not in names:
            valid = ', '.join(sorted(names))
            raise _fail(prefix + str(key), f'unknown setting; valid names here: {valid}')
        sub = _config_class(hints[head])
        if rest:
            if sub is None:
                raise _fail(prefix + str(key), f'{head} has no sub-settings')
            nested.setdefault(head, {})[rest] = value
        elif sub is not None and isinstance(value, Mapping):
            nested.setdefault(head, {}).update(value)
        else:
            kwargs[head] = value
    for head, values in nested.items():
        sub = _config_class(hints[head])
        if head in kwargs:
            raise _fail(prefix + head, 'given both as a whole and as sub-settings')
        kwargs[head] = _from_dict(sub, values, f'{prefix}{head}.')  # type: ignore[arg-type]
    try:
        return cls(**kwargs)
    except ConfigError as exc:
        if prefix and not exc.field.startswith(prefix):
            raise _fail(prefix + exc.field, str(exc).split(': ', 1)[-1]) from None
        raise


def _config_class(hint: Any) -> type | None:
    return hint if isinstance(hint, type) and issubclass(hint, _Config) else None


def _coerce(value: Any, hint: Any, path: str) -> Any:
    """Convert ``value`` to the annotated type or raise ConfigError naming ``path``."""
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return _coerce(value, inner[0], path)
    sub = _config_class(hint)
    if sub is not None:
        if isinstance(value, sub):
            return value
        if isinstance(value, Mapping):
            return _from_dict(sub, value, path + '.')
        raise _fail(path, f'expected {sub.__name__} or a mapping, got {value!r}')
    if hint is bool:
        if isinstance(value, bool):
            return value
        raise _fail(path, f'expected true or false, got {value!r}')
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or (
                isinstance(value, float) and not value.is_integer()):
            raise _fail(path, f'expected an integer, got {value!r}')
        return int(value)
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise _fail(path, f'expected a number, got {value!r}')
        if not math.isfinite(value):
            raise _fail(path, f'expected a finite number, got {value!r}')
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            raise _fail(path, f'expected a string, got {value!r}')
        return value
    if origin is tuple:
        if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)):
            raise _fail(path, f'expected a list, got {value!r}')
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_coerce(v, args[0], f'{path}[{i}]') for i, v in enumerate(value))
        if len(value) != len(args):
            raise _fail(path, f'expected {len(args)} values, got {len(value)}')
        return tuple(_coerce(v, a, f'{path}[{i}]') for i, (v, a) in enumerate(zip(value, args)))
    return value


def _check(condition: bool, path: str, message: str) -> None:
    if not condition:
        raise _fail(path, message)


def _one_of(value: str, choices: tuple[str, ...], path: str) -> None:
    _check(value in choices, path, f'must be one of {", ".join(choices)}; got {value!r}')
