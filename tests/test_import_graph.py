"""The package's import graph: acyclic (lazy imports inside functions included), and
every module importable on its own in a fresh interpreter.

A cycle lets a module see a half-initialised neighbour depending on which one a user
imports first; the graph is read from the installed sources with ``ast``, so a new
cycle fails here before it fails for a user.
"""
import ast
import subprocess
import sys
from pathlib import Path

import pytest

import cymlp

PACKAGE = Path(cymlp.__file__).parent
# (``cymlp.__main__`` is ``python -m cymlp``: importing it runs the command)
MODULES = sorted("cymlp" if path.stem == "__init__" else "cymlp." + path.stem
                 for path in PACKAGE.glob("*.py") if path.stem != "__main__")
_COMPILED = {path.name.split(".")[0] for path in PACKAGE.glob("*.so")} | {
    path.name.split(".")[0] for path in PACKAGE.glob("*.pyd")}


def _module_names_in(package_dir):
    return {path.stem for path in package_dir.glob("*.py")} | _COMPILED


def import_graph(package_dir=PACKAGE):
    """``{module: set of cymlp modules it imports}``, every import statement counted
    (module level and inside functions), ``from cymlp import X`` resolved to the
    module ``cymlp.X`` when X is one."""
    names = _module_names_in(package_dir)
    graph = {}
    for path in sorted(package_dir.glob("*.py")):
        module = "cymlp" if path.stem == "__init__" else "cymlp." + path.stem
        targets = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets.update(a.name for a in node.names if a.name.split(".")[0] == "cymlp")
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module \
                    and node.module.split(".")[0] == "cymlp":
                if node.module == "cymlp":
                    targets.update("cymlp." + a.name if a.name in names else "cymlp"
                                   for a in node.names)
                else:
                    targets.add(node.module)
        targets.discard(module)
        graph[module] = targets
    return graph


def find_cycle(graph):
    """One import cycle as a list of modules (first == last), or None."""
    state = {}
    path = []

    def visit(module):
        state[module] = "open"
        path.append(module)
        for target in sorted(graph.get(module, ())):
            if state.get(target) == "open":
                return path[path.index(target):] + [target]
            if target not in state:
                cycle = visit(target)
                if cycle:
                    return cycle
        state[module] = "done"
        path.pop()
        return None

    for module in sorted(graph):
        if module not in state:
            cycle = visit(module)
            if cycle:
                return cycle
    return None


def test_the_finder_sees_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set(), "c": {"a", "b"}}) is None


def test_the_graph_reads_imports_inside_functions(tmp_path):
    (tmp_path / "one.py").write_text("def f():\n    from cymlp import two\n")
    (tmp_path / "two.py").write_text("import cymlp.one\n")
    graph = import_graph(tmp_path)
    assert graph["cymlp.one"] == {"cymlp.two"} and graph["cymlp.two"] == {"cymlp.one"}
    assert find_cycle(graph) == ["cymlp.one", "cymlp.two", "cymlp.one"]


def test_package_import_graph_is_acyclic():
    graph = import_graph()
    assert "cymlp.cli" in graph and "cymlp.estimators" in graph
    assert find_cycle(graph) is None, " -> ".join(find_cycle(graph))


@pytest.mark.parametrize("module", MODULES)
def test_module_imports_in_isolation(module):
    result = subprocess.run([sys.executable, "-c", "import %s" % module],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
