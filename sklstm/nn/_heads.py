"""Output layers: a linear head whose evaluation does not depend on the
batch, and the two-level softmax of language models with its loss."""

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from ._tensors import recording


def exact_linear(features, weight, bias):
    """``F.linear`` accumulated in float64 and rounded once.

    In float32, a matrix product's rounding depends on how many rows it
    has, so a sequence's output would change (in the last bit) with the
    batch it is predicted in; rounded once, it does not.
    """
    return F.linear(features.double(), weight.double(), bias.double()).to(features.dtype)


class LinearHead(nn.Linear):
    """The output layer: a linear map, exact in evaluation.

    Parameters
    ----------
    n_inputs, n_outputs : int
        Sizes of the features it reads and of the outputs it returns.
    exact_eval : bool, default=True
        In evaluation mode, compute in float64 and round once
        (:func:`exact_linear`), so that an output never depends on which
        other sequences share its batch. Costs little for small output
        layers; language models with large vocabularies turn it off.
    init_range : float or None, default=None
        When set, ``embedding`` and this layer's weights start uniform in
        ``[-init_range, init_range]`` and its bias at zero, as the reference
        PyTorch and TensorFlow language-model examples initialise them.
    embedding : torch.nn.Embedding or None, default=None
        The network's token embedding, for ``init_range`` and ``tie_weights``.
    tie_weights : bool, default=False
        Share the embedding matrix with this layer (needs the embedding's
        shape ``(n_outputs, n_inputs)``).

    Examples
    --------
    >>> import torch
    >>> from sklstm.nn import LinearHead
    >>> head = LinearHead(8, 3).eval()
    >>> features = torch.randn(5, 8)
    >>> head(features).shape
    torch.Size([5, 3])
    >>> bool(torch.equal(head(features)[:2], head(features[:2])))  # batch-independent
    True
    """

    def __init__(self, n_inputs, n_outputs, exact_eval=True, init_range=None,
                 embedding=None, tie_weights=False):
        super().__init__(n_inputs, n_outputs)
        self.exact_eval = exact_eval
        if init_range is not None:
            if not init_range > 0:
                raise ValueError(f"init_range must be positive or None, got {init_range}.")
            for layer in (embedding, self):
                if layer is not None:
                    nn.init.uniform_(layer.weight, -init_range, init_range)
            nn.init.zeros_(self.bias)
        if tie_weights:
            if embedding is None:
                raise ValueError("tie_weights needs token inputs and one direction.")
            if embedding.weight.shape != self.weight.shape:
                raise ValueError(
                    "tie_weights needs embedding_dim == num_hidden and "
                    "n_outputs == vocab_size, got embedding "
                    f"{tuple(embedding.weight.shape)} and output layer "
                    f"{tuple(self.weight.shape)}."
                )
            self.weight = embedding.weight

    def linear(self, features, weight, bias):
        """``F.linear``; exact in evaluation with ``exact_eval``."""
        if self.training or not self.exact_eval:
            return F.linear(features, weight, bias)
        return exact_linear(features, weight, bias)

    def forward(self, features):
        return self.linear(features, self.weight, self.bias)

    def loss(self, prediction, target, data_loss):
        """The training loss of the forward pass's ``prediction``:
        ``data_loss(prediction, target)``, the criterion's."""
        return data_loss(prediction, target)


