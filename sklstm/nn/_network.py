"""The recurrent network, assembled from its parts."""

from typing import NamedTuple

import torch
from torch import nn

from ._conv import ConvFrontEnd
from ._heads import LinearHead, SummaryPath, TwoLevelSoftmaxHead
from ._input import NumericInput, TokenEmbedding
from ._readout import Readout
from ._recurrent import CELLS, RecurrentStack
from ._regularization import ActivationPenalties, RandomCrop, SequenceDropout


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
        layer and :meth:`training_loss` scores them (see
        :class:`TwoLevelSoftmaxHead`). In evaluation mode it returns
        log-probabilities over all ``n_outputs``.
    init_range : float or None, default=None
        When set, the embedding and output weights start uniform in
        ``[-init_range, init_range]`` and the output bias at zero, as the
        reference PyTorch and TensorFlow language-model examples initialise
        them. None keeps PyTorch's defaults (N(0, 1) embeddings).
    input_differences : int, default=0
        Append each real-valued feature's differences over
        ``difference_lag`` steps, of orders 1 to ``input_differences``, as
        features (:class:`Differences`), before standardisation.
    difference_lag : int, default=1
        Steps between the values differenced.
    per_sequence_features : bool, default=False
        Append each real-valued feature and its first difference over
        ``difference_lag`` steps, each standardised by its own sequence's
        mean and standard deviation over the real steps
        (:class:`SequenceStandardize`), after the differences.
    input_mean, input_scale : array-like of shape \
            (n_features * (input_differences + 1 + 2 * per_sequence_features),) \
            or None, default=None
        When set, real-valued inputs (with their differences and
        per-sequence copies) are then standardised with these fixed
        statistics (:class:`Standardize`).
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
    crop_fraction : float, default=1.0
        Below 1, training reads random windows of at least this fraction of
        each sequence (:class:`RandomCrop`, window slicing), a new window at
        each pass; evaluation reads whole sequences. It suits labels that a
        large part of a sequence shows (a shape, a gesture), and suits
        neither labels that depend on every step (a count) nor outputs per
        step.
    summary_points : int, default=0
        When set (at least 2; one output per sequence, real-valued inputs),
        a :class:`SummaryPath` adds to the outputs a fixed linear map of
        the standardised input resampled at this many evenly spaced
        positions of each sequence: a path that keeps where along a
        sequence a value sits, which pooling throws away.
    summary_weight, summary_bias : array-like or None, default=None
        The path's weights (see :class:`SummaryPath`); None: zeros.
    summary_resampling : {"interpolate", "mean"}, default="interpolate"
        How the path summarises a sequence longer than ``summary_points``
        (see :func:`resample`); the estimators fit with ``"mean"``.

    Notes
    -----
    The parts, read in order (absent ones are None): ``crop`` (a
    :class:`RandomCrop`, training only), ``inputs`` (a
    :class:`NumericInput` or :class:`TokenEmbedding`), ``frontend`` (a
    :class:`ConvFrontEnd`), ``dropout``, ``rnn`` (a :class:`RecurrentStack`),
    ``readout`` (a :class:`Readout`, for one output per sequence),
    ``penalties`` (:class:`ActivationPenalties`), ``head`` (a
    :class:`LinearHead` or :class:`TwoLevelSoftmaxHead`) and ``summary``
    (a :class:`SummaryPath` beside the rest, from the input stage to the
    outputs). Training calls
    the network with ``return_all=True`` and passes what it returns to
    :meth:`training_loss`. Mixed precision is the caller's: run the forward
    pass and the loss under :func:`torch.autocast` (sklstm's skorch net
    does, for ``precision="bfloat16"``).

    Examples
    --------
    >>> import torch
    >>> from sklstm.nn import RecurrentNetwork
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
    LinearHead(in_features=112, out_features=2, bias=True)
    >>> [name for name, _ in net.named_children()]
    ['inputs', 'frontend', 'dropout', 'rnn', 'readout', 'head']

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
    >>> outputs = lm(tokens[:, :-1], return_all=True)
    >>> loss, objective = lm.training_loss(outputs, tokens[:, 1:], data_loss=None)
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
        softmax_cutoff=None,
        init_range=None,
        input_differences=0,
        difference_lag=1,
        per_sequence_features=False,
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
        crop_fraction=1.0,
        summary_points=0,
        summary_weight=None,
        summary_bias=None,
        summary_resampling="interpolate",
    ):
        super().__init__()
        _check_options(cell, vocab_size, embedding_dropout, input_differences,
                       per_step, conv_layers, conv_stride, conv_kernel_size,
                       tie_weights, bidirectional)
        if per_step and (crop_fraction < 1 or summary_points):
            raise ValueError(
                "crop_fraction and summary_points need one output per sequence "
                "(per_step=False)."
            )
        for name, value in (("summary_points", summary_points),
                            ("per_sequence_features", per_sequence_features)):
            if value and vocab_size is not None:
                raise ValueError(f"{name} needs real-valued inputs, not tokens.")
        self.per_step = per_step
        self.bidirectional = bidirectional
        self.crop = RandomCrop(crop_fraction) if crop_fraction < 1 else None
        self.softmax_cutoff = softmax_cutoff
        if vocab_size is not None:
            self.inputs = TokenEmbedding(
                vocab_size, num_hidden if embedding_dim is None else embedding_dim,
                embedding_dropout,
            )
        else:
            self.inputs = NumericInput(
                n_features, input_differences, difference_lag, input_mean, input_scale,
                per_sequence=per_sequence_features,
            )
        n_inputs = self.inputs.n_outputs
        self.frontend = None
        if conv_layers:
            self.frontend = ConvFrontEnd(
                n_inputs, conv_layers, conv_channels, conv_kernel_size, conv_stride,
                tuple(conv_dilations),
            )
            n_inputs = conv_channels
        self.dropout = SequenceDropout(dropout, locked_dropout)
        self.rnn = RecurrentStack(
            cell, n_inputs, num_hidden, num_layers, bidirectional, dropout,
            locked_dropout=locked_dropout, weight_dropout=weight_dropout,
        )
        n_head_inputs = num_hidden * (2 if bidirectional else 1)
        self.readout = None
        if not per_step:
            self.readout = Readout(
                pooling, n_head_inputs, bidirectional, conv_pooling,
                conv_channels if self.frontend is not None else 0,
            )
            n_head_inputs = self.readout.n_outputs
        self.penalties = None
        if activation_penalty or temporal_penalty:
            self.penalties = ActivationPenalties(activation_penalty, temporal_penalty)
        head = dict(
            exact_eval=batch_invariant_eval, init_range=init_range,
            embedding=self.inputs if vocab_size is not None else None,
            tie_weights=tie_weights,
        )
        if softmax_cutoff is None:
            self.head = LinearHead(n_head_inputs, n_outputs, **head)
        else:
            self.head = TwoLevelSoftmaxHead(n_head_inputs, n_outputs, softmax_cutoff, **head)
        self.summary = None
        if summary_points:
            self.summary = SummaryPath(
                self.inputs.n_outputs, summary_points, n_outputs, summary_weight,
                summary_bias, batch_invariant_eval, summary_resampling,
            )
        self.register_load_state_dict_pre_hook(_rename_keys_of_old_files)

    @property
    def draws_random_numbers(self):
        """Whether a training forward pass draws random numbers (windows,
        dropout of any kind); evaluation never does.

        >>> RecurrentNetwork().draws_random_numbers
        False
        >>> RecurrentNetwork(dropout=0.1).draws_random_numbers
        True
        """
        rnn = self.rnn
        return bool(
            self.crop is not None
            or self.dropout.p
            or rnn.weight_dropout
            or (rnn.dropout and rnn.num_layers > 1)
            or getattr(self.inputs, "word_dropout", 0)
        )

    @property
    def batch_invariant_eval(self):
        """Whether evaluation computes the output layer exactly (see
        :class:`LinearHead`)."""
        return self.head.exact_eval

    @batch_invariant_eval.setter
    def batch_invariant_eval(self, value):
        self.head.exact_eval = value
        if self.summary is not None:
            self.summary.exact_eval = value

    def forward(self, X, lengths=None, state=None, return_state=False, return_all=False):
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
        return_all : bool
            Return :class:`NetworkOutputs`: the output, the final state and,
            in training with penalties, the penalty, for
            :meth:`training_loss`.
        """
        if self.crop is not None:
            X, lengths = self.crop(X, lengths)
        X = inputs = self.inputs(X, lengths)
        input_lengths = lengths
        if self.frontend is not None:
            X, lengths = self.frontend(X, lengths)
        X = self.dropout(X)
        out, state = self.rnn(X, lengths, state)
        per_step = out
        if self.readout is not None:
            out = self.readout(out, X, lengths)
        out = self.dropout(out)
        penalty = None
        if self.training and self.penalties is not None:
            penalty = self.penalties(per_step, out, lengths)
        out = self.head(out)
        if self.summary is not None:
            out = out + self.summary(inputs, input_lengths)
        if return_all:
            return NetworkOutputs(out, state, penalty)
        return (out, state) if return_state else out

    def training_loss(self, outputs, target, data_loss):
        """The loss of a training forward pass, and what to back-propagate.

        Parameters
        ----------
        outputs : NetworkOutputs
            What ``forward(..., return_all=True)`` returned in training mode.
        target : tensor
        data_loss : callable
            ``data_loss(prediction, target)``: the criterion's loss (the
            two-level softmax scores its features itself and ignores it).

        Returns
        -------
        loss : scalar tensor
            The data's loss, as recorded (comparable with validation losses).
        objective : scalar tensor
            The loss plus the activation penalties.
        """
        loss = self.head.loss(outputs.prediction, target, data_loss)
        if outputs.penalty is None:
            return loss, loss
        return loss, loss + outputs.penalty


class NetworkOutputs(NamedTuple):
    """What a network's ``forward(..., return_all=True)`` returns.

    Parameters
    ----------
    prediction : torch.Tensor
        The outputs, as ``forward`` returns them without ``return_all``.
    state : object, default=None
        The recurrent layers' state after the last step (carried from one
        window to the next by truncated back-propagation through time).
    penalty : torch.Tensor or None, default=None
        The activation penalties' sum, added to the training loss.

    Examples
    --------
    >>> import torch
    >>> from sklstm.nn import RecurrentNetwork
    >>> network = RecurrentNetwork(n_features=2, n_outputs=3, num_hidden=4)
    >>> outputs = network(torch.zeros(5, 7, 2), return_all=True)
    >>> outputs.prediction.shape, outputs.penalty
    (torch.Size([5, 3]), None)
    """

    prediction: torch.Tensor
    state: object = None
    penalty: torch.Tensor | None = None


# state-dict keys of files written before the network was split into parts
_RENAMED_KEYS = (
    ("embedding.", "inputs."),
    ("scaler.", "inputs.scaler."),
    ("pool.", "readout.pool."),
    ("tail_gate.", "head.tail_gate."),
)


def _rename_keys_of_old_files(module, state_dict, prefix, *args):
    """A load_state_dict pre-hook: the weights of sklstm files written
    before the parts had their names load into the parts."""
    for old, new in _RENAMED_KEYS:
        for key in [k for k in state_dict if k.startswith(prefix + old)]:
            state_dict[prefix + new + key[len(prefix + old):]] = state_dict.pop(key)


def _check_options(cell, vocab_size, embedding_dropout, input_differences,
                   per_step, conv_layers, conv_stride, conv_kernel_size,
                   tie_weights, bidirectional):
    """Combinations of options that no part can check alone."""
    if embedding_dropout and vocab_size is None:
        raise ValueError("embedding_dropout needs token inputs (vocab_size).")
    if cell not in CELLS:
        raise ValueError(f"cell must be one of {sorted(CELLS)}, got {cell!r}.")
    if input_differences and vocab_size is not None:
        raise ValueError("input_differences needs real-valued inputs, not tokens.")
    if tie_weights and (vocab_size is None or bidirectional):
        raise ValueError("tie_weights needs token inputs and one direction.")
    if conv_layers and per_step and conv_stride != 1:
        raise ValueError(
            "per_step outputs need conv_stride=1 (one output per input "
            f"step), got conv_stride={conv_stride}."
        )
    if conv_layers and per_step and conv_kernel_size % 2 == 0:
        # an even kernel, padded alike on both sides, adds a step
        raise ValueError(
            "per_step outputs need an odd conv_kernel_size (one output "
            f"per input step), got conv_kernel_size={conv_kernel_size}."
        )
