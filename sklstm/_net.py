"""The skorch net that trains and runs sklstm's networks, and its progress bar."""

import torch
import tqdm
from skorch import NeuralNet
from skorch.callbacks import ProgressBar
from skorch.dataset import unpack_data

from ._compat import set_training
from .modules import _map_state

# verbose=1 shows a progress bar only when an epoch runs longer than this
_PROGRESS_BAR_DELAY_S = 2.0


class _SequenceNet(NeuralNet):
    """skorch net for the recurrent estimators.

    * Per-step outputs ``(batch, time, n_classes)`` are flattened so that the
      cross-entropy sees one row per step; padded steps carry the label -100,
      which the criterion ignores.
    * A module with a two-level softmax (``softmax_cutoff``) returns features
      in training mode and computes the training loss itself
      (:meth:`RecurrentNetwork.nll`); in evaluation mode it returns
      log-probabilities, which the cross-entropy criterion scores exactly.
    * With ``stateful=True`` (truncated back-propagation through time over
      consecutive windows), the recurrent state at the end of one batch,
      detached from the graph, is the initial state of the next; it is reset
      at the start of each epoch, for training and validation alike.
    """

    def __init__(self, module, criterion, stateful=False, **kwargs):
        super().__init__(module, criterion, **kwargs)
        self.stateful = stateful

    @property
    def network_(self):
        """The :class:`RecurrentNetwork`, also while a data-parallel wrapper
        (``DistributedDataParallel``) holds it as ``module_``."""
        return getattr(self.module_, "module", self.module_)

    def get_loss(self, y_pred, y_true, X=None, training=False):
        if getattr(self.network_, "member_outputs", False):
            # an ensemble in training: the mean of its networks' losses (the
            # recorded loss; train_step_single back-propagates their sum)
            losses = [self._loss(out, y_true, X, training) for out in y_pred]
            return sum(losses) / len(losses)
        return self._loss(y_pred, y_true, X, training)

    def _loss(self, y_pred, y_true, X=None, training=False):
        network = self.network_
        if network.training and getattr(network, "softmax_cutoff", None):
            # a two-level softmax: the module returned the features before its
            # output layer, and scores the targets itself
            return network.nll(y_pred, y_true)
        weight = X.get("sample_weight") if isinstance(X, dict) else None
        if weight is not None and y_pred.ndim == 3:
            # one weight per sequence, for each of its steps
            weight = weight[:, None].expand(y_true.shape)
        if y_pred.ndim == 3:
            y_pred = y_pred.reshape(-1, y_pred.shape[-1])
            y_true = y_true.reshape(-1)
        loss = super().get_loss(y_pred, y_true, X=X, training=training)
        if weight is None:
            return loss
        # the criterion was built with reduction="none": a weighted mean, whose
        # denominator counts what the criterion's own mean would count
        weight = weight.reshape(-1).to(loss.dtype)
        if loss.ndim > 1:  # (n, n_outputs) of regression
            loss = loss.mean(dim=1)
        denominator = weight
        if isinstance(self.criterion_, torch.nn.CrossEntropyLoss):
            scored = y_true != self.criterion_.ignore_index
            denominator = weight * scored
            if self.criterion_.weight is not None:
                class_weight = self.criterion_.weight[y_true.clamp(min=0)]
                denominator = denominator * class_weight
        return (loss * weight).sum() / denominator.sum().clamp(min=1e-12)

    def infer(self, x, **fit_params):
        # sample weights travel with the batch for the loss, not to the module
        if isinstance(x, dict) and "sample_weight" in x:
            x = {k: v for k, v in x.items() if k != "sample_weight"}
        return super().infer(x, **fit_params)

    def on_epoch_begin(self, net, dataset_train=None, dataset_valid=None, **kwargs):
        # training mode is set once per epoch instead of at every batch
        set_training(self, True)
        self.train_state_ = self.valid_state_ = None
        super().on_epoch_begin(net, dataset_train, dataset_valid, **kwargs)

    def _infer_carrying(self, Xi, phase, **fit_params):
        """Forward pass; with ``stateful``, start from and keep the carried state."""
        if not self.stateful:
            return self.infer(Xi, **fit_params)
        attr = f"{phase}_state_"
        y_pred, state = self.infer(
            Xi, state=getattr(self, attr), return_state=True, **fit_params
        )
        setattr(self, attr, _map_state(torch.Tensor.detach, state))
        return y_pred

    def train_step_single(self, batch, **fit_params):
        """One forward and backward pass; the module is already in training mode."""
        Xi, yi = unpack_data(batch)
        y_pred = self._infer_carrying(Xi, "train", **fit_params)
        loss = self.get_loss(y_pred, yi, X=Xi, training=True)
        # activation penalties (AR, TAR) train the network; the recorded
        # loss stays the data's, comparable with the validation loss
        penalty = getattr(self.network_, "penalty_", None)
        if penalty is not None:
            self.network_.penalty_ = None  # the module keeps no graph
        objective = loss
        if getattr(self.network_, "member_outputs", False):
            # the networks of an ensemble each follow the gradient of their own
            # loss, as if trained alone: the sum of their losses, not the mean
            # (which would shrink every gradient, and Adam's steps change
            # with it through eps)
            objective = loss * len(y_pred)
        self._backward(objective if penalty is None else objective + penalty)
        return {"loss": loss, "y_pred": y_pred}

    def _backward(self, loss):
        loss.backward()

    def validation_step(self, batch, **fit_params):
        """Validation loss of one batch, carrying state like training."""
        set_training(self, False)
        Xi, yi = unpack_data(batch)
        with torch.no_grad():
            y_pred = self._infer_carrying(Xi, "valid", **fit_params)
            loss = self.get_loss(y_pred, yi, X=Xi, training=False)
        return {"loss": loss, "y_pred": y_pred}

    def evaluation_step(self, batch, training=False):
        """Forward pass for prediction, under ``torch.inference_mode``.

        The estimator has already checked that it is fitted, and the module
        is switched to evaluation mode once rather than at every batch.
        """
        if training:
            return super().evaluation_step(batch, training=training)
        Xi, _ = unpack_data(batch)
        if self.module_.training:
            set_training(self, False)
        with torch.inference_mode():
            return self.infer(Xi)


class _DelayedProgressBar(ProgressBar):
    """skorch's progress bar, drawn only once an epoch has run a while."""

    def on_epoch_begin(self, net, dataset_train=None, dataset_valid=None, **kwargs):
        # counted from the iterators, which know their layout (windows or batches)
        total = sum(
            len(net.get_iterator(dataset, training=training))
            for dataset, training in ((dataset_train, True), (dataset_valid, False))
            if dataset is not None
        )
        self.pbar_ = tqdm.tqdm(total=total, leave=False, delay=_PROGRESS_BAR_DELAY_S)
