"""Deep ensembles: several networks trained on the same batches, their
predictions averaged."""

import math

import torch
from torch import nn

from .._threads import map_in_threads, worker_count
from ._network import NetworkOutputs, RecurrentNetwork
from ._tensors import recording


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

    Notes
    -----
    In training mode the output is the networks' outputs stacked on a new
    first axis, ``(n_networks, batch, ...)``; :meth:`training_loss` sums the
    networks' losses, so that each network follows the gradient of its own
    loss as if trained alone.

    On the CPU the networks run side by side, one thread each, as many at
    once as torch has intra-op threads (:meth:`map_networks`): at the
    small shapes of sequence models, independent networks on one core each
    keep the cores busier than one network at a time on all of them. Each
    network computes what it would alone; ``torch.set_num_threads(1)``
    runs them one after another.

    Examples
    --------
    >>> import torch
    >>> from sklstm.nn import NetworkEnsemble
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

    def map_networks(self, fn):
        """``fn(network)`` for each network, side by side where that pays.

        On the CPU, in as many threads as torch has intra-op threads (at
        most one per network), each thread on its share of them (see
        :func:`sklstm._threads.map_in_threads`); elsewhere, and while traced
        (an ONNX export, which records one thread), one after another.

        Parameters
        ----------
        fn : callable
            Takes one :class:`RecurrentNetwork`. It must draw no random
            numbers from torch's global generator (threads would draw in no
            fixed order) and may run a backward pass (each network's
            gradients are its own).

        Returns
        -------
        results : list
            ``fn``'s results, in the networks' order.

        Examples
        --------
        >>> import torch
        >>> from sklstm.nn import NetworkEnsemble
        >>> ensemble = NetworkEnsemble(3, n_features=2, n_outputs=4, num_hidden=8).eval()
        >>> X = torch.zeros(5, 10, 2)
        >>> outputs = ensemble.map_networks(lambda network: network(X))
        >>> [tuple(out.shape) for out in outputs]
        [(5, 4), (5, 4), (5, 4)]
        """
        device = next(self.parameters()).device.type
        workers = 1 if recording() else worker_count(len(self.networks), device)
        return map_in_threads(fn, self.networks, workers)

    @property
    def draws_random_numbers(self):
        """Whether a training forward pass draws random numbers (see
        :attr:`RecurrentNetwork.draws_random_numbers`)."""
        return any(network.draws_random_numbers for network in self.networks)

    @property
    def trains_side_by_side(self):
        """Whether a training step can run the networks' forward and backward
        passes side by side (:meth:`map_networks`): on the CPU with more than
        one intra-op thread, when no network draws random numbers in training
        (their draws, in no fixed order, would make fits irreproducible)."""
        device = next(self.parameters()).device.type
        return worker_count(len(self.networks), device) > 1 and not self.draws_random_numbers

    def forward(self, X, lengths=None, return_all=False):
        """Run every network on ``X`` (see :meth:`RecurrentNetwork.forward`)."""
        if self.training:
            outs = [network(X, lengths, return_all=True) for network in self.networks]
            prediction = torch.stack([out.prediction for out in outs])
            if not return_all:
                return prediction
            penalties = [out.penalty for out in outs if out.penalty is not None]
            return NetworkOutputs(prediction, None, sum(penalties) if penalties else None)
        return self.combine_outputs(
            torch.stack(self.map_networks(lambda network: network(X, lengths)))
        )

    def combine_outputs(self, outs):
        """The networks' outputs, stacked on a first axis ``(n_networks,
        batch, ...)``, combined as evaluation combines them (``combine``).

        Parameters
        ----------
        outs : torch.Tensor of shape (n_networks, batch, ...)

        Returns
        -------
        combined : torch.Tensor of shape (batch, ...)

        Examples
        --------
        >>> import torch
        >>> from sklstm.nn import NetworkEnsemble
        >>> ensemble = NetworkEnsemble(2, n_features=1, n_outputs=2, num_hidden=4)
        >>> logits = torch.tensor([[[0.0, 0.0]], [[0.0, 100.0]]])  # 2 networks, 1 sequence
        >>> ensemble.combine_outputs(logits).softmax(-1)  # the mean of their probabilities
        tensor([[0.2500, 0.7500]])
        """
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

    def training_loss(self, outputs, target, data_loss):
        """The mean of the networks' losses (recorded) and, to back-propagate,
        their sum plus their penalties (see
        :meth:`RecurrentNetwork.training_loss`).

        The sum, not the mean: each network follows the gradient of its own
        loss as if trained alone (the mean would shrink every gradient, and
        Adam's steps change with it through eps).
        """
        losses = [
            network.head.loss(prediction, target, data_loss)
            for network, prediction in zip(self.networks, outputs.prediction)
        ]
        loss = sum(losses) / len(losses)
        objective = loss * len(losses)
        if outputs.penalty is None:
            return loss, objective
        return loss, objective + outputs.penalty
