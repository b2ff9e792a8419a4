"""The package's shape: no import cycles, viz independent of report, every module importable on its own."""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Container
from pathlib import Path

import trexplain

ROOT = Path(trexplain.__file__).parent


def _modules() -> dict[str, Path]:
    out = {}
    for path in sorted(ROOT.rglob("*.py")):
        parts = path.relative_to(ROOT.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = path
    return out


def _import_nodes(path: Path, top_level_only: bool) -> list[ast.Import | ast.ImportFrom]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    return [node for node in nodes if isinstance(node, (ast.Import, ast.ImportFrom))]


def _absolute(node: ast.ImportFrom, path: Path, name: str) -> str:
    """The module a `from … import` reads from, relative levels resolved."""
    if not node.level:
        return node.module or ""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    parts = package.split(".")
    return ".".join(parts[: len(parts) - node.level + 1] + ([node.module] if node.module else []))


def _imports(path: Path, name: str, top_level_only: bool = False, modules: Container[str] = ()) -> set[str]:
    """trexplain modules a module imports, at any depth (inside functions too) unless `top_level_only`.

    `from a import b` counts the module a.b when b is one (given `modules`), else a itself (a package whose
    `__init__` defines b). Importing a.b also runs a's `__init__`, but only after a has finished, so that is
    no edge."""
    found = set()
    for node in _import_nodes(path, top_level_only):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
            continue
        base = _absolute(node, path, name)
        for alias in node.names:
            full = f"{base}.{alias.name}"
            found.add(full if full in modules or not modules else base)
            if not modules:
                found.add(base)
    return {m for m in found if m == "trexplain" or m.startswith("trexplain.")}


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {
        name: {m for m in _imports(path, name, False, modules) if m in modules and m != name}
        for name, path in modules.items()
    }


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def _describe(graph: dict[str, set[str]], component: list[str]) -> str:
    members = set(component)
    return "; ".join(f"{m} → {', '.join(sorted(graph[m] & members))}" for m in component)


def test_no_import_cycles_among_modules():
    """Every import counts, also one inside a function, and a module importing from its package's `__init__`."""
    graph = _graph()
    cycles = _cycles(graph)
    assert not cycles, "import cycles:\n" + "\n".join(_describe(graph, c) for c in cycles)


def test_the_cycle_check_sees_imports_inside_functions(tmp_path):
    package = tmp_path / "trexplain"
    package.mkdir()
    (package / "a.py").write_text("def f():\n    from trexplain.b import g\n    return g\n")
    (package / "b.py").write_text("from trexplain import a\n")
    modules = {"trexplain.a": package / "a.py", "trexplain.b": package / "b.py", "trexplain": package}
    graph = {
        n: {m for m in _imports(p, n, False, modules) if m in modules and m != n}
        for n, p in modules.items()
        if n != "trexplain"
    }
    graph["trexplain"] = set()
    assert _cycles(graph) == [["trexplain.a", "trexplain.b"]]
    assert _imports(package / "a.py", "trexplain.a", True, modules) == set()


def _private_imports() -> list[str]:
    """`from trexplain.x import _y` where _y is a name (not a module) of another module."""
    modules = _modules()
    found = []
    for name, path in modules.items():
        for node in _import_nodes(path, False):
            if not isinstance(node, ast.ImportFrom):
                continue
            base = _absolute(node, path, name)
            if not (base == "trexplain" or base.startswith("trexplain.")):
                continue
            for alias in node.names:
                private = alias.name.startswith("_") and not alias.name.startswith("__")
                if private and f"{base}.{alias.name}" not in modules:
                    found.append(f"{name} imports {alias.name} from {base}")
    return found


def test_no_private_name_is_imported_from_another_module():
    found = _private_imports()
    assert not found, "private names imported across modules:\n" + "\n".join(found)


def test_viz_never_imports_report():
    for name, path in _modules().items():
        if name.startswith("trexplain.viz"):
            bad = sorted(m for m in _imports(path, name, False) if m.startswith("trexplain.report"))
            assert not bad, f"{name} imports {bad}: report composes viz, never the reverse"


def test_every_module_imports_alone():
    names = [n for n in _modules() if not n.endswith("__main__")]
    script = (
        "import importlib, sys, traceback\n"
        "failed = []\n"
        f"for name in {names!r}:\n"
        "    for loaded in [m for m in sys.modules if m == 'trexplain' or m.startswith('trexplain.')]:\n"
        "        del sys.modules[loaded]\n"
        "    try:\n"
        "        importlib.import_module(name)\n"
        "    except Exception:\n"
        "        failed.append(name + ': ' + traceback.format_exc(limit=2).splitlines()[-1])\n"
        "print('\\n'.join(failed))\n"
        "sys.exit(1 if failed else 0)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
