"""Make the simulator unimportable in this process, as on a robot without mujoco and
dm-robotics-panda installed (test helper, not a test module).

:func:`block_simulator` installs a meta-path finder that fails every import of ``mujoco``,
``dm_robotics`` (the dm-robotics-panda wheel), ``mink`` and the package's own ``sim`` layer with
``ModuleNotFoundError``, exactly what a missing wheel raises.
"""
from __future__ import annotations

import importlib.abc
import sys

BLOCKED = ('mujoco', 'dm_robotics', 'mink', 'robot_r1_ros.sim')


class _Blocker(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname, path=None, target=None):  # noqa: D102
        if any(fullname == b or fullname.startswith(b + '.') for b in BLOCKED):
            raise ModuleNotFoundError(f'No module named {fullname!r} (blocked: no simulator '
                                      'on this robot)', name=fullname)
        return None


def block_simulator() -> None:
    """Fail imports of the simulator from now on (already imported ones are an error)."""
    loaded = [m for m in sys.modules if any(m == b or m.startswith(b + '.') for b in BLOCKED)]
    if loaded:
        raise RuntimeError(f'simulator modules already imported: {loaded}')
    sys.meta_path.insert(0, _Blocker())