class TwoLevelSoftmaxHead(LinearHead):
    """A two-level softmax (an adaptive softmax with one tail cluster,
    Grave et al. 2017).

    Its head scores the first ``cutoff`` outputs (for a vocabulary ordered by
    frequency, the most frequent words) and one more output, "the word is
    in the tail", whose probability the tail's softmax over the other
    outputs shares out. The output weights are those of a full linear layer
    (so they can still be tied); only their normalisation differs. In
    training mode the layer returns the features as they are and
    :meth:`loss` scores them, computing tail scores only for targets in the
    tail; in evaluation mode it returns log-probabilities over all
    ``n_outputs``.

    Parameters
    ----------
    n_inputs, n_outputs : int
        Sizes of the features it reads and of the vocabulary it scores.
    cutoff : int
        Outputs in the head, between 1 and ``n_outputs - 1``.
    **params
        As :class:`LinearHead`.

    Examples
    --------
    >>> import torch
    >>> from sklstm.nn import TwoLevelSoftmaxHead
    >>> head = TwoLevelSoftmaxHead(8, 10, cutoff=4).eval()
    >>> log_proba = head(torch.randn(2, 8))  # over all 10 outputs
    >>> log_proba.shape, torch.allclose(log_proba.exp().sum(dim=-1), torch.ones(2))
    (torch.Size([2, 10]), True)
    """

    def __init__(self, n_inputs, n_outputs, cutoff, **params):
        super().__init__(n_inputs, n_outputs, **params)
        if not 0 < cutoff < n_outputs:
            raise ValueError(
                f"softmax_cutoff must be between 1 and n_outputs - 1 = "
                f"{n_outputs - 1}, got {cutoff}."
            )
        self.cutoff = cutoff
        # the head's extra output: log-odds of "the target is in the tail"
        self.tail_gate = nn.Linear(n_inputs, 1)

    def forward(self, features):
        if self.training:
            return features
        head = self._head_log_proba(features)
        tail = head[..., -1:] + self._tail_log_proba(features)
        return torch.cat([head[..., :-1], tail], dim=-1).to(features.dtype)

    def _head_log_proba(self, features):
        """Log-probabilities of the head: its outputs, then "in the tail"."""
        k = self.cutoff
        weight = torch.cat([self.weight[:k], self.tail_gate.weight])
        bias = torch.cat([self.bias[:k], self.tail_gate.bias])
        return F.log_softmax(self.linear(features, weight, bias).float(), dim=-1)

    def _tail_log_proba(self, features):
        """Log-probabilities of the tail's outputs given that the target is there."""
        k = self.cutoff
        logits = self.linear(features, self.weight[k:], self.bias[k:])
        return F.log_softmax(logits.float(), dim=-1)

    def loss(self, prediction, target, data_loss=None):
        """The mean negative log-likelihood of the targets (:meth:`nll`)."""
        return self.nll(prediction, target)

    def nll(self, features, target, ignore_index=-100):
        """Mean negative log-likelihood of targets under the two-level softmax.

        Computes the tail's scores only for the targets in the tail, which is
        what makes the two-level softmax cheap to train.

        Parameters
        ----------
        features : tensor of shape (..., n_inputs)
            What the layer returns in training mode.
        target : tensor of shape (...)
            Output ids; ``ignore_index`` marks steps that are not scored.
        ignore_index : int, default=-100
            Target value that is left out of the mean.

        Returns
        -------
        loss : scalar tensor
            Mean over the scored targets (0 when there are none).
        """
        features = features.reshape(-1, features.shape[-1])
        target = target.reshape(-1)
        scored = target != ignore_index
        if not bool(scored.all()):
            features, target = features[scored], target[scored]
        k = self.cutoff
        head = self._head_log_proba(features)
        log_lik = head.gather(1, target.clamp(max=k)[:, None]).sum()
        in_tail = (target >= k).nonzero().squeeze(1)
        if len(in_tail):
            tail = self._tail_log_proba(features[in_tail])
            log_lik = log_lik + tail.gather(1, (target[in_tail] - k)[:, None]).sum()
        return -log_lik / max(len(target), 1)


RESAMPLING = ("mean", "interpolate")


def resample(X, lengths, n_points, mode="interpolate"):
    """``(batch, n_points, features)``: each sequence of ``X`` at
    ``n_points`` evenly spaced positions from its first real step to its
    last; padding is never read.

    A sequence of at most ``n_points`` steps is interpolated linearly (with
    as many points as steps, its values as they are). A longer one, with
    ``mode="mean"``, gives the mean of each point's share of its steps (the
    steps ``i * T // n_points`` to ``(i + 1) * T // n_points`` for point
    ``i`` of ``n_points``, ``T`` real steps): every step counts once, and a
    frequency above the points' rate cannot alias. ``mode="interpolate"``
    interpolates these too (sklstm's files before the means read so).

    >>> import torch
    >>> X = torch.tensor([[[0.0], [1.0], [2.0], [3.0], [4.0], [5.0]],
    ...                   [[0.0], [2.0], [4.0], [9.0], [9.0], [9.0]]])
    >>> resample(X, torch.tensor([6, 3]), 3)[..., 0]  # interpolates
    tensor([[0.0000, 2.5000, 5.0000],
            [0.0000, 2.0000, 4.0000]])
    >>> resample(X, torch.tensor([6, 3]), 3, mode="mean")[..., 0]  # pairs of steps
    tensor([[0.5000, 2.5000, 4.5000],
            [0.0000, 2.0000, 4.0000]])
    """
    if mode not in RESAMPLING:
        raise ValueError(f"mode must be one of {RESAMPLING}, got {mode!r}.")
    batch, n_steps = X.shape[:2]
    shortcut = not recording()  # a recorded graph holds every case below
    if shortcut and lengths is None and n_steps == n_points:
        # every sequence has n_points steps: the points are its steps, as
        # the interpolation below computes them (at whole steps, weight 0)
        return X
    length = (torch.full((batch,), n_steps, device=X.device) if lengths is None
              else lengths.to(X.device).long())
    last = (length - 1).to(X.dtype)
    # i * last / (n_points - 1): whole steps exactly where the points fall on
    # them (every step, when n_points is the length)
    index = torch.arange(n_points, device=X.device, dtype=X.dtype)
    position = index[None] * last[:, None] / max(n_points - 1, 1)
    left = position.floor().long()
    right = torch.minimum(left + 1, length[:, None] - 1)
    weight = (position - left.to(X.dtype))[..., None]

    def at(index, values=X):
        return values.gather(1, index[..., None].expand(-1, -1, values.shape[2]))

    points = at(left) * (1 - weight) + at(right) * weight
    if mode == "interpolate" or (shortcut and n_steps <= n_points):
        return points  # (no sequence is longer than n_points: no means)
    # the means of whole-step bins, from prefix sums in float64 (a sum that
    # rounds the same whatever follows it: padding cannot change a mean);
    # the sums never reach past a sequence's last real step. Computed for
    # every batch that may hold a longer sequence, and always while a graph
    # is recorded: an ONNX export traces one batch, and its graph must hold
    # both
    sums = torch.cat([X.new_zeros(batch, 1, X.shape[2], dtype=torch.float64),
                      X.double().cumsum(1)], dim=1)
    edge = torch.arange(n_points + 1, device=X.device)[None] * length[:, None] // n_points
    means = (at(edge[:, 1:], sums) - at(edge[:, :-1], sums)) / (
        edge[:, 1:] - edge[:, :-1]).clamp(min=1)[..., None]
    longer = (length > n_points)[:, None, None]
    return torch.where(longer, means.to(X.dtype), points)


