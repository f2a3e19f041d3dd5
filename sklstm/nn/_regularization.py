"""Regularisers between the parts: dropout of whole sequences' features
and the activation penalties of AWD-LSTM."""

from torch import nn

from ._tensors import locked_dropout, masked_mean, step_mask


class SequenceDropout(nn.Dropout):
    """Dropout; with ``locked``, one mask per sequence shared by all its
    steps (variational dropout, Gal & Ghahramani 2016).

    Parameters
    ----------
    p : float
    locked : bool, default=False
    """

    def __init__(self, p, locked=False):
        super().__init__(p)
        self.locked = locked

    def forward(self, X):
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
