"""The file format of :func:`sklstm.save`: JSON plus safetensors, no pickle.

A file is a `safetensors <https://huggingface.co/docs/safetensors>`_ file.
Its tensors are the network's weights (and optionally the optimizer's
state); its metadata holds one JSON document with the format version, the
estimator's class and parameters and its fitted state as declared fields:
each class names what it saves in ``_saved_fields`` (field -> attribute,
merged over its bases), so that no attribute name is part of the format
unless declared, and a private attribute can be renamed without breaking
files. Reading it
parses JSON and raw tensor bytes only: no pickle, no code from the file, and
only the classes the caller lists (``classes``, name -> class) are
constructed. :mod:`sklstm._persistence` (save and load) and
:mod:`sklstm._checkpoint` write and read files through this module.
"""

import json
import os
import warnings

import numpy as np
import torch
from skorch.history import History

from ._compat import param_names, validate_estimator_params
from ._device import check_device
from ._extras import import_extra
from ._files import write_atomically
from ._random import preserved_rng_state
from ._version import __version__

FORMAT = "sklstm"
# 2: the fitted state as declared fields ("fitted"); 1: every attribute ("attrs")
FORMAT_VERSION = 2

# criteria and optimizers a file may name
_CRITERIA = {cls.__name__: cls for cls in (torch.nn.CrossEntropyLoss, torch.nn.MSELoss)}
_TORCH_DTYPES = {
    str(dtype).removeprefix("torch."): dtype
    for dtype in (torch.float32, torch.float16, torch.bfloat16, torch.float64)
}
# numpy dtypes (by kind) an array in the JSON may have; "O" only holds strings
_ARRAY_KINDS = set("biufUO")
# parameters added since files were first written: the value that gives a
# file without one the model it was saved with, and the fitted attribute
# that the value resolves to (None for none)
_ADDED_PARAMETERS = {
    "conv_dilations": ((1,), "conv_dilations_", (1,)),
    "input_differences": (0, "input_differences_", 0),
    "difference_lag": (1, None, None),
}


def saved_fields(cls):
    """The fields a file holds for an object of ``cls``: field name ->
    attribute, as ``cls`` and its bases declare them in ``_saved_fields``."""
    fields = {}
    for klass in reversed(cls.__mro__):
        fields.update(vars(klass).get("_saved_fields", {}))
    return fields


def _safetensors():
    """The safetensors package, or an ImportError that says how to get it."""
    import_extra("safetensors.torch", "safetensors", "sklstm.save and sklstm.load")
    return import_extra("safetensors", "safetensors", "sklstm.save and sklstm.load")


