"""``robot-r1 interfaces``: list and show the package's msg/srv/action definitions.

A stand-in for ``ros2 interface list`` / ``ros2 interface show`` for pip-only installs (ros2cli
is not on PyPI). Definitions are read from the installed ``share/robot_r1_ros`` folder (found
through the ament index, i.e. ``AMENT_PREFIX_PATH``) or, without an install, from the source
tree's ``msg/``, ``srv/`` and ``action/`` folders. Nested types are expanded with one tab of
indentation per level, as ``ros2 interface show`` does (top-level comments kept, nested ones
dropped unless ``--all-comments``); other packages' types (``std_msgs/Header``) are looked up
the same way.

Examples::

    robot-r1 interfaces                       # list the package's interfaces
    robot-r1 interfaces show KeypointPrediction
    robot-r1 interfaces show robot_r1_ros/action/PredictKeypoint --no-comments
    robot-r1 interfaces show geometry_msgs/msg/PoseStamped
    robot-r1 interfaces --all                 # every definition of the package
"""
from __future__ import annotations

import argparse
import os
import re
import sys
from pathlib import Path
from typing import Sequence

from robot_r1_ros.core.paths import REPO_ROOT

PACKAGE = 'robot_r1_ros'
KINDS = ('msg', 'srv', 'action')
_SOURCE_ROOT = REPO_ROOT
_PRIMITIVES = {'bool', 'byte', 'char', 'float32', 'float64', 'int8', 'uint8', 'int16',
               'uint16', 'int32', 'uint32', 'int64', 'uint64', 'string', 'wstring'}
_SEPARATOR = '---'


class InterfaceNotFoundError(LookupError):
    """An interface name that no package folder defines."""


def package_dirs(package: str) -> list[Path]:
    """Folders that may hold ``<kind>/<Type>.<kind>`` files of ``package``, best first.

    The installed share folder (ament index, then each ``AMENT_PREFIX_PATH`` entry and the
    interpreter prefix); for this package also the source tree.
    """
    found: list[Path] = []
    try:
        from ament_index_python.packages import (PackageNotFoundError,
                                                 get_package_share_directory)
        try:
            found.append(Path(get_package_share_directory(package)))
        except (PackageNotFoundError, ValueError, LookupError):
            pass
    except ImportError:
        pass
    prefixes = [p for p in os.environ.get('AMENT_PREFIX_PATH', '').split(os.pathsep) if p]
    prefixes.append(sys.prefix)
    for prefix in prefixes:
        candidate = Path(prefix) / 'share' / package
        if candidate.is_dir() and candidate not in found:
            found.append(candidate)
    if package == PACKAGE and (_SOURCE_ROOT / 'msg').is_dir():
        found.append(_SOURCE_ROOT)
    return found


def list_interfaces(package: str = PACKAGE) -> dict[str, list[str]]:
    """``{'msg': [...], 'srv': [...], 'action': [...]}`` of full names (``pkg/msg/Type``)."""
    out: dict[str, list[str]] = {kind: [] for kind in KINDS}
    for folder in package_dirs(package):
        for kind in KINDS:
            for path in sorted((folder / kind).glob(f'*.{kind}')):
                name = f'{package}/{kind}/{path.stem}'
                if name not in out[kind]:
                    out[kind].append(name)
        if any(out.values()):
            break  # the first folder that has definitions wins (install before source)
    return out


def resolve(name: str) -> tuple[str, str, str, Path]:
    """Find a definition file.

    Args:
        name: ``Type``, ``kind/Type``, ``pkg/Type`` or ``pkg/kind/Type`` (a bare name is looked
            up in this package).

    Returns:
        ``(package, kind, type_name, path)``.

    Raises:
        InterfaceNotFoundError: No such definition (the message lists this package's ones).
    """
    parts = [p for p in name.strip().split('/') if p]
    if len(parts) == 1:
        package, kinds, type_name = PACKAGE, KINDS, parts[0]
    elif len(parts) == 2:
        if parts[0] in KINDS:
            package, kinds, type_name = PACKAGE, (parts[0],), parts[1]
        else:
            package, kinds, type_name = parts[0], KINDS, parts[1]
    elif len(parts) == 3 and parts[1] in KINDS:
        package, kinds, type_name = parts[0], (parts[1],), parts[2]
    else:
        raise InterfaceNotFoundError(f'bad interface name {name!r}; expected Type, kind/Type '
                                     'or package/kind/Type')
    for folder in package_dirs(package):
        for kind in kinds:
            path = folder / kind / f'{type_name}.{kind}'
            if path.is_file():
                return package, kind, type_name, path
    known = ', '.join(n for names in list_interfaces().values() for n in names)
    raise InterfaceNotFoundError(f'unknown interface {name!r} (package {package!r}); '
                                 f'{PACKAGE} has: {known or "none found"}')


