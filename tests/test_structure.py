"""The package stays small in its parts: no module over 500 lines of code,
no class over 300, and the network's forward pass short enough to read as
the sequence of its parts (issue 28). Lines of code are all lines but
docstrings: comments and blank lines count."""

import ast
import inspect
import textwrap
from pathlib import Path

import pytest

import sklstm
from sklstm.nn import RecurrentNetwork

PACKAGE = Path(sklstm.__file__).parent
MAX_MODULE_LINES = 500
MAX_CLASS_LINES = 300


def _docstring_lines(tree):
    lines = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            first = node.body[0] if node.body else None
            if (
                isinstance(first, ast.Expr)
                and isinstance(first.value, ast.Constant)
                and isinstance(first.value.value, str)
            ):
                lines.update(range(first.lineno, first.end_lineno + 1))
    return lines


def code_lines(source):
    """The numbers of the lines of ``source`` that are not docstrings, and its
    syntax tree."""
    tree = ast.parse(source)
    return set(range(1, len(source.splitlines()) + 1)) - _docstring_lines(tree), tree


MODULES = sorted(PACKAGE.rglob("*.py"))


@pytest.mark.parametrize("path", MODULES, ids=[str(p.relative_to(PACKAGE)) for p in MODULES])
def test_modules_and_classes_stay_small(path):
    lines, tree = code_lines(path.read_text())
    assert len(lines) <= MAX_MODULE_LINES, f"{path.name}: {len(lines)} lines of code"
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef):
            n = len([i for i in lines if node.lineno <= i <= node.end_lineno])
            assert n <= MAX_CLASS_LINES, f"{path.name}: {node.name} has {n} lines of code"


def test_the_network_reads_as_its_parts():
    source = inspect.getsource(RecurrentNetwork.forward)
    lines, _ = code_lines(textwrap.dedent(source))
    assert len(lines) <= 30, len(lines)
