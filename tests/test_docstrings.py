"""The public API's docstrings follow numpydoc: every parameter
documented, with a description, in the signature's order; every
re-exported class and function shows an example (run as a doctest)."""

import inspect

import pytest

numpydoc_validate = pytest.importorskip(
    "numpydoc.validate", reason="numpydoc is not installed (the docs extra)"
)

import sklstm  # noqa: E402
import sklstm.datasets  # noqa: E402
import sklstm.nn  # noqa: E402
import sklstm.preprocessing  # noqa: E402

# documented, undocumented, misordered or unexplained parameters; a
# malformed parameter entry; a returned value unexplained; sections out of
# numpydoc's order; no docstring
CHECKS = {"PR01", "PR02", "PR03", "PR04", "PR07", "PR10", "RT03", "GL07", "GL08"}


MODULES = (sklstm, sklstm.preprocessing, sklstm.datasets, sklstm.nn)


def _exported():
    """The re-exported classes and functions, with the module that exports them."""
    return [
        (module, obj)
        for module in MODULES
        for obj in map(module.__dict__.get, module.__all__)
        if callable(obj) and hasattr(obj, "__qualname__")
    ]


def _name(obj):
    return f"{obj.__module__}.{obj.__qualname__}"


def _public_objects():
    """The re-exported objects, and the public methods of the estimators and
    transformers (the torch modules' ``forward`` is described in prose)."""
    names = []
    for module, obj in _exported():
        names.append(_name(obj))
        if inspect.isclass(obj) and module is not sklstm.nn:
            names += [
                f"{_name(obj)}.{method}" for method, value in vars(obj).items()
                if callable(value) and not method.startswith("_")
            ]
    return sorted(set(names))


@pytest.mark.parametrize("name", _public_objects())
def test_public_docstrings(name):
    errors = [
        f"{code}: {message}"
        for code, message in numpydoc_validate.validate(name)["errors"]
        if code in CHECKS
    ]
    assert not errors, "\n".join(errors)


@pytest.mark.parametrize("name", sorted({_name(obj) for _, obj in _exported()}))
def test_exported_objects_show_an_example(name):
    errors = numpydoc_validate.validate(name)["errors"]
    assert "EX01" not in [code for code, _ in errors], f"{name} has no Examples section"
