"""The input stage: real-valued features (their differences, then
standardisation) or token ids (an embedding with word dropout)."""

from numbers import Integral

import torch
from torch import nn
from torch.nn import functional as F

from .._numerics import is_constant
from ._tensors import keep_mask, step_mask


class Standardize(nn.Module):
    """Per-feature standardisation ``(X - mean) / scale`` with fixed statistics.

    The statistics are buffers: learned by the estimator before training
    (over the real steps of the training sequences), saved with the weights
    and never changed by the optimizer.

    Parameters
    ----------
    mean, scale : array-like of shape (n_features,)
        Subtracted from each feature, and then divided into it.

    Examples
    --------
    >>> import torch
    >>> from sklstm.nn import Standardize
    >>> Standardize(mean=[1.0, 10.0], scale=[2.0, 5.0])(torch.tensor([[[3.0, 20.0]]]))
    tensor([[[1., 2.]]])
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
    >>> from sklstm.nn import Differences
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


def sequence_stats(X, lengths=None):
    """Mean and standard deviation of each sequence's features over its real
    steps, in float64.

    Parameters
    ----------
    X : tensor of shape (batch, time, n)
    lengths : tensor of shape (batch,) or None
        Real lengths; None when every sequence has ``time`` steps.

    Returns
    -------
    mean, scale : tensors of shape (batch, 1, n), float64
        ``scale`` is the standard deviation, 1 where a sequence's feature is
        constant up to float32 rounding (relative to its mean, as for the
        training data's statistics). In float64, a sequence's statistics do
        not depend on how far its batch is padded.

    >>> import torch
    >>> X = torch.tensor([[[1.0], [3.0], [0.0]], [[2.0], [2.0], [2.0]]])
    >>> mean, scale = sequence_stats(X, torch.tensor([2, 3]))
    >>> mean.flatten().tolist(), scale.flatten().tolist()
    ([2.0, 2.0], [1.0, 1.0])
    """
    X = X.double()
    if lengths is None:
        mean = X.mean(dim=1, keepdim=True)
        std = X.std(dim=1, keepdim=True, correction=0)
    else:
        mask = step_mask(lengths, X.shape[1])[..., None].to(X.dtype)
        n = lengths.to(X.dtype)[:, None, None]
        mean = (X * mask).sum(dim=1, keepdim=True) / n
        std = (((X - mean) * mask) ** 2).sum(dim=1, keepdim=True).div(n).sqrt()
    return mean, torch.where(is_constant(mean, std), torch.ones_like(std), std)


class SequenceStandardize(nn.Module):
    """Standardise each feature of each sequence by that sequence's own
    mean and standard deviation over its real steps.

    The UCR/UEA archives' z-normalisation, and the standard normal variate
    of spectroscopy: a sequence's offset and scale drop out, so that series
    measured under a multiplicative effect (light scatter, a sensor's gain)
    show their shape alone. :class:`NumericInput` appends it, of each
    feature and of its first difference, to the features, which keep the
    level. Statistics from :func:`sequence_stats`
    (constant features become zeros); padded steps take no part.

    Examples
    --------
    >>> import torch
    >>> from sklstm.nn import SequenceStandardize
    >>> X = torch.tensor([[[1.0], [3.0], [0.0]], [[10.0], [30.0], [20.0]]])
    >>> SequenceStandardize()(X, lengths=torch.tensor([2, 2]))[:, :2, 0].tolist()
    [[-1.0, 1.0], [-1.0, 1.0]]
    """

    def __init__(self):  # no parameters: the statistics are each sequence's
        super().__init__()

    def forward(self, X, lengths=None):
        exact = X.double()
        mean, scale = sequence_stats(exact, lengths)
        return ((exact - mean) / scale).to(X.dtype)


class NumericInput(nn.Module):
    """Real-valued inputs: their :class:`Differences` and
    :class:`SequenceStandardize` copies, then :class:`Standardize`.

    Parameters
    ----------
    n_features : int
        Features per step.
    differences : int, default=0
        Orders of differences appended (see :class:`Differences`).
    lag : int, default=1
        Steps between the values differenced.
    mean, scale : array-like or None, default=None
        Standardisation statistics of the features with their differences
        and copies; None for none.
    per_sequence : bool, default=False
        Append each of the ``n_features`` features and its first difference
        over ``lag`` steps, each standardised by its own sequence
        (:class:`SequenceStandardize`), after the differences: the shape of
        a series and of its slope, free of its offset, trend and scale.

    Attributes
    ----------
    n_outputs : int
        Features per step after the differences and copies.

    Examples
    --------
    >>> import torch
    >>> from sklstm.nn import NumericInput
    >>> inputs = NumericInput(2, differences=1)  # 2 features and their slopes
    >>> inputs.n_outputs, inputs(torch.zeros(4, 10, 2)).shape
    (4, torch.Size([4, 10, 4]))
    """

    def __init__(self, n_features, differences=0, lag=1, mean=None, scale=None,
                 per_sequence=False):
        super().__init__()
        self.differences = Differences(differences, lag) if differences else None
        self.per_sequence = SequenceStandardize() if per_sequence else None
        # the first differences the copies read, where the features lack them
        self.slopes = Differences(1, lag) if per_sequence and not differences else None
        self.scaler = None if mean is None else Standardize(mean, scale)
        self.n_outputs = n_features * (differences + 1 + 2 * bool(per_sequence))

    def forward(self, X, lengths=None):
        features = X
        if self.differences is not None:
            features = self.differences(X)
        if self.per_sequence is not None:
            # each feature and its first difference: the features' first
            # 2 * n_features columns, where they have differences
            shapes = features[..., : 2 * X.shape[-1]] if self.slopes is None else self.slopes(X)
            features = torch.cat([features, self.per_sequence(shapes, lengths)], dim=-1)
        if self.scaler is not None:
            features = self.scaler(features)
        return features


class TokenEmbedding(nn.Embedding):
    """Token embeddings; in training, whole words dropped.

    With ``word_dropout`` (Merity et al.'s embedding dropout), each
    vocabulary entry's embedding is zeroed with this probability, one draw
    per forward call (so a dropped word is dropped at every step of the
    window), and the others scaled by ``1 / (1 - p)``.

    Parameters
    ----------
    vocab_size, embedding_dim : int
        Entries of the vocabulary, and the size of each one's embedding.
    word_dropout : float, default=0.0
        Probability of dropping each vocabulary entry in training.

    Notes
    -----
    ``forward(X, lengths=None)`` takes the lengths that a
    :class:`NumericInput` reads, and ignores them.

    Examples
    --------
    >>> import torch
    >>> from sklstm.nn import TokenEmbedding
    >>> TokenEmbedding(100, 8)(torch.tensor([[1, 5, 7]])).shape  # 3 token ids
    torch.Size([1, 3, 8])
    """

    def __init__(self, vocab_size, embedding_dim, word_dropout=0.0):
        if not 0 <= word_dropout < 1:
            raise ValueError(f"embedding_dropout must be in [0, 1), got {word_dropout}.")
        super().__init__(vocab_size, embedding_dim)
        self.word_dropout = word_dropout
        self.n_outputs = embedding_dim

    def forward(self, X, lengths=None):
        if not (self.training and self.word_dropout):
            return super().forward(X)
        mask = keep_mask((self.weight.shape[0], 1), self.word_dropout, self.weight)
        return F.embedding(X, self.weight * mask)
