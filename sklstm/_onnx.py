"""Export of a fitted estimator's prediction path to ONNX."""

import copy
import io
import json
import warnings

import numpy as np
import torch
from sklearn.utils.validation import check_is_fitted
from torch import nn

from ._classifier import SequenceClassifier
from ._extras import import_extra
from ._files import check_writable_path, write_atomically
from ._language_model import SequenceLanguageModel
from ._regressor import SequenceRegressor
from ._tagger import SequenceTagger

# the newest opset the TorchScript-based exporter writes for these networks
_OPSET = 17


def _onnx():
    return import_extra("onnx", "onnx", "sklstm.to_onnx")


class _Probabilities(nn.Module):
    """Network -> softmax over its last axis (classes)."""

    def __init__(self, network):
        super().__init__()
        self.network = network

    def forward(self, X, lengths):
        return torch.softmax(self.network(X, lengths), dim=-1)


class _StepProbabilities(_Probabilities):
    """Per-step network -> softmax over classes, zero past each sequence's end."""

    def forward(self, X, lengths):
        proba = super().forward(X, lengths)
        steps = torch.arange(proba.shape[1], device=proba.device)
        return proba * (steps < lengths[:, None])[..., None].to(proba.dtype)


class _Unscaled(nn.Module):
    """Network -> regression values in the targets' original units."""

    def __init__(self, network, mean, scale, one_d):
        super().__init__()
        self.network = network
        self.register_buffer("mean", torch.as_tensor(mean, dtype=torch.float32))
        self.register_buffer("scale", torch.as_tensor(scale, dtype=torch.float32))
        self.one_d = one_d

    def forward(self, X, lengths):
        out = self.network(X, lengths) * self.scale + self.mean
        return out[:, 0] if self.one_d else out


class _NextWord(nn.Module):
    """Language model: token ids and state -> next-word log-probabilities and
    the state after the last step."""

    def __init__(self, network, lstm):
        super().__init__()
        self.network = network
        self.lstm = lstm

    def forward(self, tokens, *state):
        state = tuple(state) if self.lstm else state[0]
        out, state = self.network(tokens, state=state, return_state=True)
        if self.network.softmax_cutoff is None:
            out = torch.log_softmax(out, dim=-1)
        return (out, *state) if self.lstm else (out, state)


def _fold_input_scaling(network):
    """Fold each network's input standardisation into the input weights of
    its first recurrent layer, where that layer reads the scaled input
    directly (no convolutional front-end): ``W (x - m) / s + b`` is
    ``(W / s) x + (b - W m / s)``. The graph loses two operations over the
    whole input; the outputs agree with torch's to float32 rounding.
    Padded steps stay unread, as before."""
    for net in getattr(network, "networks", [network]):
        layer = net.rnn.layers[0]
        scaler = getattr(net.inputs, "scaler", None)
        # (the summary path reads the standardised input too)
        if scaler is None or net.frontend is not None or not layer.bias or net.summary is not None:
            continue
        mean, scale = scaler.mean.double(), scaler.scale.double()
        with torch.no_grad():
            for suffix in ("", "_reverse") if layer.bidirectional else ("",):
                weight = getattr(layer, f"weight_ih_l0{suffix}")
                bias = getattr(layer, f"bias_ih_l0{suffix}")
                folded = weight.double() / scale
                bias.copy_(bias.double() - folded @ mean)
                weight.copy_(folded)
        net.inputs.scaler = None


def _fuse_output_transposes(model):
    """One transpose, not two, from a bidirectional recurrent node's output
    to the batch-first layout the rest of the graph reads.

    The exporter turns the ``LSTM``/``GRU`` node's output ``Y`` of shape
    ``(time, 2, batch, hidden)`` into ``(batch, time, 2 * hidden)`` with a
    ``Transpose`` to ``(time, batch, 2, hidden)``, a ``Reshape`` and a second
    ``Transpose``; each moves the whole output through memory (together
    about a tenth of the graph's time on the bit-counting benchmark). One
    ``Transpose`` straight to ``(batch, time, 2, hidden)`` and the
    ``Reshape`` give the same tensor. Chains of any other shape stay.
    """
    onnx = _onnx()
    graph = model.graph
    nodes = list(graph.node)
    users, constants = {}, {}
    for node in nodes:
        for name in node.input:
            users.setdefault(name, []).append(node)
        if node.op_type == "Constant" and node.attribute[0].name == "value":
            constants[node.output[0]] = onnx.numpy_helper.to_array(node.attribute[0].t)

    def only_user(name, op_type, **attrs):
        found = users.get(name, [])
        if len(found) != 1 or found[0].op_type != op_type:
            return None
        values = {a.name: onnx.helper.get_attribute_value(a) for a in found[0].attribute}
        if any(list(values.get(k, [])) != v for k, v in attrs.items()):
            return None
        return found[0]

    replaced, dropped = {}, set()
    for node in nodes:
        if node.op_type not in ("LSTM", "GRU"):
            continue
        first = only_user(node.output[0], "Transpose", perm=[0, 2, 1, 3])
        reshape = first and only_user(first.output[0], "Reshape")
        second = reshape and only_user(reshape.output[0], "Transpose", perm=[1, 0, 2])
        shape = constants.get(reshape.input[1]) if reshape else None
        if second is None or shape is None or list(shape) != [0, 0, -1]:
            continue
        # the new nodes take the second transpose's place, after the shape
        # constant; the first transpose and the reshape go
        replaced[id(second)] = [
            onnx.helper.make_node(
                "Transpose", [node.output[0]], [first.output[0]], perm=[2, 0, 1, 3]
            ),
            onnx.helper.make_node("Reshape", [first.output[0], reshape.input[1]],
                                  [second.output[0]]),
        ]
        dropped.update({id(first), id(reshape)})
    kept = []
    for node in nodes:
        if id(node) in replaced:
            kept.extend(replaced[id(node)])
        elif id(node) not in dropped:
            kept.append(node)
    del graph.node[:]
    graph.node.extend(kept)


