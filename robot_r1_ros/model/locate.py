"""Where a relative model id (``checkpoints/robot-r1-tiny-learn``) is looked up.

The package installs the checkpoints it ships under ``share/robot_r1_ros/checkpoints`` (CMake
``install(DIRECTORY checkpoints ...)``), so a plain ``colcon build`` works from any directory.
A relative id is tried against, in order: the installed package share (found through the
ament index), the working directory, and the source tree this module lives in (a checkout used
without installing). Absolute paths and ``~`` are used as given; an id found nowhere is returned
unchanged (it may be a hub id), and :func:`searched_paths` lists what was tried for the error.
"""
from __future__ import annotations

from pathlib import Path

PACKAGE = 'robot_r1_ros'
_SOURCE_ROOT = Path(__file__).resolve().parents[2]


def package_share() -> Path | None:
    """``<prefix>/share/robot_r1_ros`` of the installed package, or None (not installed)."""
    try:
        from ament_index_python.packages import (PackageNotFoundError,
                                                 get_package_share_directory)
    except ImportError:
        return None
    try:
        return Path(get_package_share_directory(PACKAGE))
    except (PackageNotFoundError, ValueError, LookupError):
        return None


def search_roots(cwd: Path | None = None) -> list[Path]:
    """Folders a relative model id is resolved against, in order."""
    roots = []
    share = package_share()
    if share is not None:
        roots.append(share)
    roots.append(Path.cwd() if cwd is None else cwd)
    if (_SOURCE_ROOT / 'package.xml').is_file():   # a source checkout, not an install
        roots.append(_SOURCE_ROOT)
    out: list[Path] = []
    for root in roots:
        if root not in out:
            out.append(root)
    return out


def searched_paths(model_id: str, cwd: Path | None = None) -> list[Path]:
    """The candidate folders for ``model_id`` (just the id itself when absolute)."""
    path = Path(model_id).expanduser()
    if path.is_absolute():
        return [path]
    return [root / path for root in search_roots(cwd)]


def resolve_model_path(model_id: str, cwd: Path | None = None) -> str:
    """The first existing candidate of :func:`searched_paths`, else ``model_id`` unchanged."""
    path = Path(model_id).expanduser()
    if path.is_absolute():
        return str(path)
    for candidate in searched_paths(model_id, cwd):
        if candidate.exists():
            return str(candidate)
    return model_id


def not_found_hint(model_id: str) -> str:
    """``looked in: a, b, c`` for an error message."""
    return 'looked in: ' + ', '.join(str(p) for p in searched_paths(model_id))
