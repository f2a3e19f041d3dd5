"""Optional dependencies (the package's extras), imported on first use."""

import importlib


def import_extra(module, extra, feature):
    """Import ``module``, or raise an ImportError that names the extra to install.

    Parameters
    ----------
    module : str
        The module to import, such as ``"safetensors.torch"``.
    extra : str
        The extra of sklstm that installs it, such as ``"safetensors"``.
    feature : str
        What needs it, for the message, such as ``"sklstm.save"``.

    Examples
    --------
    >>> from sklstm._extras import import_extra
    >>> import_extra("no_such_package", "onnx", "sklstm.to_onnx")
    Traceback (most recent call last):
    ...
    ImportError: sklstm.to_onnx needs the no_such_package package: pip install "sklstm[onnx]"
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        package = module.partition(".")[0]
        raise ImportError(
            f"{feature} needs the {package} package: "
            f'pip install "sklstm[{extra}]"'
        ) from exc
