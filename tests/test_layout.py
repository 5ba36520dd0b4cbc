"""The package's size rules (docs/DEVELOPING.md): no module over 500 lines, no function body over 80 lines. A CLI
command's signature (its option declarations) does not count: only the body after it. And the tests use the
package's public names only: no test imports a private (``_``) helper."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "seq2expr"
TESTS = Path(__file__).resolve().parent
MAX_MODULE_LINES = 500
MAX_FUNCTION_LINES = 80


def oversized(root: Path = PACKAGE) -> list[str]:
    """``path: what`` for every module or function over the limits."""
    found = []
    for path in sorted(root.rglob("*.py")):
        source = path.read_text()
        lines = source.count("\n")
        rel = path.relative_to(root.parent)
        if lines > MAX_MODULE_LINES:
            found.append(f"{rel}: {lines} lines")
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                body = node.end_lineno - node.body[0].lineno + 1
                if body > MAX_FUNCTION_LINES:
                    found.append(f"{rel}:{node.lineno} {node.name}(): {body} lines")
    return found


def test_no_module_or_function_over_the_limits():
    assert oversized() == []


def test_the_check_sees_an_oversized_module_and_function(tmp_path):
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    long_fn = "def f():\n" + "    x = 1\n" * (MAX_FUNCTION_LINES + 1)
    (pkg / "a.py").write_text(long_fn + "\n" * MAX_MODULE_LINES)
    (pkg / "b.py").write_text("def g(\n" + "    a=1,\n" * 200 + "):\n    return a\n")  # a long signature is fine
    assert [s.split(":")[0] for s in oversized(pkg)] == ["pkg/a.py", "pkg/a.py"]


def private_imports(root: Path = TESTS) -> list[str]:
    """``file:line name`` for every ``from seq2expr... import _name`` (or import from a ``_module``) in the tests."""
    found = []
    for path in sorted(root.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            module = (node.module or "") if isinstance(node, ast.ImportFrom) else ""
            if module.split(".")[0] != "seq2expr":
                continue
            private_module = any(part.startswith("_") for part in module.split("."))
            found += [f"{path.name}:{node.lineno} {module}.{alias.name}" for alias in node.names
                      if private_module or alias.name.startswith("_")]
    return found


def test_tests_import_no_private_helper(tmp_path):
    """A test checks what the package offers (a public name, with its docstring), not a private helper."""
    assert private_imports() == []
    (tmp_path / "test_a.py").write_text("from seq2expr.interpret.report import _html, write_report\n"
                                        "def test():\n    from seq2expr.interpret._utils import single\n"
                                        "from numpy import _pytesttester\n")
    assert private_imports(tmp_path) == ["test_a.py:1 seq2expr.interpret.report._html",
                                         "test_a.py:3 seq2expr.interpret._utils.single"]
