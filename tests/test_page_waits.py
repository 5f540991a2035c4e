"""No test or benchmark waits on an async page predicate with Playwright's wait_for_function.

Playwright does not await what the predicate returns: an ``async`` function returns a Promise,
which is truthy, so the wait ends at once whatever the page's state (tests/browser/waits.py).
Such a wait has hidden a join still in progress (b77136a) and made a benchmark measure viewers
that had not started (benchmarks/sfu_browser.py). ``wait_true`` polls with ``evaluate``, which
awaits. This reads every ``wait_for_function`` call in tests/ and benchmarks/ and resolves its
predicate (a literal, a concatenation or f-string starting with one, or a module-level string
constant of these files)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOURCES = [ROOT / "tests", ROOT / "benchmarks"]


def _files() -> list[Path]:
    return sorted(p for d in SOURCES for p in d.rglob("*.py"))


def _constants(trees: dict[Path, ast.Module]) -> dict[str, str]:
    """Module-level ``NAME = "..."`` of every file (names are unique enough here)."""
    found: dict[str, str] = {}
    for tree in trees.values():
        for node in tree.body:
            if isinstance(node, ast.Assign) and len(node.targets) == 1:
                target = node.targets[0]
                text = _leading(node.value, {})
                if isinstance(target, ast.Name) and text is not None:
                    found[target.id] = text
    return found


def _leading(node: ast.expr, constants: dict[str, str]) -> str | None:
    """The start of a string expression as far as it is known."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return _leading(node.left, constants)
    if isinstance(node, ast.JoinedStr) and node.values:
        first = node.values[0]
        if isinstance(first, ast.Constant) and isinstance(first.value, str):
            return first.value
        return None
    if isinstance(node, ast.Name):
        return constants.get(node.id)
    return None


def async_waits() -> list[str]:
    trees = {path: ast.parse(path.read_text(), str(path)) for path in _files()}
    constants = _constants(trees)
    bad = []
    for path, tree in trees.items():
        for node in ast.walk(tree):
            if not (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "wait_for_function"
                and node.args
            ):
                continue
            text = _leading(node.args[0], constants)
            if text is not None and text.lstrip().startswith("async"):
                bad.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    return bad


def test_the_scan_finds_an_async_wait() -> None:
    tree = ast.parse('page.wait_for_function("async () => (await f()) > " + str(1))')
    call = tree.body[0].value  # type: ignore[attr-defined]
    assert _leading(call.args[0], {}) == "async () => (await f()) > "


def test_no_wait_for_function_on_an_async_predicate() -> None:
    assert async_waits() == [], "use tests/browser/waits.py wait_true (evaluate awaits)"