def _string_or_number_tensor(values, name):
    """An ONNX constant holding class labels (numbers or strings)."""
    onnx = _onnx()
    values = np.asarray(values)
    if values.dtype.kind in "OUS":
        return onnx.helper.make_tensor(
            name,
            onnx.TensorProto.STRING,
            [len(values)],
            [str(v).encode() for v in values],
        )
    if values.dtype.kind == "b":
        values = values.astype(np.bool_)
    elif values.dtype.kind in "iu":
        values = values.astype(np.int64)
    else:
        values = values.astype(np.float64)
    return onnx.numpy_helper.from_array(values, name)


def _add_labels(model, probabilities, labels_name, classes, axis):
    """Append ArgMax over ``probabilities`` and a lookup in ``classes``."""
    onnx = _onnx()
    helper = onnx.helper
    graph = model.graph
    graph.initializer.append(_string_or_number_tensor(classes, "classes"))
    graph.node.extend(
        [
            helper.make_node(
                "ArgMax", [probabilities], ["label_index"], axis=axis, keepdims=0
            ),
            helper.make_node("Gather", ["classes", "label_index"], [labels_name], axis=0),
        ]
    )
    elem_type = graph.initializer[-1].data_type
    shape = ["batch"] if axis == 1 else ["batch", "time"]
    graph.output.append(helper.make_tensor_value_info(labels_name, elem_type, shape))


