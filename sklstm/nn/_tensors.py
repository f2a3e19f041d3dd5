"""Small tensor helpers shared by the network's parts: masks of real steps,
dropout masks, recurrent states."""

import torch
from torch.nn import functional as F


def recording():
    """Whether torch is recording a graph (an ONNX export's trace, or
    ``torch.compile``): a part must then run the computation that holds for
    every input, not a shortcut that holds for this one's shapes."""
    return torch.jit.is_tracing() or torch.compiler.is_compiling()


def map_state(fn, state):
    """Apply ``fn`` to a recurrent state: a tensor, or a tuple (LSTM's h and c)."""
    return tuple(fn(s) for s in state) if isinstance(state, tuple) else fn(state)


def keep_mask(shape, p, like):
    """Dropout mask of ``shape``: 0 with probability ``p``, else ``1 / (1 - p)``.

    Drawn as uniform numbers compared with ``p``, which on the CPU is several
    times faster than ``bernoulli_`` (it matters for the large weight masks of
    weight drop).
    """
    keep = torch.rand(shape, device=like.device) >= p
    return keep.to(like.dtype) / (1 - p)


def masked_mean(values, mask):
    """Mean of ``(batch, time, n)`` values over the steps that ``mask`` keeps
    (all when None); 0 when none is kept."""
    if mask is None:
        return values.mean() if values.numel() else values.new_zeros(())
    kept = mask[..., None].to(values.dtype)
    return (values * kept).sum() / (kept.sum() * values.shape[-1]).clamp(min=1)


def step_mask(lengths, n_steps):
    """``(batch, n_steps)`` boolean mask of the real steps, or None without lengths."""
    if lengths is None:
        return None
    return torch.arange(n_steps, device=lengths.device) < lengths[:, None]


def locked_dropout(X, p, training=True):
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
    return X * keep_mask((X.shape[0], 1, X.shape[2]), p, X)
