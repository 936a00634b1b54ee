"""No module of the package is over 500 lines (a newcomer reads one job per file)."""
from pathlib import Path

PKG = Path(__file__).resolve().parents[1] / 'robot_r1_ros'
MAX_LINES = 500


def test_no_module_over_500_lines():
    sizes = {str(p.relative_to(PKG.parent)): len(p.read_text(encoding='utf-8').splitlines())
             for p in PKG.rglob('*.py')}
    assert {f: n for f, n in sizes.items() if n > MAX_LINES} == {}
