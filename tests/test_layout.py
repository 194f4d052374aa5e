"""The shape of the code base: module and function sizes, the CLI boundary, no import cycles,
docstrings on every public definition, and MATH.md's references to code that exists."""
from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = {"endorm": ROOT / "src" / "endorm", "endorm.tabular": ROOT / "tabular", "endorm.llm": ROOT / "llm"}
MAX_MODULE_LINES, MAX_FUNCTION_LINES = 400, 60


def _modules():
    """(dotted module name, path) of every module of the package (endorm.paper_figures aside)."""
    out = {}
    for prefix, folder in PACKAGES.items():
        for path in sorted(folder.rglob("*.py")):
            rel = path.relative_to(folder).with_suffix("")
            parts = [p for p in rel.parts if p != "__init__"]
            out[".".join([prefix, *parts])] = path
    for mod in [m for m in out if m.startswith("endorm.tabular") or m.startswith("endorm.llm")]:
        if out[mod].is_relative_to(PACKAGES["endorm"]):
            del out[mod]
    return out


MODULES = _modules()


def test_the_tree_is_what_the_layout_names():
    assert {"endorm.cli", "endorm.formulas", "endorm.llm.options", "endorm.llm.reward", "endorm.llm.runs",
            "endorm.llm.bench.run", "endorm.llm.math.run", "endorm.llm.rl.train", "endorm.llm.world.demo",
            "endorm.tabular.rewards"} <= set(MODULES)


def _code_lines(fn) -> int:
    """Lines of a function without its docstring."""
    body = fn.body
    doc = body[0].end_lineno - body[0].lineno + 1 if ast.get_docstring(fn) else 0
    return fn.end_lineno - fn.lineno + 1 - doc


@pytest.mark.parametrize("name", sorted(MODULES))
def test_module_and_function_sizes(name):
    path = MODULES[name]
    text = path.read_text()
    assert text.count("\n") <= MAX_MODULE_LINES, f"{path}: {text.count(chr(10))} lines"
    long = [(n.name, _code_lines(n)) for n in ast.walk(ast.parse(text))
            if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and _code_lines(n) > MAX_FUNCTION_LINES]
    assert not long, f"{path}: functions over {MAX_FUNCTION_LINES} lines: {long}"


def _imports(name: str, path: Path) -> set:
    """The endorm modules ``name`` imports (at any depth of the file), resolved."""
    out, pkg = set(), name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.startswith("endorm")}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(pkg.split(".")[:len(pkg.split(".")) - node.level + 1] + ([base] if base else []))
            if base.startswith("endorm"):
                out |= {f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base for a in node.names}
    return {m for m in out if m in MODULES and m != name}


def test_only_the_cli_package_imports_argparse():
    users = [n for n, p in MODULES.items() if re.search(r"^\s*(import argparse|from argparse)", p.read_text(), re.M)]
    assert users and all(n.startswith("endorm.cli") for n in users), users


def test_no_import_cycle():
    """Module-level and function-level imports alike, except a package's own __init__ re-exports."""
    graph = {n: {m for m in _imports(n, p) if not (m.startswith(n + ".") and p.name == "__init__.py")}
             for n, p in MODULES.items()}
    graph = {n: {m for m in deps if not n.startswith(m + ".")} for n, deps in graph.items()}  # parent packages
    state, stack = {}, []

    def visit(n):
        state[n] = 1
        stack.append(n)
        for m in graph[n]:
            if state.get(m) == 1:
                raise AssertionError("import cycle: " + " -> ".join(stack[stack.index(m):] + [m]))
            if m not in state:
                visit(m)
        stack.pop()
        state[n] = 2

    for n in graph:
        if n not in state:
            visit(n)


@pytest.mark.parametrize("name", sorted(MODULES))
def test_every_public_definition_has_a_docstring(name):
    tree = ast.parse(MODULES[name].read_text())  # module-level definitions and their methods (not closures)
    defs = [n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))]
    defs += [m for c in defs if isinstance(c, ast.ClassDef) for m in c.body if isinstance(m, ast.FunctionDef)]
    missing = [n.name for n in defs if not n.name.startswith("_") and not ast.get_docstring(n)]
    assert not missing, f"{MODULES[name]}: no docstring: {missing}"


def _resolves(path: Path, dotted: str) -> bool:
    scope = ast.parse(path.read_text()).body
    for part in dotted.split("."):
        found = None
        for node in scope:
            names = [node.name] if isinstance(node, (ast.FunctionDef, ast.ClassDef, ast.AsyncFunctionDef)) else \
                [t.id for t in getattr(node, "targets", []) if isinstance(t, ast.Name)] + \
                ([node.target.id] if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) else [])
            if part in names:
                found = node
        if found is None:
            return False
        scope = getattr(found, "body", [])
    return True


def test_math_md_names_only_code_that_exists():
    text = (ROOT / "MATH.md").read_text()
    refs = re.findall(r"`([\w/.]+\.py)::([\w.]+)`", text)
    assert len(refs) >= 40, "MATH.md should map every equation and symbol to code"
    bad = [f"{f}::{n}" for f, n in refs if not (ROOT / f).is_file() or not _resolves(ROOT / f, n)]
    assert not bad, f"MATH.md names code that does not exist: {bad}"
    for eq in [f"Eq. {k}" for k in range(1, 14)] + ["Appendix C", "Theorem 1", "Theorem 2", "Proposition 1", "4.3"]:
        assert eq in text, f"MATH.md does not cover {eq}"