class Encoder:
    """Python values to JSON, with tagged objects for arrays, tuples and the
    few other types that fitted sklstm estimators hold."""

    def __init__(self, tensors, with_optimizer, classes=None):
        self.tensors = tensors  # name -> tensor, for the safetensors part
        self.with_optimizer = with_optimizer
        self.classes = classes or {}  # name -> class of the objects it may store

    def value(self, v, where):
        if v is None or isinstance(v, (bool, str)):
            return v
        if isinstance(v, (int, np.integer)) and not isinstance(v, np.bool_):
            return int(v)
        if isinstance(v, (float, np.floating)):
            return float(v)
        if isinstance(v, np.bool_):
            return bool(v)
        if isinstance(v, (list, tuple)):
            items = [self.value(x, f"{where}[{i}]") for i, x in enumerate(v)]
            return items if isinstance(v, list) else {"__tuple__": items}
        if isinstance(v, dict):
            if not all(isinstance(k, str) for k in v):
                raise TypeError(f"{where} is a dict with keys that are not strings.")
            return {"__dict__": {k: self.value(x, f"{where}[{k!r}]") for k, x in v.items()}}
        if isinstance(v, torch.Tensor):
            return {"__tensor__": self.array(v.detach().cpu().numpy(), where)}
        if isinstance(v, np.ndarray):
            return self.array(v, where)
        if isinstance(v, torch.dtype):
            name = str(v).removeprefix("torch.")
            if name in _TORCH_DTYPES:
                return {"__torch_dtype__": name}
        if isinstance(v, os.PathLike):
            return os.fspath(v)
        if isinstance(v, torch.device):
            return {"__torch_device__": str(v)}
        if isinstance(v, np.random.RandomState):
            return {"__random_state__": self.value(v.get_state(), where)}
        if isinstance(v, type) and issubclass(v, torch.optim.Optimizer):
            if getattr(torch.optim, v.__name__, None) is v:
                return {"__torch_optimizer__": v.__name__}
        if self.classes.get(type(v).__name__) is type(v):
            return self.estimator(v, where)
        raise TypeError(
            f"{where} is a {type(v).__module__}.{type(v).__qualname__}, which "
            "sklstm.save cannot store safely (only numbers, strings, arrays, "
            "lists, dicts, torch optimizers from torch.optim and sklstm's own "
            "objects). Replace it (for example with set_params) before saving, "
            "or keep the estimator with joblib if the file comes only from you."
        )

    def array(self, a, where):
        if a.dtype.kind not in _ARRAY_KINDS or (
            a.dtype.kind == "O" and not all(isinstance(x, str) for x in a.flat)
        ):
            raise TypeError(f"{where} is an array of {a.dtype}, which cannot be saved.")
        return {
            "__ndarray__": a.tolist(),
            "dtype": "object" if a.dtype.kind == "O" else a.dtype.str,
            "shape": list(a.shape),
        }

    def estimator(self, est, where, net=None, without=()):
        """JSON of an estimator: class, parameters (None for those named in
        ``without``), fitted attributes and, for the networks, ``net`` (by
        default its ``net_``)."""
        params = est.get_params(deep=False)
        params.update(dict.fromkeys(set(without) & set(params)))
        doc = {
            "__estimator__": type(est).__name__,
            "params": {k: self.value(v, f"{where}.{k}") for k, v in params.items()},
            "fitted": {
                field: self.value(getattr(est, attr), f"{where}.{attr}")
                for field, attr in saved_fields(type(est)).items()
                if hasattr(est, attr)
            },
        }
        net = getattr(est, "net_", None) if net is None else net
        if net is not None:
            doc["net"] = self.net(net, f"{where}.net_")
            doc["fitted"]["n_iter_"] = len(net.history)
        return doc

    def net(self, net, where):
        module = net.module_
        names = {}  # tensor storage -> first name (tied weights are stored once)
        tied = {}
        for name, t in module.state_dict().items():
            key = (t.untyped_storage().data_ptr(), t.storage_offset(), t.shape)
            if key in names:
                tied[name] = names[key]
                continue
            names[key] = name
            self.tensors[f"module.{name}"] = t.detach().cpu().contiguous()
        doc = {
            "module_params": self.value(net.get_params_for("module"), where),
            "criterion": type(net.criterion_).__name__,
            "criterion_params": self.value(net.get_params_for("criterion"), where),
            "tied": tied,
            # where the shuffling of training batches stands, to go on exactly
            "shuffle_state": self.value(
                getattr(net, "iterator_train__random_state", None), where
            ),
            "history": self.value(list(net.history), f"{where}.history"),
            "optimizer": None,
        }
        if self.with_optimizer:
            state = net.optimizer_.state_dict()
            scalars = {}
            for idx, param_state in state["state"].items():
                for k, v in param_state.items():
                    if isinstance(v, torch.Tensor):
                        self.tensors[f"optimizer.{idx}.{k}"] = v.detach().cpu().contiguous()
                    else:
                        scalars[f"{idx}.{k}"] = self.value(v, where)
            doc["optimizer"] = {
                "param_groups": self.value(state["param_groups"], where),
                "scalars": scalars,
            }
        return doc


def encode(estimator, classes, *, with_optimizer, net=None, without=()):
    """The file's JSON document and tensors for an estimator, which (and
    every estimator it holds) is of one of ``classes`` (see
    :meth:`Encoder.estimator` for ``net`` and ``without``)."""
    tensors = {}
    encoder = Encoder(tensors, with_optimizer=with_optimizer, classes=classes)
    doc = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "sklstm_version": __version__,
        "estimator": encoder.estimator(
            estimator, type(estimator).__name__, net=net, without=without
        ),
    }
    return doc, tensors


