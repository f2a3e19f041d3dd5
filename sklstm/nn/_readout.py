"""The readout: per-step outputs pooled into one vector per sequence, with
the convolution shortcut beside them."""

import torch
from torch import nn

from ._tensors import step_mask

POOLINGS = ("last", "mean", "max", "attention")
# poolings of the convolution front-end's outputs (conv_pooling)
CONV_POOLINGS = ("mean", "max")


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

    Examples
    --------
    >>> import torch
    >>> from sklstm.nn import Pooling
    >>> out = torch.tensor([[[1.0], [5.0], [3.0]], [[2.0], [4.0], [9.0]]])
    >>> lengths = torch.tensor([3, 2])  # the second sequence's last step is padding
    >>> Pooling("max", 1)(out, lengths).flatten().tolist()
    [5.0, 4.0]
    >>> Pooling("mean", 1)(out, lengths).flatten().tolist()
    [3.0, 3.0]
    >>> Pooling("last", 1)(out, lengths).flatten().tolist()
    [3.0, 4.0]
    """

    def __init__(self, mode, n_inputs, bidirectional=False):
        super().__init__()
        if mode not in POOLINGS:
            raise ValueError(f"pooling must be one of {POOLINGS}, got {mode!r}.")
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
        mask = step_mask(lengths, out.shape[1])
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


class Readout(nn.Module):
    """One vector per sequence: the recurrent outputs pooled and, with
    ``conv_pooling``, the front-end's outputs pooled beside them (a
    shortcut from the convolutions to the head, as LSTM-FCN joins its
    convolutional and recurrent branches).

    Parameters
    ----------
    pooling : {"last", "mean", "max", "attention"}
        Pooling of the recurrent outputs (see :class:`Pooling`).
    n_inputs : int
        Size of each step's recurrent output.
    bidirectional : bool
        Whether the second half of the outputs read the sequence backwards.
    conv_pooling : {"mean", "max"} or None, default=None
        Pooling of the front-end's outputs; None for no shortcut.
    conv_channels : int, default=0
        Channels of the front-end's outputs; 0 without a front-end (no
        shortcut).

    Attributes
    ----------
    n_outputs : int
        Size of the vector per sequence.

    Examples
    --------
    >>> import torch
    >>> from sklstm.nn import Readout
    >>> readout = Readout("max", 1, False, conv_pooling="mean", conv_channels=2)
    >>> out = torch.tensor([[[1.0], [5.0], [3.0]], [[2.0], [4.0], [9.0]]])
    >>> features = torch.tensor([[[1.0, 0.0], [3.0, 2.0], [5.0, 4.0]],
    ...                          [[2.0, 2.0], [4.0, 0.0], [7.0, 7.0]]])
    >>> readout.n_outputs, readout(out, features, torch.tensor([3, 2])).tolist()
    (3, [[5.0, 3.0, 2.0], [4.0, 3.0, 1.0]])
    """

    def __init__(self, pooling, n_inputs, bidirectional, conv_pooling=None,
                 conv_channels=0):
        super().__init__()
        if conv_pooling is not None and conv_pooling not in CONV_POOLINGS:
            raise ValueError(
                f"conv_pooling must be one of {CONV_POOLINGS} or None, got "
                f"{conv_pooling!r}."
            )
        self.pool = Pooling(pooling, n_inputs, bidirectional)
        self.conv_pool = None
        self.n_outputs = n_inputs
        if conv_pooling is not None and conv_channels:
            self.conv_pool = Pooling(conv_pooling, conv_channels)
            self.n_outputs += conv_channels

    def forward(self, out, features, lengths=None):
        """``out``: recurrent outputs; ``features``: what the recurrent
        layers read (the front-end's outputs); both over ``lengths``."""
        out = self.pool(out, lengths)
        if self.conv_pool is None:
            return out
        return torch.cat([out, self.conv_pool(features, lengths)], dim=-1)
