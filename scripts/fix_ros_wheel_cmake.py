"""Rewrite the build-machine include paths baked into the ROS 2 wheels' CMake exports.

The `ros-*` wheels are built on manylinux images, and their `*Export.cmake` files point at that
builder's Python and numpy include folders (`/opt/python/cp3XY-.../include/...`). CMake's generate
step then fails for any package that generates interfaces.  This rewrites those paths to the
current interpreter's.  Idempotent: run it after every `pip install ros-...`.
"""
import glob
import os
import re
import sys
import sysconfig

import numpy

_PAT_NUMPY = re.compile(
    r'/opt/python/cp3\d+-cp3\d+t?/lib/python3\.\d+t?/site-packages/numpy/(?:_core|core)/include')
_PAT_PYTHON = re.compile(r'/opt/python/cp3\d+-cp3\d+t?/include/python3\.\d+t?')


def main() -> int:
    share = os.path.join(sys.prefix, 'share')
    py_inc = sysconfig.get_paths()['include']
    np_inc = numpy.get_include()
    patched = 0
    for path in glob.glob(os.path.join(share, '*', 'cmake', '*.cmake')):
        with open(path, encoding='utf-8') as f:
            text = f.read()
        new = _PAT_PYTHON.sub(py_inc, _PAT_NUMPY.sub(np_inc, text))
        if new != text:
            with open(path, 'w', encoding='utf-8') as f:
                f.write(new)
            patched += 1
    sys.stdout.write(f'fix_ros_wheel_cmake: patched {patched} file(s)\n')
    return 0


if __name__ == '__main__':
    sys.exit(main())