def write(doc, tensors, path):
    """Write atomically: to a temporary name, then renamed over ``path``."""
    save_file = _safetensors().torch.save_file
    metadata = {FORMAT: json.dumps(doc)}
    write_atomically(path, lambda tmp: save_file(tensors, tmp, metadata=metadata))


class Decoder:
    """JSON written by :class:`Encoder` back to Python values; anything
    else (an unknown tag, a class not on the list) is an error."""

    def __init__(self, tensors, device, classes=None):
        self.tensors = tensors
        self.device = device
        self.classes = classes or {}  # name -> class of the objects it may build

    def value(self, v):
        if v is None or isinstance(v, (bool, int, float, str)):
            return v
        if isinstance(v, list):
            return [self.value(x) for x in v]
        if not isinstance(v, dict) or len(v) == 0:
            raise ValueError(f"unexpected JSON value {v!r:.80}")
        if "__tuple__" in v:
            return tuple(self.value(x) for x in v["__tuple__"])
        if "__dict__" in v:
            return {str(k): self.value(x) for k, x in v["__dict__"].items()}
        if "__ndarray__" in v:
            return self.array(v)
        if "__tensor__" in v:
            return torch.from_numpy(self.array(v["__tensor__"]))
        if "__torch_dtype__" in v:
            return _TORCH_DTYPES[v["__torch_dtype__"]]
        if "__torch_device__" in v:
            return torch.device(v["__torch_device__"])
        if "__random_state__" in v:
            state = np.random.RandomState()
            state.set_state(self.value(v["__random_state__"]))
            return state
        if "__torch_optimizer__" in v:
            cls = getattr(torch.optim, v["__torch_optimizer__"], None)
            if not (isinstance(cls, type) and issubclass(cls, torch.optim.Optimizer)):
                raise ValueError(f"unknown optimizer {v['__torch_optimizer__']!r}")
            return cls
        if "__estimator__" in v:
            return self.estimator(v)
        raise ValueError(f"unknown tag in {sorted(v)[:3]}")

    @staticmethod
    def array(v):
        dtype = np.dtype(object if v["dtype"] == "object" else v["dtype"])
        if dtype.kind not in _ARRAY_KINDS:
            raise ValueError(f"arrays of {dtype} are not allowed")
        a = np.array(v["__ndarray__"], dtype=dtype).reshape(v["shape"])
        if dtype.kind == "O" and not all(isinstance(x, str) for x in a.flat):
            raise ValueError("object arrays hold strings only")
        return a

    def estimator(self, doc):
        name = doc["__estimator__"]
        classes = self.classes
        if name not in classes:
            raise ValueError(
                f"the file names the class {name!r}, which is not one of sklstm's "
                f"estimators ({', '.join(classes)}); nothing was constructed."
            )
        cls = classes[name]
        params = {k: self.value(v) for k, v in doc["params"].items()}
        added = [
            (name, *values) for name, values in _ADDED_PARAMETERS.items()
            if name not in params and name in param_names(cls)
        ]
        params.update({name: value for name, value, _, _ in added})
        unknown = sorted(set(params) - set(param_names(cls)))
        if unknown:
            raise ValueError(f"{name} has no parameters {unknown}")
        if "device" in params:
            # an explicit device must exist (else fit's error); the saved one
            # falls back to the CPU where it does not
            params["device"] = (
                _available_device(params["device"]) if self.device is None else self.device
            )
        est = cls(**params)
        validate_estimator_params(est)
        fitted = self.fitted(cls, doc)
        for attr, v in fitted.items():
            setattr(est, attr, self.value(v))
        if fitted:
            for _, _, attr, value in added:
                if attr is not None:
                    setattr(est, attr, value)
        if "net" in doc:
            est.net_ = self.net(est, doc["net"])
        return est

    @staticmethod
    def fitted(cls, doc):
        """The fitted state in ``doc``: attribute -> JSON value. Fields are
        those that ``cls`` declares; files of format 1 kept every attribute
        by its name, and the declared ones are read from them."""
        fields = saved_fields(cls)
        if "fitted" in doc:
            unknown = sorted(set(doc["fitted"]) - set(fields))
            if unknown:
                raise ValueError(f"{cls.__name__} has no saved fields {unknown}")
            return {fields[field]: v for field, v in doc["fitted"].items()}
        declared = set(fields.values())
        return {attr: v for attr, v in doc["attrs"].items() if attr in declared}

    def net(self, est, doc):
        if doc["criterion"] not in _CRITERIA:
            raise ValueError(f"unknown criterion {doc['criterion']!r}")
        module_params = self.value(doc["module_params"])
        with preserved_rng_state():
            net = est._new_net(
                module_params,
                _CRITERIA[doc["criterion"]],
                self.value(doc["criterion_params"]),
                seed=0,  # the file's shuffling state replaces the seed's
            )
        self.restore_net(net, doc)
        return net

    def restore_net(self, net, doc):
        """Weights, history, optimizer and shuffling state into a built net."""
        state = self.prefixed("module.")
        for alias, name in doc["tied"].items():
            state[alias] = state[name]
        try:
            net.module_.load_state_dict(state, strict=True)
        except RuntimeError as exc:
            raise ValueError(f"the weights do not fit the network: {exc}") from exc
        net.history_ = History(self.value(doc["history"]))
        shuffle_state = self.value(doc["shuffle_state"])
        if shuffle_state is not None:
            net.iterator_train__random_state.set_state(shuffle_state.get_state())
        if doc["optimizer"] is not None:
            opt_state = {}
            for k, t in self.prefixed("optimizer.").items():
                idx, name = k.split(".", 1)
                opt_state.setdefault(int(idx), {})[name] = t
            for k, v in doc["optimizer"]["scalars"].items():
                idx, name = k.split(".", 1)
                opt_state.setdefault(int(idx), {})[name] = self.value(v)
            groups = self.value(doc["optimizer"]["param_groups"])
            net.optimizer_.load_state_dict({"state": opt_state, "param_groups": groups})

    def prefixed(self, prefix):
        """The tensors whose names start with ``prefix``, without it."""
        return {
            k[len(prefix) :]: t for k, t in self.tensors.items() if k.startswith(prefix)
        }


