"""No import circles between the package's modules (lazy imports inside functions count: a
circle there is still two modules that each need the other; imports under ``if TYPE_CHECKING:``
are for annotations only and do not)."""
from __future__ import annotations

import ast
from pathlib import Path

PKG = Path(__file__).resolve().parents[1] / 'robot_r1_ros'


def _module_name(path: Path, root: Path) -> str:
    rel = path.relative_to(root.parent).with_suffix('')
    parts = list(rel.parts)
    if parts[-1] == '__init__':
        parts.pop()
    return '.'.join(parts)


def import_graph(root: Path = PKG) -> dict[str, set[str]]:
    """Module -> the package modules it imports (anywhere in the file)."""
    files = {_module_name(p, root): p for p in root.rglob('*.py')}
    graph: dict[str, set[str]] = {}
    for name, path in files.items():
        targets: set[str] = set()
        tree = ast.parse(path.read_text(encoding='utf-8'))
        typing_only = {id(n) for stmt in ast.walk(tree) if isinstance(stmt, ast.If)
                       and getattr(stmt.test, 'id', getattr(stmt.test, 'attr', '')) ==
                       'TYPE_CHECKING' for n in ast.walk(stmt)}
        for node in ast.walk(tree):
            if id(node) in typing_only:
                continue
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [f'{node.module}.{a.name}' for a in node.names] + [node.module]
            for n in names:
                if n in files and n != name and not path.name == '__init__.py':
                    targets.add(n)
        graph[name] = targets
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_no_import_circles():
    assert cycles(import_graph()) == []


def test_the_check_finds_a_circle(tmp_path):
    pkg = tmp_path / 'robot_r1_ros'
    (pkg / 'model').mkdir(parents=True)
    (pkg / 'model' / 'a.py').write_text('from robot_r1_ros.model.b import x\n')
    (pkg / 'model' / 'b.py').write_text('def f():\n    from robot_r1_ros.model import a\n')
    assert cycles(import_graph(pkg)) == [['robot_r1_ros.model.a', 'robot_r1_ros.model.b']]


def test_annotation_only_imports_do_not_count(tmp_path):
    pkg = tmp_path / 'robot_r1_ros'
    (pkg / 'core').mkdir(parents=True)
    (pkg / 'core' / 'a.py').write_text('from robot_r1_ros.core.b import x\n')
    (pkg / 'core' / 'b.py').write_text('from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n'
                                       '    from robot_r1_ros.core.a import A\n')
    assert cycles(import_graph(pkg)) == []