class SummaryPath(nn.Module):
    """A fixed linear path from a summary of each sequence to the outputs,
    added to the head's: it keeps *where* along a sequence a value sits,
    which pooling over time throws away, as a linear model on the raw
    values does.

    Each sequence's real steps are resampled at ``n_points`` evenly spaced
    positions (:func:`resample`), so that sequences of any length give the
    same summary and padding is never read. The weights are buffers, not
    trained: the estimator fits them in closed form (a ridge regression or
    partial least squares, see :class:`~sklstm.SequenceRegressor`)
    before the network trains, and the network learns what they leave.

    Parameters
    ----------
    n_features : int
        Features per step of the sequences it reads.
    n_points : int
        Resampled positions per sequence (at least 2).
    n_outputs : int
        Outputs it adds to, those of the network's head.
    weight : array-like of shape (n_outputs, n_points * n_features) or None
        None: zeros (the path adds nothing), until a state dict fills them.
    bias : array-like of shape (n_outputs,) or None
        The path's intercepts; None: zeros.
    exact_eval : bool, default=True
        In evaluation mode, compute in float64 and round once (see
        :class:`LinearHead`).
    resampling : {"interpolate", "mean"}, default="interpolate"
        How a sequence longer than ``n_points`` is summarised (see
        :func:`resample`): linear interpolation, or the mean of each
        point's share of the steps (the estimators' choice since
        2026-12-03; their files from before interpolate).

    Examples
    --------
    >>> import torch
    >>> from sklstm.nn import SummaryPath
    >>> path = SummaryPath(1, 3, 1, weight=[[0.0, 1.0, 0.0]], bias=[0.5])
    >>> path(torch.tensor([[[0.0], [1.0], [2.0], [3.0], [4.0]]]))  # middle + 0.5
    tensor([[2.5000]])
    """

    def __init__(self, n_features, n_points, n_outputs, weight=None, bias=None,
                 exact_eval=True, resampling="interpolate"):
        super().__init__()
        if n_points < 2:
            raise ValueError(f"n_points must be at least 2, got {n_points}.")
        if resampling not in RESAMPLING:
            raise ValueError(f"resampling must be one of {RESAMPLING}, got {resampling!r}.")
        self.n_points = n_points
        self.resampling = resampling
        self.exact_eval = exact_eval
        size = n_features * n_points
        weight = torch.zeros(n_outputs, size) if weight is None else torch.as_tensor(
            np.asarray(weight, dtype=np.float32)).reshape(n_outputs, size)
        bias = torch.zeros(n_outputs) if bias is None else torch.as_tensor(
            np.asarray(bias, dtype=np.float32)).reshape(n_outputs)
        self.register_buffer("weight", weight)
        self.register_buffer("bias", bias)

    def forward(self, X, lengths=None):
        features = resample(X, lengths, self.n_points, self.resampling).flatten(1)
        if self.training or not self.exact_eval:
            return F.linear(features, self.weight.to(features.dtype), self.bias.to(features.dtype))
        return exact_linear(features, self.weight, self.bias)