def _field_type(line: str) -> str | None:
    """The non-primitive type of a field line (``pkg/Type`` or ``Type``), else None.

    Blank lines, comments and constants (always primitive) give None.
    """
    fields = line.split('#', 1)[0].split()
    if len(fields) < 2:
        return None
    base = re.sub(r'\[[^\]]*\]$', '', fields[0])  # Type[], Type[3], Type[<=3]
    base = re.sub(r'<=\d+$', '', base)  # string<=10
    return None if base in _PRIMITIVES else base


def _strip_comments(lines: list[str]) -> list[str]:
    out = []
    for line in lines:
        text = line.split('#', 1)[0].rstrip()
        if text.strip():
            out.append(text)
    return out


def render(name: str, *, comments: str = 'top', expand: bool = True) -> str:
    """The definition of ``name`` with nested types expanded.

    Args:
        name: See :func:`resolve`.
        comments: ``'top'`` (keep the top level's, as ros2 interface show), ``'all'`` or
            ``'none'``.
        expand: Expand nested types (one tab per level).

    Raises:
        InterfaceNotFoundError: Unknown interface (also for a nested type).
    """
    package, _, _, path = resolve(name)
    lines = path.read_text().splitlines()
    if comments == 'none':
        lines = _strip_comments(lines)
    out: list[str] = []
    for line in lines:
        out.append(line)
        if expand and line.strip() != _SEPARATOR:
            out.extend(_expand(line, package, 1, comments == 'all', ()))
    return '\n'.join(out).rstrip() + '\n'


def _expand(line: str, package: str, depth: int, keep_comments: bool,
            seen: tuple[str, ...]) -> list[str]:
    nested = _field_type(line)
    if nested is None:
        return []
    # `pkg/Type`, or a bare `Type` of the same package
    pkg, type_name = nested.split('/', 1) if '/' in nested else (package, nested)
    full = f'{pkg}/msg/{type_name}'
    if full in seen:  # a recursive definition: show the field, stop expanding
        return []
    _, _, _, path = resolve(full)
    body = path.read_text().splitlines()
    body = body if keep_comments else _strip_comments(body)
    out = []
    for sub in body:
        out.append('\t' * depth + sub)
        out.extend(_expand(sub, pkg, depth + 1, keep_comments, (*seen, full)))
    return out


def main(argv: Sequence[str] | None = None) -> int:
    """CLI entry (``robot-r1 interfaces``)."""
    parser = argparse.ArgumentParser(
        prog='robot-r1 interfaces',
        description='List or show the robot_r1_ros msg/srv/action definitions '
                    '(like ros2 interface list / show).')
    parser.add_argument('--all', action='store_true',
                        help='show every definition of the package')
    sub = parser.add_subparsers(dest='command')
    show = sub.add_parser('show', help='show one definition, nested types expanded')
    show.add_argument('name', help='Type, kind/Type or package/kind/Type '
                                   '(e.g. KeypointPrediction, geometry_msgs/msg/Pose)')
    group = show.add_mutually_exclusive_group()
    group.add_argument('--all-comments', action='store_true',
                       help='keep the comments of nested types too')
    group.add_argument('--no-comments', action='store_true', help='drop every comment')
    show.add_argument('--raw', action='store_true', help='do not expand nested types')
    sub.add_parser('list', help='list the package interfaces (the default)')
    args = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
    try:
        if args.command == 'show':
            comments = 'all' if args.all_comments else 'none' if args.no_comments else 'top'
            sys.stdout.write(render(args.name, comments=comments, expand=not args.raw))
            return 0
        listing = list_interfaces()
        if not any(listing.values()):
            sys.stderr.write('robot-r1 interfaces: no definitions found; run scripts/setup.sh '
                             'or run from the source tree\n')
            return 1
        if args.all:
            names = [n for kind in KINDS for n in listing[kind]]
            for i, name in enumerate(names):
                header = f'# ===== {name} ' + '=' * max(0, 60 - len(name))
                sys.stdout.write(('\n' if i else '') + header + '\n' + render(name))
            return 0
        titles = {'msg': 'Messages', 'srv': 'Services', 'action': 'Actions'}
        for kind in KINDS:
            if listing[kind]:
                sys.stdout.write(f'{titles[kind]}:\n')
                sys.stdout.writelines(f'    {n}\n' for n in listing[kind])
        return 0
    except InterfaceNotFoundError as exc:
        sys.stderr.write(f'robot-r1 interfaces: {exc}\n')
        return 2


if __name__ == '__main__':
    sys.exit(main())
