"""Regularisers between the parts: dropout of whole sequences' features
and the activation penalties of AWD-LSTM."""

import torch
from torch import nn

from ._tensors import locked_dropout, masked_mean, step_mask


class SequenceDropout(nn.Dropout):
    """Dropout; with ``locked``, one mask per sequence shared by all its
    steps (variational dropout, Gal & Ghahramani 2016).

    Parameters
    ----------
    p : float
        Probability of zeroing each value in training.
    locked : bool, default=False
        One mask per sequence, the same at every step, instead of one per
        value.

    Examples
    --------
    >>> import torch
    >>> from sklstm.nn import SequenceDropout
    >>> X = torch.ones(2, 4, 3)  # (batch, time, features)
    >>> dropped = SequenceDropout(0.5, locked=True).train()(X)
    >>> bool((dropped == dropped[:, :1]).all())  # the same mask at every step
    True
    >>> SequenceDropout(0.5).eval()(X) is X
    True
    """

    def __init__(self, p, locked=False):
        super().__init__(p)
        self.locked = locked

    def forward(self, X):
        if not self.training or self.p == 0:  # the identity, without a call
            return X
        if self.locked:
            return locked_dropout(X, self.p, self.training)
        return super().forward(X)


class ActivationPenalties(nn.Module):
    """AR and TAR (Merity et al. 2017) of the last recurrent layer's outputs.

    Parameters
    ----------
    activation : float
        ``activation`` times the mean square of the outputs after dropout,
        over the real steps (AR).
    temporal : float
        ``temporal`` times the mean square of the change of the outputs
        before dropout from one real step to the next (TAR).

    Examples
    --------
    >>> import torch
    >>> from sklstm.nn import ActivationPenalties
    >>> outputs = torch.tensor([[[1.0], [3.0]]])  # one sequence, two steps
    >>> ActivationPenalties(activation=2.0, temporal=1.0)(outputs, outputs)
    tensor(14.)
    """

    def __init__(self, activation, temporal):
        super().__init__()
        self.activation = activation
        self.temporal = temporal

    def forward(self, raw, dropped, lengths=None):
        """The penalty, a scalar in float32: ``raw`` are the per-step outputs,
        ``dropped`` what the head reads (per step, or one vector per
        sequence)."""
        raw = raw.float()
        mask = step_mask(lengths, raw.shape[1])
        penalty = raw.new_zeros(())
        if self.activation:
            # per-step networks: the dropped outputs; pooled ones dropped one
            # vector per sequence, so AR takes their raw per-step outputs
            square = (dropped.float() if dropped.ndim == 3 else raw).pow(2)
            penalty = penalty + self.activation * masked_mean(square, mask)
        if self.temporal:
            change = (raw[:, 1:] - raw[:, :-1]).pow(2)
            pairs = None if mask is None else mask[:, 1:]
            penalty = penalty + self.temporal * masked_mean(change, pairs)
        return penalty


# the fractions a batch's windows draw from, evenly spaced
_CROP_LEVELS = 8


class RandomCrop(nn.Module):
    """Window slicing (Le Guennec et al. 2016): in training, each sequence
    is replaced by a random window of itself, a new one at each call.

    A batch draws one fraction ``f`` among 8 evenly spaced values from
    ``fraction`` to 1 (few distinct batch shapes, so that the kernels
    compiled for a shape are reused); each sequence keeps
    ``round(f * length)`` consecutive steps (at least one) from a random
    start within its real steps. Equal-length batches stay equal-length;
    ragged ones get the windows' lengths. In evaluation mode it returns its
    inputs unchanged. It has no weights.

    Parameters
    ----------
    fraction : float in (0, 1]
        The shortest window, as a fraction of each sequence's length; 1
        keeps whole sequences.

    Examples
    --------
    >>> import torch
    >>> from sklstm.nn import RandomCrop
    >>> crop = RandomCrop(0.5)
    >>> X = torch.arange(10.0).reshape(1, 10, 1).repeat(3, 1, 1)
    >>> windows, lengths = crop(X)
    >>> lengths is None, 5 <= windows.shape[1] <= 10
    (True, True)
    >>> bool((windows.diff(dim=1) == 1).all())  # consecutive steps
    True
    >>> crop.eval()(X)[0] is X
    True
    """

    def __init__(self, fraction):
        super().__init__()
        if not 0 < fraction <= 1:
            raise ValueError(f"fraction must be in (0, 1], got {fraction!r}.")
        self.fraction = fraction

    def forward(self, X, lengths=None):
        """``(windows, lengths)``: the windows padded like ``X``, and their
        lengths (None where ``lengths`` is None)."""
        if not self.training or self.fraction >= 1:
            return X, lengths
        batch, n_steps = X.shape[:2]
        level = int(torch.randint(_CROP_LEVELS, ()))
        f = self.fraction + (1 - self.fraction) * level / (_CROP_LEVELS - 1)
        real = (torch.full((batch,), n_steps, device=X.device) if lengths is None
                else lengths.to(X.device))
        kept = (real * f).round().long().clamp(min=1)
        start = (torch.rand(batch, device=X.device) * (real - kept + 1)).long()
        steps = torch.arange(int(kept.max()), device=X.device)
        # past a window's end (padding), repeat its last step
        index = start[:, None] + torch.minimum(steps[None], kept[:, None] - 1)
        index = index.reshape(batch, -1, *([1] * (X.ndim - 2))).expand(-1, -1, *X.shape[2:])
        windows = X.gather(1, index)
        return windows, None if lengths is None else kept.to(lengths.device)