def to_onnx(estimator, path):
    """Export a fitted estimator's prediction path as an ONNX model.

    The graph takes padded sequences with their lengths, batch size and
    length dynamic, and returns what the estimator's predict methods return;
    a sequence's outputs never depend on the padding or on the other
    sequences of its batch, as in torch. The input standardisation
    (``standardize=True``) is inside the graph, and so is the regressor's
    return to the targets' units. Run it with ONNX Runtime::

        import onnxruntime
        session = onnxruntime.InferenceSession(path)
        proba, labels = session.run(None, {"X": X_padded, "lengths": lengths})

    Inputs and outputs by estimator:

    * :class:`SequenceClassifier`: ``X`` float32 ``(batch, time, n_features)``
      (token ids int64 ``(batch, time)`` for text), ``lengths`` int64
      ``(batch,)``; outputs ``probabilities`` ``(batch, n_classes)``, columns
      in the order of ``classes_``, and ``label`` ``(batch,)``, the predicted
      class labels themselves (numbers or strings).
    * :class:`SequenceRegressor`: same inputs; output ``predictions``
      ``(batch,)`` or ``(batch, n_outputs)``, as ``predict`` returns them.
    * :class:`SequenceTagger`: same inputs; outputs ``probabilities``
      ``(batch, time, n_classes)`` (zero past each sequence's length) and
      ``labels`` ``(batch, time)`` (past the length: padding to ignore).
    * :class:`SequenceLanguageModel`: ``tokens`` int64 ``(batch, time)`` and the
      recurrent state to start from (``h0``, and ``c0`` for an LSTM, each
      ``(num_layers, batch, num_hidden)``; zeros at the start of a text);
      outputs ``log_probabilities`` ``(batch, time, n_tokens)`` of the next
      word at every step, and the state after the last step (``hn``, ``cn``)
      to carry into the next call.

    Text goes in as token ids: the vocabulary (``tokens_``, in id order; id 0
    is ``<unk>``) is saved in the model's metadata under ``"tokens"``, beside
    ``"classes"`` (JSON) and ``"sklstm_class"``; read them with
    ``session.get_modelmeta().custom_metadata_map``.

    The export uses PyTorch's TorchScript-based exporter (``dynamo=False``):
    the newer exporter cannot yet trace the packing of variable-length
    sequences that the bidirectional networks need (pytorch #112044).

    Parameters
    ----------
    estimator : fitted SequenceClassifier, SequenceRegressor, SequenceTagger \
            or SequenceLanguageModel
        The estimator whose prediction path is exported.
    path : str or path-like
        Where to write the ``.onnx`` file (weights included, one file).

    Returns
    -------
    path : str
        The path written.

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np, sklstm
    >>> from sklstm import SequenceClassifier
    >>> X = np.random.RandomState(0).rand(20, 6, 2).astype(np.float32)
    >>> y = np.where(X.sum(axis=(1, 2)) > 6, "high", "low")
    >>> clf = SequenceClassifier(max_epochs=2, random_state=0).fit(X, y)
    >>> path = sklstm.to_onnx(clf, os.path.join(tempfile.mkdtemp(), "clf.onnx"))
    >>> import onnxruntime
    >>> session = onnxruntime.InferenceSession(path)
    >>> proba, label = session.run(None, {"X": X, "lengths": np.full(20, 6)})
    >>> bool((label == clf.predict(X)).all())
    True
    """
    kinds = (SequenceClassifier, SequenceRegressor, SequenceTagger, SequenceLanguageModel)
    if not isinstance(estimator, kinds):
        raise TypeError(
            "sklstm.to_onnx exports SequenceClassifier, SequenceRegressor, "
            f"SequenceTagger and SequenceLanguageModel, not {type(estimator).__name__}."
        )
    check_is_fitted(estimator)
    check_writable_path(path)
    onnx = _onnx()
    # a copy on the CPU in evaluation mode: the estimator itself is untouched
    network = copy.deepcopy(estimator.net_.module_).cpu().eval()
    # the output layer in float32: ONNX Runtime crashes optimising the
    # float64 product that makes torch's outputs batch-invariant
    network.batch_invariant_eval = False
    _fold_input_scaling(network)
    metadata = {"sklstm_class": type(estimator).__name__}
    text = hasattr(estimator, "vocabulary_")
    if text:
        metadata["tokens"] = json.dumps(list(map(str, estimator.vocabulary_.tokens_)))
    batch, n_steps = 2, 8
    if network.frontend is not None:
        stride = estimator._conv_stride()
        n_steps = max(n_steps, 4 * stride ** len(network.frontend.blocks))
    lengths = torch.tensor([n_steps, n_steps - 1])
    if text:
        X = torch.ones(batch, n_steps, dtype=torch.long)
    else:
        X = torch.zeros(batch, n_steps, estimator._n_step_features)
    time_axes = {0: "batch", 1: "time"}

    if isinstance(estimator, SequenceLanguageModel):
        lstm = network.rnn.cell == "lstm"
        state = torch.zeros(network.rnn.num_layers, batch, network.rnn.num_hidden)
        wrapper = _NextWord(network, lstm)
        args = (X, state, state) if lstm else (X, state)
        state_in = ["h0", "c0"] if lstm else ["h0"]
        state_out = ["hn", "cn"] if lstm else ["hn"]
        input_names = ["tokens", *state_in]
        output_names = ["log_probabilities", *state_out]
        dynamic = {"tokens": time_axes, "log_probabilities": {0: "batch", 1: "time"}}
        dynamic.update({name: {1: "batch"} for name in state_in + state_out})
    else:
        args = (X, lengths)
        input_names = ["X", "lengths"]
        dynamic = {"X": time_axes, "lengths": {0: "batch"}}
        if isinstance(estimator, SequenceRegressor):
            wrapper = _Unscaled(
                network, estimator._y_mean, estimator._y_scale, estimator._y_1d
            )
            output_names = ["predictions"]
            dynamic["predictions"] = {0: "batch"}
        else:
            per_step = isinstance(estimator, SequenceTagger)
            wrapper = (_StepProbabilities if per_step else _Probabilities)(network)
            output_names = ["probabilities"]
            dynamic["probabilities"] = time_axes if per_step else {0: "batch"}
            metadata["classes"] = json.dumps(estimator.classes_.tolist())

    buffer = io.BytesIO()
    with warnings.catch_warnings():
        # the TorchScript-based exporter is deprecated in favour of dynamo,
        # which cannot export packed sequences yet (see above)
        warnings.simplefilter("ignore")
        torch.onnx.export(
            wrapper,
            args,
            buffer,
            input_names=input_names,
            output_names=output_names,
            dynamic_axes=dynamic,
            opset_version=_OPSET,
            dynamo=False,
        )
    model = onnx.load_from_string(buffer.getvalue())
    _fuse_output_transposes(model)
    if isinstance(estimator, SequenceClassifier):
        _add_labels(model, "probabilities", "label", estimator.classes_, axis=1)
    elif isinstance(estimator, SequenceTagger):
        _add_labels(model, "probabilities", "labels", estimator.classes_, axis=2)
    for key, value in metadata.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    model.producer_name = "sklstm"
    onnx.checker.check_model(model)
    return write_atomically(path, lambda tmp: onnx.save(model, tmp))
