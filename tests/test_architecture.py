"""The layout's rules, checked on the source: who imports whom, one env setup, a CLI without TensorFlow."""

from __future__ import annotations

import ast
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
KDEDGE_PACKAGES = ("data", "text", "models", "training", "measure", "stages")


def _modules() -> dict[str, Path]:
    out = {}
    for path in sorted((ROOT / "kdedge").rglob("*.py")) + sorted((ROOT / "converters").glob("*.py")):
        name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
        out[name.removesuffix(".__init__")] = path
    return out


def _imports(path: Path) -> set[str]:
    """Every module named by an import statement anywhere in the file (lazy imports included)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
    return names


def _unit(module: str) -> str:
    """The package a module belongs to (kdedge.measure.device.run -> kdedge.measure), or the module itself."""
    parts = module.split(".")
    if parts[0] == "converters":
        return "converters"
    return ".".join(parts[:2]) if len(parts) > 2 or (len(parts) == 2 and parts[1] in KDEDGE_PACKAGES) else module


def _graph() -> dict[str, set[str]]:
    mods = _modules()
    graph = defaultdict(set)
    for name, path in mods.items():
        for target in _imports(path) & set(mods):
            if _unit(target) != _unit(name):
                graph[_unit(name)].add(_unit(target))
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state, stack = {}, []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = "done"
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_no_import_circles_between_packages_or_modules():
    graph = _graph()
    assert "kdedge.stages" not in graph.get("kdedge.measure", set())  # measure (device mode too) never needs a stage
    assert _cycle(graph) is None, " -> ".join(_cycle(graph))


def test_the_cycle_finder_finds_a_planted_cycle():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": {"c"}}) is None


def test_converters_import_nothing_of_kdedge():
    for name, path in _modules().items():
        if name.startswith("converters"):
            assert not any(i == "kdedge" or i.startswith("kdedge.") for i in _imports(path)), name


def test_legacy_keras_is_set_in_exactly_one_place():
    setters = []
    for path in [*ROOT.glob("kdedge/**/*.py"), *ROOT.glob("converters/*.py"), *ROOT.glob("tests/**/*.py"),
                 *ROOT.glob("benchmarks/*.py")]:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and any(isinstance(a, ast.Constant) and a.value == "TF_USE_LEGACY_KERAS"
                                                  for a in node.args):
                if getattr(node.func, "attr", None) in ("setdefault", "__setitem__", "putenv"):
                    setters.append(str(path.relative_to(ROOT)))
            if isinstance(node, ast.Assign) and any(
                    isinstance(t, ast.Subscript) and isinstance(t.slice, ast.Constant)
                    and t.slice.value == "TF_USE_LEGACY_KERAS" for t in node.targets):
                setters.append(str(path.relative_to(ROOT)))
    assert setters == ["kdedge/__init__.py"]


def test_the_cli_and_the_stage_configs_import_no_tensorflow():
    code = ("import sys, kdedge.cli, kdedge.pipeline, kdedge.measure.probe; "
            "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'tf_keras', 'transformers', "
            "'tensorflow_model_optimization', 'keras')); print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
