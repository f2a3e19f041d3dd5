"""The recurrent layers: fused LSTM, GRU or RNN modules with AWD-LSTM's
regularisers, and the probe of what torch runs in low precision here."""

import functools
import threading

import torch
from torch import nn
from torch.func import functional_call
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from .._random import preserved_rng_state
from ._tensors import keep_mask, locked_dropout, map_state

CELLS = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}


class RecurrentStack(nn.Module):
    """Stacked recurrent layers, with the regularisers of AWD-LSTM.

    Without ``locked_dropout`` the layers are one fused
    :class:`torch.nn.LSTM` (or GRU, RNN) whose ``dropout`` acts between
    layers; with it, one fused module per layer and a locked dropout mask
    between them. Either way the state has PyTorch's layout
    ``(num_layers * num_directions, batch, num_hidden)``.

    Parameters
    ----------
    cell : {"lstm", "gru", "rnn"}
        The recurrent cell.
    n_inputs : int
        Features per input step.
    num_hidden : int
        Units per layer and direction.
    num_layers : int
        Stacked layers, each reading the outputs of the one below.
    bidirectional : bool
        Whether each layer also reads the sequences backwards (its outputs
        the two directions' side by side).
    dropout : float
        Dropout between layers.
    locked_dropout : bool, default=False
        Use one dropout mask per sequence, shared by all its steps
        (variational dropout, Gal & Ghahramani 2016), between layers.
    weight_dropout : float, default=0.0
        DropConnect on the hidden-to-hidden weights (Merity et al. 2018):
        in training, each forward call drops entries of every ``weight_hh``
        matrix with this probability, one mask for all steps, and the fused
        recurrent kernel runs with the dropped weights. Evaluation uses the
        weights as they are.

    Examples
    --------
    >>> import torch
    >>> from sklstm.nn import RecurrentStack
    >>> stack = RecurrentStack("lstm", 4, 8, num_layers=2, bidirectional=False,
    ...                        dropout=0.3, locked_dropout=True, weight_dropout=0.5)
    >>> out, (h, c) = stack(torch.zeros(3, 10, 4))
    >>> out.shape, h.shape
    (torch.Size([3, 10, 8]), torch.Size([2, 3, 8]))
    """

    def __init__(self, cell, n_inputs, num_hidden, num_layers, bidirectional,
                 dropout, locked_dropout=False, weight_dropout=0.0):
        super().__init__()
        if not 0 <= weight_dropout < 1:
            raise ValueError(f"weight_dropout must be in [0, 1), got {weight_dropout}.")
        self.cell = cell
        self.num_hidden = num_hidden
        self.dropout = dropout
        self.weight_dropout = weight_dropout
        self.num_layers = num_layers
        n_directions = 2 if bidirectional else 1
        if locked_dropout and num_layers > 1:
            self.layers = nn.ModuleList(
                CELLS[cell](
                    n_inputs if i == 0 else num_hidden * n_directions,
                    num_hidden,
                    batch_first=True,
                    bidirectional=bidirectional,
                )
                for i in range(num_layers)
            )
        else:
            self.layers = nn.ModuleList([
                CELLS[cell](
                    n_inputs,
                    num_hidden,
                    num_layers=num_layers,
                    batch_first=True,
                    bidirectional=bidirectional,
                    dropout=dropout if num_layers > 1 else 0.0,
                )
            ])

    def forward(self, X, lengths=None, state=None):
        """X: ``(batch, time, n_inputs)``; returns the outputs of the last
        layer ``(batch, time, num_hidden * num_directions)`` and the state.

        With ``lengths`` and a bidirectional stack, the backward direction
        starts at each sequence's last real step: it reads each sequence
        reversed within its length (in an ONNX export: packed sequences,
        which the exported recurrent node takes with their lengths).
        """
        if len(self.layers) == 1:
            return self._run(self.layers[0], X, lengths, state)
        per_layer = 2 if self.layers[0].bidirectional else 1
        states = []
        for i, layer in enumerate(self.layers):
            if i:
                X = locked_dropout(X, self.dropout, self.training)
            layer_state = None if state is None else map_state(
                lambda s: s[i * per_layer : (i + 1) * per_layer], state
            )
            X, layer_state = self._run(layer, X, lengths, layer_state)
            states.append(layer_state)
        if isinstance(states[0], tuple):
            return X, tuple(torch.cat(s) for s in zip(*states))
        return X, torch.cat(states)

    def _run(self, rnn, X, lengths, state):
        """One fused module, with weight drop in training.

        Under :func:`torch.autocast` in a dtype that this machine's kernels
        cannot run the cell in (bfloat16 LSTMs on CPUs without AVX-512),
        the module runs in float32, as autocast itself runs an operation
        without a low-precision kernel.
        """
        device = X.device.type
        if torch.is_autocast_enabled(device) and not low_precision_supported(
            self.cell, device, torch.get_autocast_dtype(device)
        ):
            with torch.autocast(device, enabled=False):
                state = None if state is None else map_state(torch.Tensor.float, state)
                return self._run_fused(rnn, X.float(), lengths, state)
        return self._run_fused(rnn, X, lengths, state)

    def _run_fused(self, rnn, X, lengths, state):
        weights = {}
        if self.training and self.weight_dropout:
            # one mask per call, applied to the weights: the fused kernel
            # still runs over all steps (Merity et al.'s WeightDrop)
            weights = {
                name: w * keep_mask(w.shape, self.weight_dropout, w)
                for name, w in rnn.named_parameters()
                if name.startswith("weight_hh")
            }
        if lengths is not None and rnn.bidirectional and not torch.onnx.is_in_onnx_export():
            return _bidirectional_within_lengths(rnn, weights, X, lengths, state)
        packed = lengths is not None and rnn.bidirectional  # exporting to ONNX
        if packed:
            # an exported LSTM/GRU node takes its lengths in any order: no
            # sorting in the graph (the traced example's lengths are sorted)
            X = pack_padded_sequence(X, lengths.cpu(), batch_first=True, enforce_sorted=True)
        if weights:
            out, state = functional_call(rnn, weights, (X, state))
        else:
            out, state = rnn(X, state)
        if packed:
            out, _ = pad_packed_sequence(out, batch_first=True)
        return out, state


