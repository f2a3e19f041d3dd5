"""Doctests of the optional features skip when their extra is not installed."""

import importlib

import pytest

# module of the docstring -> the packages its examples need
_EXTRAS = {
    "sklstm._persistence": ("safetensors",),
    "sklstm._onnx": ("onnx", "onnxruntime"),
}


def _missing(packages):
    missing = []
    for package in packages:
        try:
            importlib.import_module(package)
        except ImportError:
            missing.append(package)
    return missing


def pytest_collection_modifyitems(config, items):
    for item in items:
        if not isinstance(item, pytest.DoctestItem):
            continue
        for module, packages in _EXTRAS.items():
            if not item.name.startswith(module + "."):
                continue
            missing = _missing(packages)
            if missing:
                item.add_marker(
                    pytest.mark.skip(reason=f"needs {', '.join(missing)} (an optional extra)")
                )