def _available_device(device):
    """``device`` when torch can use it here, else ``"cpu"`` with a warning
    (a model saved on a GPU loads on a machine without one)."""
    try:
        check_device(device)
    except ValueError as exc:
        warnings.warn(
            f"The model was saved with device={str(device)!r}, which is not "
            f"available here ({exc}); it is loaded on the CPU (device='cpu'). "
            "Pass device= to sklstm.load to choose another.",
            UserWarning,
        )
        return "cpu"
    return device


def read(path, name=None):
    """The JSON document and the tensors of a file written by :func:`save`,
    or a ValueError; nothing but JSON and raw tensor data is parsed.
    ``name`` stands for the file in messages (default: ``path``)."""
    safetensors = _safetensors()
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"No file at {path!r}.")
    name = path if name is None else name
    try:
        with safetensors.safe_open(path, framework="pt", device="cpu") as f:
            metadata = f.metadata() or {}
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except (safetensors.SafetensorError, OSError, ValueError, RuntimeError) as exc:
        raise ValueError(
            f"{name!r} is not a file written by sklstm.save (it cannot be read "
            f"as safetensors: {exc}). Files from pickle or joblib are never "
            "loaded by sklstm.load; load those with joblib only if you trust "
            "their source."
        ) from exc
    try:
        doc = json.loads(metadata[FORMAT])
    except (KeyError, json.JSONDecodeError) as exc:
        raise ValueError(
            f"{name!r} is a safetensors file but not one written by "
            f"sklstm.save (no valid {FORMAT!r} metadata: {exc!r})."
        ) from exc
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise ValueError(f"{name!r} is not a file written by sklstm.save.")
    version = doc.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise ValueError(
            f"{name!r} has format version {version!r}, newer than this sklstm "
            f"reads ({FORMAT_VERSION}); it was written by sklstm "
            f"{doc.get('sklstm_version')}. Upgrade sklstm to load it."
        )
    return doc, tensors


def damaged(path, exc):
    return ValueError(
        f"{os.fspath(path)!r} cannot be loaded: {exc}. The file is damaged or "
        "was not written by sklstm.save; nothing from it was run."
    )