def reverse_within_lengths(X, lengths):
    """Each sequence of ``X`` ``(batch, time, n)`` reversed over its first
    ``lengths`` steps; the padding after them stays where it is (so that
    doing it twice gives ``X`` back)."""
    steps = torch.arange(X.shape[1], device=X.device)[None, :]
    lengths = lengths.to(X.device)[:, None]
    order = torch.where(steps < lengths, lengths - 1 - steps, steps)
    return X.gather(1, order[..., None].expand(X.shape))


@functools.cache
def _one_direction(cell, input_size, hidden_size, bias, nonlinearity, thread):
    """A one-direction, one-layer module of ``cell`` on the meta device: a
    shape for :func:`torch.func.functional_call` to run given weights with
    (it holds no weights of its own and draws no random numbers).

    One per ``thread``: :func:`~torch.func.functional_call` swaps the
    weights into the module while it runs, so two threads (the networks of
    an ensemble trained side by side) must not share one.
    """
    extra = {"nonlinearity": nonlinearity} if cell is nn.RNN else {}
    return cell(input_size, hidden_size, bias=bias, batch_first=True,
                device="meta", **extra)


def _bidirectional_within_lengths(rnn, weights, X, lengths, state):
    """A bidirectional fused module on padded sequences of ``lengths``, each
    direction of each layer one fused call: the backward direction reads
    each sequence reversed within its length, so that it starts at the
    sequence's last real step, as it would on packed sequences.

    Packed sequences make torch leave its fused CPU kernel (about three
    times slower per batch, measured on 50 sequences of 30 to 300 steps);
    this way both directions keep it. The outputs at real steps are those
    of packed sequences; at padded steps they are not zero but never read
    (pooling and losses count real steps only). The returned state is the
    one after the padded end, as for one direction.

    ``weights`` replaces some of ``rnn``'s parameters (weight drop).
    """
    params = {**dict(rnn.named_parameters()), **weights}
    shape = dict(
        hidden_size=rnn.hidden_size, bias=rnn.bias,
        nonlinearity=getattr(rnn, "nonlinearity", None),
    )
    lstm = isinstance(rnn, nn.LSTM)
    states = []
    for layer in range(rnn.num_layers):
        if layer and rnn.training and rnn.dropout:
            X = torch.nn.functional.dropout(X, rnn.dropout, training=True)
        module = _one_direction(type(rnn), X.shape[-1], **shape,
                                thread=threading.get_ident())
        outputs = []
        for direction, suffix in enumerate(("", "_reverse")):
            # this layer's and direction's weights, under a one-layer name
            own = {
                f"{kind}_l0": params[f"{kind}_l{layer}{suffix}"]
                for kind in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
                if f"{kind}_l{layer}{suffix}" in params
            }
            index = 2 * layer + direction
            initial = None if state is None else (
                tuple(s[index : index + 1] for s in state) if lstm
                else state[index : index + 1]
            )
            inputs = X if direction == 0 else reverse_within_lengths(X, lengths)
            out, final = functional_call(module, own, (inputs, initial))
            outputs.append(out if direction == 0 else reverse_within_lengths(out, lengths))
            states.append(final)
        X = torch.cat(outputs, dim=-1)
    if lstm:
        return X, tuple(torch.cat(parts) for parts in zip(*states))
    return X, torch.cat(states)


@functools.cache
def low_precision_supported(cell, device_type, dtype):
    """Whether torch runs a ``cell`` layer under autocast in ``dtype`` here.

    Asked of torch at run time, once per process and combination, by one
    forward and backward step of a tiny layer: oneDNN's bfloat16 LSTM, for
    example, exists only on CPUs with AVX-512 (``could not create a
    primitive descriptor`` elsewhere), whatever the CPU's name says. The
    probe draws no random numbers from the caller's generators.

    Parameters
    ----------
    cell : {"lstm", "gru", "rnn"}
    device_type : str
        ``"cpu"``, ``"cuda"``, ...
    dtype : torch.dtype
        The autocast dtype, such as ``torch.bfloat16``.

    Returns
    -------
    bool

    Examples
    --------
    >>> import torch
    >>> from sklstm.nn import low_precision_supported
    >>> low_precision_supported("gru", "cpu", torch.bfloat16)  # autocast keeps GRUs in float32
    True
    """
    with preserved_rng_state():  # the layer's initial weights
        layer = CELLS[cell](1, 1, batch_first=True)
    with torch.inference_mode(False), torch.enable_grad():
        try:
            layer.to(device_type)
            X = torch.zeros(2, 3, 1, device=device_type)
            with torch.autocast(device_type, dtype=dtype):
                # from a zero state, then from the state it returned (as
                # truncated BPTT carries it)
                out, state = layer(X)
                again, _ = layer(X, state)
            (out.float().sum() + again.float().sum()).backward()
        except RuntimeError:
            return False
    return True
