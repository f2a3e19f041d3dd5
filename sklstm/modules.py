"""PyTorch modules behind the sklstm estimators.

They are public so that they can be reused in plain PyTorch or skorch code.
"""

import torch
from torch import nn
from torch.nn import functional as F
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

__all__ = ["RecurrentNetwork"]

_CELLS = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}


def _map_state(fn, state):
    """Apply ``fn`` to a recurrent state: a tensor, or a tuple (LSTM's h and c)."""
    return tuple(fn(s) for s in state) if isinstance(state, tuple) else fn(state)


class RecurrentNetwork(nn.Module):
    """A recurrent network with an input layer, a stack of recurrent layers and a head.

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
        otherwise only for the last real step of each sequence
        ``(batch, n_outputs)``.
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

    Examples
    --------
    >>> import torch
    >>> from sklstm.modules import RecurrentNetwork
    >>> net = RecurrentNetwork(n_features=1, n_outputs=3, num_hidden=8)
    >>> net(torch.zeros(4, 10, 1)).shape
    torch.Size([4, 3])
    >>> net(torch.zeros(2, 5, 1), lengths=torch.tensor([5, 2])).shape
    torch.Size([2, 3])
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
    ):
        super().__init__()
        self.compute_dtype = compute_dtype
        self.batch_invariant_eval = batch_invariant_eval
        if cell not in _CELLS:
            raise ValueError(f"cell must be one of {sorted(_CELLS)}, got {cell!r}.")
        self.per_step = per_step
        self.bidirectional = bidirectional
        if vocab_size is not None:
            embedding_dim = num_hidden if embedding_dim is None else embedding_dim
            self.embedding = nn.Embedding(vocab_size, embedding_dim)
            n_inputs = embedding_dim
        else:
            self.embedding = None
            n_inputs = n_features
        self.rnn = _CELLS[cell](
            n_inputs,
            num_hidden,
            num_layers=num_layers,
            batch_first=True,
            bidirectional=bidirectional,
            dropout=dropout if num_layers > 1 else 0.0,
        )
        self.dropout = nn.Dropout(dropout)
        n_directions = 2 if bidirectional else 1
        self.head = nn.Linear(num_hidden * n_directions, n_outputs)
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
        with torch.autocast(X.device.type, dtype=self.compute_dtype):
            out = self._forward(X, lengths, state, return_state)
        if return_state:
            out, state = out
            return out.float(), _map_state(torch.Tensor.float, state)
        return out.float()

    def _forward(self, X, lengths, state, return_state):
        if self.embedding is not None:
            X = self.embedding(X)
        X = self.dropout(X)
        packed = lengths is not None and self.bidirectional
        if packed:
            # The backward direction must start at each sequence's last real
            # step, so variable-length bidirectional input is packed.
            X = pack_padded_sequence(
                X, lengths.cpu(), batch_first=True, enforce_sorted=False
            )
        out, state = self.rnn(X, state)
        if packed:
            out, _ = pad_packed_sequence(out, batch_first=True)
        if not self.per_step:
            if lengths is None:
                last = out[:, -1]
            else:
                last = out[torch.arange(out.shape[0]), lengths - 1]
            if self.bidirectional:
                # the backward direction has read the whole sequence at step 0
                half = out.shape[-1] // 2
                last = torch.cat([last[:, :half], out[:, 0, half:]], dim=-1)
            out = last
        out = self.dropout(out)
        if self.training or not self.batch_invariant_eval:
            out = self.head(out)
        else:
            # In float32, a matrix product's rounding depends on how many rows
            # it has, so a sequence's output would change (in the last bit)
            # with the batch it is predicted in. Accumulating in float64 and
            # rounding once makes predictions independent of the batch.
            w, b = self.head.weight, self.head.bias
            out = F.linear(out.double(), w.double(), b.double()).to(out.dtype)
        return (out, state) if return_state else out
