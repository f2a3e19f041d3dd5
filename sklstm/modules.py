"""PyTorch modules behind the sklstm estimators.

They are public so that they can be reused in plain PyTorch or skorch code.
"""

import functools
import math
from numbers import Integral

import torch
from torch import nn
from torch.nn import functional as F
from torch.func import functional_call
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

__all__ = [
    "ConvBlock",
    "ConvFrontEnd",
    "Differences",
    "DilatedConvs",
    "Pooling",
    "NetworkEnsemble",
    "RecurrentNetwork",
    "RecurrentStack",
    "Standardize",
    "low_precision_supported",
]

_CELLS = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}
_POOLINGS = ("last", "mean", "max", "attention")
# poolings of the convolution front-end's outputs (conv_pooling)
_CONV_POOLINGS = ("mean", "max")


def _map_state(fn, state):
    """Apply ``fn`` to a recurrent state: a tensor, or a tuple (LSTM's h and c)."""
    return tuple(fn(s) for s in state) if isinstance(state, tuple) else fn(state)


def _keep_mask(shape, p, like):
    """Dropout mask of ``shape``: 0 with probability ``p``, else ``1 / (1 - p)``.

    Drawn as uniform numbers compared with ``p``, which on the CPU is several
    times faster than ``bernoulli_`` (it matters for the large weight masks of
    weight drop).
    """
    keep = torch.rand(shape, device=like.device) >= p
    return keep.to(like.dtype) / (1 - p)


def _masked_mean(values, mask):
    """Mean of ``(batch, time, n)`` values over the steps that ``mask`` keeps
    (all when None); 0 when none is kept."""
    if mask is None:
        return values.mean() if values.numel() else values.new_zeros(())
    kept = mask[..., None].to(values.dtype)
    return (values * kept).sum() / (kept.sum() * values.shape[-1]).clamp(min=1)


def _step_mask(lengths, n_steps):
    """``(batch, n_steps)`` boolean mask of the real steps, or None without lengths."""
    if lengths is None:
        return None
    return torch.arange(n_steps, device=lengths.device) < lengths[:, None]


class Standardize(nn.Module):
    """Per-feature standardisation ``(X - mean) / scale`` with fixed statistics.

    The statistics are buffers: learned by the estimator before training
    (over the real steps of the training sequences), saved with the weights
    and never changed by the optimizer.

    Parameters
    ----------
    mean, scale : array-like of shape (n_features,)
    """

    def __init__(self, mean, scale):
        super().__init__()
        self.register_buffer("mean", torch.as_tensor(mean, dtype=torch.float32))
        self.register_buffer("scale", torch.as_tensor(scale, dtype=torch.float32))

    def forward(self, X):
        return (X - self.mean) / self.scale


class Differences(nn.Module):
    """Append each feature's differences over ``lag`` steps as features.

    ``(batch, time, n)`` becomes ``(batch, time, n * (order + 1))``: the
    features, then their differences ``x[t] - x[t - lag]``, then the
    differences of those, up to ``order``. The first ``lag`` steps are
    differenced from the first step. A step's differences read only that
    step and the ones before it, so the real steps of a padded sequence never
    depend on its padding. Time-series classifiers use the first difference
    as a second view of a series (MultiRocket, derivative DTW): it brings out
    the slopes of smooth series, which a convolution on the raw values,
    standardised as a whole, sees at a small scale. Over more than one step
    the differences keep the slopes and gain less noise: white noise's
    differences have the same variance over any lag, a trend's grow with it.

    Parameters
    ----------
    order : int
        Number of differencing orders appended (0 returns the input).
    lag : int, default=1
        Steps between the values differenced.

    Examples
    --------
    >>> import torch
    >>> from sklstm.modules import Differences
    >>> X = torch.tensor([[[1.0], [4.0], [9.0], [16.0]]])
    >>> Differences(2)(X).squeeze(0)
    tensor([[ 1.,  0.,  0.],
            [ 4.,  3.,  3.],
            [ 9.,  5.,  2.],
            [16.,  7.,  2.]])
    >>> Differences(1, lag=2)(X).squeeze(0)
    tensor([[ 1.,  0.],
            [ 4.,  3.],
            [ 9.,  8.],
            [16., 12.]])
    """

    def __init__(self, order, lag=1):
        super().__init__()
        for name, value, low in (("order", order, 0), ("lag", lag, 1)):
            if isinstance(value, bool) or not isinstance(value, Integral) or value < low:
                raise ValueError(
                    f"the differencing {name} must be an integer of at least {low}, "
                    f"got {value!r}."
                )
        self.order = int(order)
        self.lag = int(lag)

    def forward(self, X):
        parts = [X]
        for _ in range(self.order):
            previous = parts[-1]
            lag = min(self.lag, previous.shape[1])
            start = previous[:, :1].expand(-1, lag, *previous.shape[2:])
            before = torch.cat([start, previous[:, : previous.shape[1] - lag]], dim=1)
            parts.append(previous - before)
        return torch.cat(parts, dim=-1)


