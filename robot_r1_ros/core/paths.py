"""Where the source checkout is: the one ``REPO_ROOT`` of the package.

Relative model folders are looked up in the installed package share (``share/robot_r1_ros``, where
a plain ``colcon build`` installs the shipped checkpoints), then the working directory, then here
(:func:`resolve_model_path`); recipes and configs in the working directory, then here. In an installed
package this folder holds no repository files; lookups then fall through (installed config files
come from the package share, see ``ros/bringup.py``).
"""
from __future__ import annotations

from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parents[1]
"""The ``robot_r1_ros`` package folder."""
REPO_ROOT = PACKAGE_DIR.parent
"""The folder holding the package: the repository root in a source checkout."""


def in_repo(relative: str | Path) -> Path:
    """``relative`` under :data:`REPO_ROOT`."""
    return REPO_ROOT / relative


PACKAGE = 'robot_r1_ros'


def package_share() -> Path | None:
    """``<prefix>/share/robot_r1_ros`` of the installed package (ament index), or None (also
    outside any ROS environment, where the ament index has no search path)."""
    try:
        from ament_index_python.packages import (PackageNotFoundError,
                                                 get_package_share_directory)
    except ImportError:
        return None
    try:
        return Path(get_package_share_directory(PACKAGE))
    # OSError: AMENT_PREFIX_PATH unset (a plain venv shell running an evaluation).
    except (PackageNotFoundError, ValueError, LookupError, OSError):
        return None


def shipped_model_id() -> str:
    """The reasoning node's default ``model.id`` in ``config/franka.yaml`` (the source
    checkout's, else the installed package share's): the shipped checkpoint, a repo-relative
    folder. Tests, the demo's checks and the training card compare against it, so switching the
    shipped model is one config change.

    Raises:
        FileNotFoundError: Neither the checkout nor an installed share has the file.
    """
    import yaml  # config-only dependency; most callers of this module never need it
    share = package_share()
    for root in [REPO_ROOT] + ([share] if share is not None else []):
        path = root / 'config' / 'franka.yaml'
        if path.is_file():
            tree = yaml.safe_load(path.read_text(encoding='utf-8'))
            return str(tree['/**/reasoning_node']['ros__parameters']['model']['id'])
    raise FileNotFoundError(f'config/franka.yaml: not under {REPO_ROOT} nor the package share')


def search_roots(cwd: Path | None = None) -> list[Path]:
    """Folders a relative model id is resolved against, in order: the installed package share
    (a plain ``colcon build`` installs ``checkpoints/`` there), the working directory, and the
    source checkout (only when this package is imported from one)."""
    roots = []
    share = package_share()
    if share is not None:
        roots.append(share)
    roots.append(Path.cwd() if cwd is None else cwd)
    if (REPO_ROOT / 'package.xml').is_file():
        roots.append(REPO_ROOT)
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
    """The first existing candidate of :func:`searched_paths`; hub ids (found nowhere) and
    absolute paths are returned unchanged (``~`` expanded)."""
    path = Path(model_id).expanduser()
    if path.is_absolute():
        return str(path)
    for candidate in searched_paths(model_id, cwd):
        if candidate.exists():
            return str(candidate)
    return model_id


def not_found_hint(model_id: str) -> str:
    """``looked in: a, b, c`` for the error of a missing model folder."""
    return 'looked in: ' + ', '.join(str(p) for p in searched_paths(model_id))
