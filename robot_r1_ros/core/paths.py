"""Where the source checkout is: the one ``REPO_ROOT`` of the package.

Relative model folders, recipes, configs and the shipped checkpoint are looked up in the working
directory first, then here (the repository the package was imported from). In an installed
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


def resolve_model_path(model_id: str) -> str:
    """A relative folder is looked up in the working directory, then the repository root;
    hub ids and absolute paths are returned unchanged (``~`` expanded)."""
    path = Path(model_id).expanduser()
    if path.is_absolute() or path.exists():
        return str(path)
    candidate = REPO_ROOT / path
    if candidate.exists():
        return str(candidate)
    return model_id