class _MaskedBatchNorm1d(nn.BatchNorm1d):
    """Batch normalisation whose training statistics count real steps only."""

    def forward(self, X, mask=None):
        if not self.training:
            return super().forward(X)
        # every sequence has a real step, so a batch of two or more has enough
        # values for batch statistics (counted without a device sync)
        if X.shape[0] * X.shape[2] < 2:  # one value: use the running ones
            return F.batch_norm(
                X, self.running_mean, self.running_var, self.weight, self.bias,
                False, 0.0, self.eps,
            )
        if mask is None:
            return super().forward(X)
        steps = X.transpose(1, 2)  # (batch, time, channels)
        normed = super().forward(steps[mask])  # float32 under autocast
        out = steps.new_zeros(steps.shape, dtype=normed.dtype)
        out[mask] = normed
        return out.transpose(1, 2)


def _conv_output_lengths(conv, lengths):
    """Output lengths of a 1-D convolution for inputs of ``lengths`` steps."""
    (k,), (s,), (p,), (d,) = conv.kernel_size, conv.stride, conv.padding, conv.dilation
    return torch.div(lengths + 2 * p - d * (k - 1) - 1, s, rounding_mode="floor") + 1


class DilatedConvs(nn.Module):
    """Parallel 1-D convolutions of several dilations, their channels concatenated.

    Each branch reads the same input with the same kernel size and stride,
    its kernel spread over ``dilation * (kernel_size - 1) + 1`` steps, so the
    block sees patterns at several time scales at once, as MiniRocket's
    dilated kernels do. The ``channels`` are shared out among the branches as
    evenly as possible. Every branch is padded by ``dilation * (kernel_size
    // 2)`` steps on each side; with an even kernel size their outputs differ
    by a step or so in length, and all are cut to the shortest.

    Parameters
    ----------
    n_inputs : int
        Input channels.
    channels : int
        Output channels of all branches together (at least one per branch).
    kernel_size : int
    stride : int
    dilations : sequence of int
        One branch per dilation.

    Examples
    --------
    >>> import torch
    >>> from sklstm.modules import DilatedConvs
    >>> convs = DilatedConvs(1, 10, kernel_size=7, stride=2, dilations=(1, 4, 16))
    >>> [branch.out_channels for branch in convs.branches]
    [4, 3, 3]
    >>> convs(torch.zeros(2, 1, 100)).shape
    torch.Size([2, 10, 50])
    """

    def __init__(self, n_inputs, channels, kernel_size, stride, dilations):
        super().__init__()
        n = len(dilations)
        if not 1 <= n <= channels:
            raise ValueError(
                f"DilatedConvs needs between 1 and channels={channels} dilations, "
                f"got {n}."
            )
        self.branches = nn.ModuleList(
            nn.Conv1d(
                n_inputs, channels // n + (i < channels % n), kernel_size,
                stride=stride, padding=d * (kernel_size // 2), dilation=d, bias=False,
            )
            for i, d in enumerate(dilations)
        )

    def output_lengths(self, lengths):
        return torch.stack(
            [_conv_output_lengths(branch, lengths) for branch in self.branches]
        ).amin(dim=0)

    def forward(self, X):
        outputs = [branch(X) for branch in self.branches]
        n_steps = min(out.shape[-1] for out in outputs)
        return torch.cat([out[..., :n_steps] for out in outputs], dim=1)


class ConvBlock(nn.Module):
    """1-D convolution, batch normalisation over real steps, ReLU.

    Steps past a sequence's end are zero on the way in and on the way out,
    so that a sequence's output never depends on the padding of its batch.
    A stride ``s`` shortens a sequence of ``L`` steps to
    ``(L + 2 * (kernel_size // 2) - kernel_size) // s + 1``. With several
    ``dilations`` the convolution is a :class:`DilatedConvs`, one branch per
    dilation; one dilation ``d`` gives one convolution whose kernel is spread
    over ``d * (kernel_size - 1) + 1`` steps (padded by ``d * (kernel_size //
    2)``, so that odd kernel sizes keep the lengths above).
    """

    def __init__(self, n_inputs, channels, kernel_size, stride, dilations=(1,)):
        super().__init__()
        if len(dilations) == 1:
            (d,) = dilations
            self.conv = nn.Conv1d(
                n_inputs, channels, kernel_size, stride=stride,
                padding=d * (kernel_size // 2), dilation=d, bias=False,
            )
        else:
            self.conv = DilatedConvs(n_inputs, channels, kernel_size, stride, dilations)
        self.norm = _MaskedBatchNorm1d(channels)

    def output_lengths(self, lengths):
        if isinstance(self.conv, DilatedConvs):
            return self.conv.output_lengths(lengths)
        return _conv_output_lengths(self.conv, lengths)

    def forward(self, X, lengths=None):
        """X: ``(batch, channels, time)``; returns the output and its lengths."""
        X = self.conv(X)
        lengths = None if lengths is None else self.output_lengths(lengths)
        mask = _step_mask(lengths, X.shape[-1])
        X = torch.relu(self.norm(X, mask))
        if mask is not None:
            X = X * mask[:, None, :]
        return X, lengths


class ConvFrontEnd(nn.Module):
    """Strided convolution blocks that shorten sequences before the recurrent layers.

    Parameters
    ----------
    n_inputs : int
        Features per step.
    n_layers : int
        Number of :class:`ConvBlock`.
    channels : int
        Output channels of every block.
    kernel_size : int
    stride : int
        Stride of every block (1 keeps one output per input step).
    dilations : sequence of int, default=(1,)
        Dilations of the first block's convolutions, one parallel branch
        each (see :class:`DilatedConvs`); the later blocks are plain.
    """

    def __init__(self, n_inputs, n_layers, channels, kernel_size, stride, dilations=(1,)):
        super().__init__()
        self.blocks = nn.ModuleList(
            ConvBlock(
                n_inputs if i == 0 else channels, channels, kernel_size, stride,
                dilations if i == 0 else (1,),
            )
            for i in range(n_layers)
        )

    def forward(self, X, lengths=None):
        """X: ``(batch, time, features)``; returns ``(batch, time', channels)``
        and the shortened lengths."""
        mask = _step_mask(lengths, X.shape[1])
        if mask is not None:
            X = X * mask[..., None]
        X = X.transpose(1, 2)
        for block in self.blocks:
            X, lengths = block(X, lengths)
        return X.transpose(1, 2), lengths


class Pooling(nn.Module):
    """Summarise per-step outputs ``(batch, time, n)`` into one vector per sequence.

    Parameters
    ----------
    mode : {"last", "mean", "max", "attention"}
        The output at the last real step (with a bidirectional layer: the
        forward half there, the backward half at step 0); the mean or the
        maximum over the real steps; or a softmax-weighted mean whose weights
        a linear layer scores from each step.
    n_inputs : int
        Size of each step's output (for the attention scores).
    bidirectional : bool
        Whether the second half of the outputs read the sequence backwards.
    """

    def __init__(self, mode, n_inputs, bidirectional=False):
        super().__init__()
        if mode not in _POOLINGS:
            raise ValueError(f"pooling must be one of {_POOLINGS}, got {mode!r}.")
        self.mode = mode
        self.bidirectional = bidirectional
        self.score = nn.Linear(n_inputs, 1) if mode == "attention" else None

    def forward(self, out, lengths=None):
        if self.mode == "last":
            if lengths is None:
                last = out[:, -1]
            else:
                last = out[torch.arange(out.shape[0]), lengths - 1]
            if self.bidirectional:
                # the backward direction has read the whole sequence at step 0
                half = out.shape[-1] // 2
                last = torch.cat([last[:, :half], out[:, 0, half:]], dim=-1)
            return last
        mask = _step_mask(lengths, out.shape[1])
        if self.mode == "max":
            if mask is not None:
                # -inf added at padded steps (the same values as masking the
                # output itself, but the mask stays (batch, time): an
                # exported graph runs a broadcast addition instead of a
                # select over the whole output, about 15% of its time)
                pad = torch.zeros(mask.shape, dtype=out.dtype, device=out.device)
                out = out + pad.masked_fill(~mask, float("-inf"))[..., None]
            return out.amax(dim=1)
        if self.mode == "mean":
            if mask is None:
                return out.mean(dim=1)
            total = (out * mask[..., None]).sum(dim=1)
            return total / lengths[:, None].to(out.dtype)
        scores = self.score(out).squeeze(-1)
        if mask is not None:
            scores = scores.masked_fill(~mask, float("-inf"))
        return torch.einsum("bt,btn->bn", torch.softmax(scores, dim=1), out)


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
    n_inputs : int
        Features per input step.
    num_hidden : int
        Units per layer and direction.
    num_layers : int
    bidirectional : bool
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
    >>> from sklstm.modules import RecurrentStack
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
                _CELLS[cell](
                    n_inputs if i == 0 else num_hidden * n_directions,
                    num_hidden,
                    batch_first=True,
                    bidirectional=bidirectional,
                )
                for i in range(num_layers)
            )
        else:
            self.layers = nn.ModuleList([
                _CELLS[cell](
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

        With ``lengths`` and a bidirectional stack, each layer reads packed
        sequences, so that the backward direction starts at each sequence's
        last real step.
        """
        if len(self.layers) == 1:
            return self._run(self.layers[0], X, lengths, state)
        per_layer = 2 if self.layers[0].bidirectional else 1
        states = []
        for i, layer in enumerate(self.layers):
            if i:
                X = _locked_dropout(X, self.dropout, self.training)
            layer_state = None if state is None else _map_state(
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
                state = None if state is None else _map_state(torch.Tensor.float, state)
                return self._run_fused(rnn, X.float(), lengths, state)
        return self._run_fused(rnn, X, lengths, state)

    def _run_fused(self, rnn, X, lengths, state):
        packed = lengths is not None and rnn.bidirectional
        if packed:
            # an exported LSTM/GRU node takes its lengths in any order: no
            # sorting in the graph (the traced example's lengths are sorted)
            X = pack_padded_sequence(
                X, lengths.cpu(), batch_first=True,
                enforce_sorted=torch.onnx.is_in_onnx_export(),
            )
        if self.training and self.weight_dropout:
            # one mask per call, applied to the weights: the fused kernel
            # still runs over all steps (Merity et al.'s WeightDrop)
            hidden = {
                name: w for name, w in rnn.named_parameters()
                if name.startswith("weight_hh")
            }
            dropped = {
                name: w * _keep_mask(w.shape, self.weight_dropout, w)
                for name, w in hidden.items()
            }
            out, state = functional_call(rnn, dropped, (X, state))
        else:
            out, state = rnn(X, state)
        if packed:
            out, _ = pad_packed_sequence(out, batch_first=True)
        return out, state


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
    >>> from sklstm.modules import low_precision_supported
    >>> low_precision_supported("gru", "cpu", torch.bfloat16)  # autocast keeps GRUs in float32
    True
    """
    with torch.random.fork_rng(devices=[]):  # the layer's initial weights
        layer = _CELLS[cell](1, 1, batch_first=True)
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


def _locked_dropout(X, p, training=True):
    """Dropout with one mask per sequence, shared by all its steps.

    Parameters
    ----------
    X : tensor of shape (batch, time, features) or (batch, features)
    p : float
        Probability of dropping a feature.
    training : bool, default=True
        Identity when False.

    Returns
    -------
    tensor
        X with the same features zeroed at every step of a sequence, the
        others scaled by ``1 / (1 - p)``.
    """
    if not training or not p:
        return X
    if X.ndim < 3:
        return F.dropout(X, p, training=True)
    return X * _keep_mask((X.shape[0], 1, X.shape[2]), p, X)


class RecurrentNetwork(nn.Module):
    """A recurrent network: input layer, convolutions, recurrent stack, pooling, head.

    Parameters
    ----------
    n_features : int, default=1
        Number of real-valued features per time step. Ignored when
        ``vocab_size`` is set.
    n_outputs : int, default=1
        Size of the output layer (number of classes, regression targets or
        vocabulary size).
    cell : {"lstm", "gru", "rnn"}, default="lstm"
        Recurrent cell.
    num_hidden : int, default=24
        Units per recurrent layer (per direction).
    num_layers : int, default=1
        Number of stacked recurrent layers.
    bidirectional : bool, default=False
        Whether the recurrent layers also read the sequence backwards.
    dropout : float, default=0.0
        Dropout on the embeddings, between recurrent layers and before the head.
    vocab_size : int or None, default=None
        When set, inputs are integer token ids embedded by an
        :class:`torch.nn.Embedding` of this size.
    embedding_dim : int or None, default=None
        Size of the token embeddings; ``num_hidden`` when None.
    per_step : bool, default=False
        If True, return an output for every step ``(batch, time, n_outputs)``;
        otherwise one per sequence ``(batch, n_outputs)``, from its steps
        pooled as ``pooling`` says.
    tie_weights : bool, default=False
        Share the embedding matrix with the output layer (language models;
        needs ``vocab_size == n_outputs`` and ``embedding_dim == num_hidden``).
    batch_invariant_eval : bool, default=True
        In evaluation mode, compute the output layer in float64 and round
        once, so that an output never depends on which other sequences share
        its batch. Costs little for small output layers; language models
        with large vocabularies turn it off.
    compute_dtype : torch.dtype or None, default=None
        When set (``torch.bfloat16`` or ``torch.float16``), the forward pass
        in training mode runs under :func:`torch.autocast` in this dtype
        (mixed precision: parameters stay float32) and returns float32
        outputs. Evaluation mode always computes in float32: it keeps no
        activations, so lower precision saves little there, and autocast
        would cast the weights anew at every call.
    init_range : float or None, default=None
        When set, the embedding and output weights start uniform in
        ``[-init_range, init_range]`` and the output bias at zero, as the
        reference PyTorch and TensorFlow language-model examples initialise
        them. None keeps PyTorch's defaults (N(0, 1) embeddings).
    softmax_cutoff : int or None, default=None
        When set, the output layer is a two-level softmax (an adaptive
        softmax with one tail cluster, Grave et al. 2017): its head scores
        the first ``softmax_cutoff`` outputs (for a vocabulary ordered by
        frequency, the most frequent words) and one more output, "the word is
        in the tail", whose probability the tail's softmax over the other
        outputs shares out. The output weights are the same as those of the
        full layer (so they can still be tied); only their normalisation
        differs. Training computes tail scores only for targets in the tail:
        in training mode the network returns the features before the output
        layer and :meth:`nll` takes them with the targets. In evaluation mode
        it returns log-probabilities over all ``n_outputs``.

    input_differences : int, default=0
        Append each real-valued feature's differences over
        ``difference_lag`` steps, of orders 1 to ``input_differences``, as
        features (:class:`Differences`), before standardisation.
    difference_lag : int, default=1
        Steps between the values differenced.
    input_mean, input_scale : array-like of shape \
            (n_features * (input_differences + 1),) or None, default=None
        When set, real-valued inputs (with their differences) are then
        standardised with these fixed statistics (:class:`Standardize`).
    conv_layers : int, default=0
        Number of convolution blocks (:class:`ConvFrontEnd`) between the
        input and the recurrent layers; each shortens the sequences by
        ``conv_stride``.
    conv_channels : int, default=64
        Channels of each convolution block.
    conv_kernel_size : int, default=7
        Kernel size of each convolution block.
    conv_stride : int, default=2
        Stride of each convolution block.
    pooling : {"last", "mean", "max", "attention"}, default="last"
        How the per-step outputs become one vector per sequence when
        ``per_step=False`` (see :class:`Pooling`); always over real steps.
    conv_pooling : {"mean", "max"} or None, default=None
        When set (with a front-end and ``per_step=False``), the front-end's
        outputs are also pooled over their real steps, and the head reads
        them beside the pooled recurrent outputs: a shortcut from the
        convolutions to the head, as LSTM-FCN joins its convolutional and
        recurrent branches.
    conv_dilations : sequence of int, default=(1,)
        Dilations of the first convolution block: one parallel branch per
        dilation, sharing its ``conv_channels`` (see :class:`DilatedConvs`),
        so that it sees patterns at several time scales before the sequence
        is shortened.
    locked_dropout : bool, default=False
        Make ``dropout`` variational (Gal & Ghahramani 2016): one mask per
        sequence, shared by all its steps, on the inputs of the recurrent
        layers, between them and on their outputs.
    embedding_dropout : float, default=0.0
        In training, drop whole words: each vocabulary entry's embedding is
        zeroed with this probability (one draw per forward call, so a dropped
        word is dropped at every step of the window) and the others scaled by
        ``1 / (1 - p)``. Token inputs only.
    weight_dropout : float, default=0.0
        DropConnect on the hidden-to-hidden weights of the recurrent layers
        (see :class:`RecurrentStack`).
    activation_penalty : float, default=0.0
        Activation regularisation (AR, Merity et al. 2017): in training,
        ``activation_penalty`` times the mean square of the last recurrent
        layer's outputs after dropout, over the real steps.
    temporal_penalty : float, default=0.0
        Temporal activation regularisation (TAR): ``temporal_penalty`` times
        the mean square of the change of the last layer's outputs (before
        dropout) from one real step to the next.

    In training mode with a penalty set, each forward call stores the
    penalty term as ``penalty_`` (a scalar tensor in the graph) for the loss
    to add; it is None otherwise.

    The parts, read in order: ``scaler`` (or ``embedding`` for tokens),
    ``frontend``, ``rnn`` (a :class:`RecurrentStack`), ``pool`` (and
    ``conv_pool``, beside it), ``head``; absent parts are None.

    Examples
    --------
    >>> import torch
    >>> from sklstm.modules import RecurrentNetwork
    >>> net = RecurrentNetwork(n_features=1, n_outputs=3, num_hidden=8)
    >>> net(torch.zeros(4, 10, 1)).shape
    torch.Size([4, 3])
    >>> net(torch.zeros(2, 5, 1), lengths=torch.tensor([5, 2])).shape
    torch.Size([2, 3])

    Long series, shortened 4-fold by two strided convolution blocks, then
    read by a bidirectional LSTM whose outputs are averaged:

    >>> net = RecurrentNetwork(n_features=3, n_outputs=2, bidirectional=True,
    ...                        conv_layers=2, pooling="mean")
    >>> net(torch.zeros(4, 400, 3)).shape
    torch.Size([4, 2])

    The same, with the maxima of the convolutions' channels passed to the
    head beside the maxima of the recurrent outputs:

    >>> net = RecurrentNetwork(n_features=3, n_outputs=2, bidirectional=True,
    ...                        conv_layers=2, pooling="max", conv_pooling="max")
    >>> net.head
    Linear(in_features=112, out_features=2, bias=True)

    The first block's 64 channels in four branches of dilations 1 to 8, each
    kernel of 7 spread over 7, 13, 25 and 49 steps:

    >>> net = RecurrentNetwork(n_features=3, n_outputs=2, bidirectional=True,
    ...                        conv_layers=2, conv_dilations=(1, 2, 4, 8))
    >>> [conv.dilation[0] for conv in net.frontend.blocks[0].conv.branches]
    [1, 2, 4, 8]
    >>> net(torch.zeros(4, 400, 3)).shape
    torch.Size([4, 2])

    A language model with a two-level softmax:

    >>> lm = RecurrentNetwork(vocab_size=50, n_outputs=50, num_hidden=8,
    ...                       per_step=True, softmax_cutoff=10)
    >>> tokens = torch.randint(50, (2, 7))
    >>> lm.train()(tokens).shape  # features for the loss
    torch.Size([2, 7, 8])
    >>> loss = lm.nll(lm(tokens[:, :-1]), tokens[:, 1:])
    >>> log_proba = lm.eval()(tokens)
    >>> log_proba.shape, bool(torch.allclose(log_proba.exp().sum(-1), torch.ones(2, 7)))
    (torch.Size([2, 7, 50]), True)
    """

    def __init__(
        self,
        n_features=1,
        n_outputs=1,
        cell="lstm",
        num_hidden=24,
        num_layers=1,
        bidirectional=False,
        dropout=0.0,
        vocab_size=None,
        embedding_dim=None,
        per_step=False,
        tie_weights=False,
        batch_invariant_eval=True,
        compute_dtype=None,
        softmax_cutoff=None,
        init_range=None,
        input_differences=0,
        difference_lag=1,
        input_mean=None,
        input_scale=None,
        conv_layers=0,
        conv_channels=64,
        conv_kernel_size=7,
        conv_stride=2,
        pooling="last",
        conv_pooling=None,
        conv_dilations=(1,),
        locked_dropout=False,
        embedding_dropout=0.0,
        weight_dropout=0.0,
        activation_penalty=0.0,
        temporal_penalty=0.0,
    ):
        super().__init__()
        if embedding_dropout and vocab_size is None:
            raise ValueError("embedding_dropout needs token inputs (vocab_size).")
        if not 0 <= embedding_dropout < 1:
            raise ValueError(
                f"embedding_dropout must be in [0, 1), got {embedding_dropout}."
            )
        self.locked_dropout = locked_dropout
        self.embedding_dropout = embedding_dropout
        self.activation_penalty = activation_penalty
        self.temporal_penalty = temporal_penalty
        self.penalty_ = None
        self.compute_dtype = compute_dtype
        self.softmax_cutoff = softmax_cutoff
        self.batch_invariant_eval = batch_invariant_eval
        if cell not in _CELLS:
            raise ValueError(f"cell must be one of {sorted(_CELLS)}, got {cell!r}.")
        self.per_step = per_step
        self.bidirectional = bidirectional
        self.embedding = self.differences = self.scaler = None
        self.frontend = self.pool = None
        self.conv_pool = None
        if conv_pooling is not None and conv_pooling not in _CONV_POOLINGS:
            raise ValueError(
                f"conv_pooling must be one of {_CONV_POOLINGS} or None, got "
                f"{conv_pooling!r}."
            )
        if input_differences and vocab_size is not None:
            raise ValueError("input_differences needs real-valued inputs, not tokens.")
        if vocab_size is not None:
            embedding_dim = num_hidden if embedding_dim is None else embedding_dim
            self.embedding = nn.Embedding(vocab_size, embedding_dim)
            n_inputs = embedding_dim
        else:
            n_inputs = n_features
            if input_differences:
                self.differences = Differences(input_differences, difference_lag)
                n_inputs = n_features * (input_differences + 1)
            if input_mean is not None:
                self.scaler = Standardize(input_mean, input_scale)
        if conv_layers:
            if per_step and conv_stride != 1:
                raise ValueError(
                    "per_step outputs need conv_stride=1 (one output per input "
                    f"step), got conv_stride={conv_stride}."
                )
            if per_step and conv_kernel_size % 2 == 0:
                # an even kernel, padded alike on both sides, adds a step
                raise ValueError(
                    "per_step outputs need an odd conv_kernel_size (one output "
                    f"per input step), got conv_kernel_size={conv_kernel_size}."
                )
            self.frontend = ConvFrontEnd(
                n_inputs, conv_layers, conv_channels, conv_kernel_size, conv_stride,
                tuple(conv_dilations),
            )
            n_inputs = conv_channels
        self.rnn = RecurrentStack(
            cell, n_inputs, num_hidden, num_layers, bidirectional, dropout,
            locked_dropout=locked_dropout, weight_dropout=weight_dropout,
        )
        self.dropout = nn.Dropout(dropout)
        n_directions = 2 if bidirectional else 1
        n_head_inputs = num_hidden * n_directions
        if not per_step:
            self.pool = Pooling(pooling, n_head_inputs, bidirectional)
            if conv_pooling is not None and self.frontend is not None:
                self.conv_pool = Pooling(conv_pooling, conv_channels)
                n_head_inputs += conv_channels
        self.head = nn.Linear(n_head_inputs, n_outputs)
        if init_range is not None:
            if not init_range > 0:
                raise ValueError(f"init_range must be positive or None, got {init_range}.")
            for layer in (self.embedding, self.head):
                if layer is not None:
                    nn.init.uniform_(layer.weight, -init_range, init_range)
            nn.init.zeros_(self.head.bias)
        if tie_weights:
            if self.embedding is None or bidirectional:
                raise ValueError("tie_weights needs token inputs and one direction.")
            if self.embedding.weight.shape != self.head.weight.shape:
                raise ValueError(
                    "tie_weights needs embedding_dim == num_hidden and "
                    "n_outputs == vocab_size, got embedding "
                    f"{tuple(self.embedding.weight.shape)} and output layer "
                    f"{tuple(self.head.weight.shape)}."
                )
            self.head.weight = self.embedding.weight
        if softmax_cutoff is not None:
            if not 0 < softmax_cutoff < n_outputs:
                raise ValueError(
                    f"softmax_cutoff must be between 1 and n_outputs - 1 = "
                    f"{n_outputs - 1}, got {softmax_cutoff}."
                )
            # the head's extra output: log-odds of "the target is in the tail"
            self.tail_gate = nn.Linear(num_hidden * n_directions, 1)

    def forward(self, X, lengths=None, state=None, return_state=False):
        """Run the network.

        Parameters
        ----------
        X : tensor of shape (batch, time, n_features) or (batch, time)
            Padded inputs (real features, or token ids when the module embeds).
        lengths : tensor of shape (batch,) or None
            Real length of each sequence; None when all use the full ``time``.
        state : tensor or tuple of tensors or None
            Initial recurrent state (carried state in truncated BPTT).
        return_state : bool
            Also return the final recurrent state.
        """
        if self.compute_dtype is None or not self.training:
            return self._forward(X, lengths, state, return_state)
        with self._autocast(X.device.type):
            out = self._forward(X, lengths, state, return_state)
        if return_state:
            out, state = out
            return out.float(), _map_state(torch.Tensor.float, state)
        return out.float()

    def _autocast(self, device_type):
        return torch.autocast(
            device_type,
            dtype=self.compute_dtype,
            enabled=self.compute_dtype is not None and self.training,
        )

    def _forward(self, X, lengths, state, return_state):
        if self.embedding is not None:
            X = self._embed(X)
        if self.differences is not None:
            X = self.differences(X)
        if self.scaler is not None:
            X = self.scaler(X)
        if self.frontend is not None:
            X, lengths = self.frontend(X, lengths)
        X = self._dropout(X)
        out, state = self.rnn(X, lengths, state)
        raw = out
        if self.pool is not None:
            out = self.pool(out, lengths)
        if self.conv_pool is not None:
            out = torch.cat([out, self.conv_pool(X, lengths)], dim=-1)
        out = self._dropout(out)
        self.penalty_ = None
        if self.training and (self.activation_penalty or self.temporal_penalty):
            self.penalty_ = self._activation_penalties(raw, out, lengths)
        if self.softmax_cutoff is not None:
            if not self.training:
                out = self._two_level_log_proba(out)
        elif self.training or not self.batch_invariant_eval:
            out = self.head(out)
        else:
            out = self._exact_linear(out, self.head.weight, self.head.bias)
        return (out, state) if return_state else out

    def _embed(self, X):
        """Token embeddings; in training, whole words dropped."""
        if not (self.training and self.embedding_dropout):
            return self.embedding(X)
        weight = self.embedding.weight
        mask = _keep_mask((weight.shape[0], 1), self.embedding_dropout, weight)
        return F.embedding(X, weight * mask)

    def _dropout(self, X):
        if self.locked_dropout:
            return _locked_dropout(X, self.dropout.p, self.training)
        return self.dropout(X)

    def _activation_penalties(self, raw, dropped, lengths):
        """AR on the (dropped) outputs and TAR on the raw outputs of the last
        recurrent layer, as means over real steps, in float32."""
        raw = raw.float()
        mask = _step_mask(lengths, raw.shape[1])
        penalty = raw.new_zeros(())
        if self.activation_penalty:
            # per-step networks: the dropped outputs; pooled ones dropped one
            # vector per sequence, so AR takes their raw per-step outputs
            square = (dropped.float() if dropped.ndim == 3 else raw).pow(2)
            penalty = penalty + self.activation_penalty * _masked_mean(square, mask)
        if self.temporal_penalty:
            change = (raw[:, 1:] - raw[:, :-1]).pow(2)
            pairs = None if mask is None else mask[:, 1:]
            penalty = penalty + self.temporal_penalty * _masked_mean(change, pairs)
        return penalty

    def _linear(self, features, weight, bias):
        """``F.linear``; in evaluation with ``batch_invariant_eval``, exact."""
        if self.training or not self.batch_invariant_eval:
            return F.linear(features, weight, bias)
        return self._exact_linear(features, weight, bias)

    @staticmethod
    def _exact_linear(features, weight, bias):
        # In float32, a matrix product's rounding depends on how many rows
        # it has, so a sequence's output would change (in the last bit)
        # with the batch it is predicted in. Accumulating in float64 and
        # rounding once makes predictions independent of the batch.
        return F.linear(features.double(), weight.double(), bias.double()).to(features.dtype)

    def _head_log_proba(self, features):
        """Log-probabilities of the head: its outputs, then "in the tail"."""
        k = self.softmax_cutoff
        weight = torch.cat([self.head.weight[:k], self.tail_gate.weight])
        bias = torch.cat([self.head.bias[:k], self.tail_gate.bias])
        return F.log_softmax(self._linear(features, weight, bias).float(), dim=-1)

    def _tail_log_proba(self, features):
        """Log-probabilities of the tail's outputs given that the target is there."""
        k = self.softmax_cutoff
        logits = self._linear(features, self.head.weight[k:], self.head.bias[k:])
        return F.log_softmax(logits.float(), dim=-1)

    def _two_level_log_proba(self, features):
        head = self._head_log_proba(features)
        tail = head[..., -1:] + self._tail_log_proba(features)
        return torch.cat([head[..., :-1], tail], dim=-1).to(features.dtype)

    def nll(self, features, target, ignore_index=-100):
        """Mean negative log-likelihood of targets under the two-level softmax.

        Computes the tail's scores only for the targets in the tail, which is
        what makes the two-level softmax cheap to train.

        Parameters
        ----------
        features : tensor of shape (..., num_hidden)
            What the network returns in training mode.
        target : tensor of shape (...)
            Output ids; ``ignore_index`` marks steps that are not scored.
        ignore_index : int, default=-100
            Target value that is left out of the mean.

        Returns
        -------
        loss : scalar tensor
            Mean over the scored targets (0 when there are none).
        """
        if self.softmax_cutoff is None:
            raise ValueError("nll needs a network built with softmax_cutoff set.")
        features = features.reshape(-1, features.shape[-1])
        target = target.reshape(-1)
        scored = target != ignore_index
        if not bool(scored.all()):
            features, target = features[scored], target[scored]
        k = self.softmax_cutoff
        with self._autocast(features.device.type):
            head = self._head_log_proba(features)
            log_lik = head.gather(1, target.clamp(max=k)[:, None]).sum()
            in_tail = (target >= k).nonzero().squeeze(1)
            if len(in_tail):
                tail = self._tail_log_proba(features[in_tail])
                log_lik = log_lik + tail.gather(1, (target[in_tail] - k)[:, None]).sum()
        return -log_lik / max(len(target), 1)


class NetworkEnsemble(nn.Module):
    """Several :class:`RecurrentNetwork` side by side, their predictions averaged.

    The networks start from different random weights and are trained on the
    same batches, each on its own loss; in evaluation mode their predictions
    are averaged, which on small data sets is more accurate and less
    dependent on the random start than any one network (a deep ensemble, as
    InceptionTime and the LSTM-FCN authors' ensembles use).

    Parameters
    ----------
    n_networks : int, default=2
        Number of networks.
    combine : {"proba", "mean"}, default="proba"
        In evaluation mode, ``"proba"`` returns the log of the mean of the
        networks' softmax probabilities over the last axis (classifiers and
        taggers: a softmax of the result gives the mean probabilities);
        ``"mean"`` returns the mean of their outputs (regression).
    **network_params
        Parameters of every :class:`RecurrentNetwork` (without
        ``softmax_cutoff``). The ensemble takes no carried state.

    In training mode the output is the networks' outputs stacked on a new
    first axis, ``(n_networks, batch, ...)``, for a loss that sums the
    networks' losses, so that each network follows the gradient of its own
    loss as if trained alone (:attr:`member_outputs` tells the two modes
    apart). In training mode with penalties set, ``penalty_`` is the sum of
    the networks' penalties.

    Examples
    --------
    >>> import torch
    >>> from sklstm.modules import NetworkEnsemble
    >>> ensemble = NetworkEnsemble(3, n_features=2, n_outputs=4, num_hidden=8)
    >>> X = torch.zeros(5, 10, 2)
    >>> ensemble.train()(X).shape  # one output per network, for their losses
    torch.Size([3, 5, 4])
    >>> proba = ensemble.eval()(X).softmax(-1)  # the mean of their probabilities
    >>> proba.shape, bool(torch.allclose(proba.sum(-1), torch.ones(5)))
    (torch.Size([5, 4]), True)
    """

    def __init__(self, n_networks=2, combine="proba", **network_params):
        super().__init__()
        if combine not in ("proba", "mean"):
            raise ValueError(f"combine must be 'proba' or 'mean', got {combine!r}.")
        if network_params.get("softmax_cutoff") is not None:
            raise ValueError(
                "NetworkEnsemble averages probabilities; a two-level softmax "
                "(softmax_cutoff) trains on features and is not supported."
            )
        if not (isinstance(n_networks, int) and n_networks >= 1):
            raise ValueError(
                f"n_networks must be a positive integer, got {n_networks!r}."
            )
        self.combine = combine
        self.networks = nn.ModuleList(
            RecurrentNetwork(**network_params) for _ in range(n_networks)
        )
        self.penalty_ = None

    @property
    def member_outputs(self):
        """Whether the output has one entry per network (training mode)."""
        return self.training

    @property
    def frontend(self):
        """The first network's convolution front-end (all have the same shape)."""
        return self.networks[0].frontend

    @property
    def batch_invariant_eval(self):
        return self.networks[0].batch_invariant_eval

    @batch_invariant_eval.setter
    def batch_invariant_eval(self, value):
        for network in self.networks:
            network.batch_invariant_eval = value

    def forward(self, X, lengths=None):
        """Run every network on ``X`` (see :meth:`RecurrentNetwork.forward`)."""
        outs = torch.stack([network(X, lengths) for network in self.networks])
        if self.training:
            penalties = [n.penalty_ for n in self.networks if n.penalty_ is not None]
            self.penalty_ = sum(penalties) if penalties else None
            return outs
        # in float64, rounded once: as for each network's output layer, a
        # sequence's result must not depend on where it sits in its batch
        # (vectorised float32 kernels round the last bit by position)
        outs64 = outs.double()
        if self.combine == "mean":
            return outs64.mean(dim=0).to(outs.dtype)
        # log of the mean probability, computed stably in log space
        log_proba = torch.log_softmax(outs64, dim=-1)
        mean = torch.logsumexp(log_proba, dim=0) - math.log(len(outs))
        return mean.to(outs.dtype)
