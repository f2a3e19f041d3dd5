"""Private names of other libraries are used in sklstm/_compat.py only."""

import ast
from pathlib import Path

import sklstm

PACKAGE = Path(sklstm.__file__).parent
OTHERS = ("sklearn", "skorch", "torch", "numpy", "pandas", "scipy", "accelerate")


def _private_uses(tree):
    """``from other._x import y``, ``from other import _y`` and
    ``other.x._y`` in one module's syntax tree."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 0:
            parts = node.module.split(".")
            if parts[0] in OTHERS:
                names = [a.name for a in node.names]
                if any(p.startswith("_") for p in parts) or any(
                    n.startswith("_") for n in names
                ):
                    found.append(f"from {node.module} import {', '.join(names)}")
        elif isinstance(node, ast.Attribute) and node.attr.startswith("_"):
            if node.attr.startswith("__"):
                continue
            chain, value = [node.attr], node.value
            while isinstance(value, ast.Attribute):
                chain.append(value.attr)
                value = value.value
            if isinstance(value, ast.Name) and value.id in OTHERS + ("np", "pd", "F", "nn"):
                found.append(".".join([value.id, *reversed(chain)]))
    return found


def test_private_names_only_in_compat():
    offenders = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.name == "_compat.py":
            continue
        uses = _private_uses(ast.parse(path.read_text()))
        if uses:
            offenders[str(path.relative_to(PACKAGE))] = uses
    assert offenders == {}


def test_the_scan_finds_private_names():
    tree = ast.parse(
        "from sklearn.base import _fit_context\n"
        "from sklearn.utils._param_validation import Interval\n"
        "rng = np.random.mtrand._rand\n"
    )
    assert len(_private_uses(tree)) == 3
