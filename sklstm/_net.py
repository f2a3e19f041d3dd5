"""The skorch net that trains and runs sklstm's networks, and its progress bar."""

import contextlib
from collections.abc import Mapping

import numpy as np
import torch
import tqdm
from skorch import NeuralNet
from sklearn.utils import ClassifierTags
from skorch.callbacks import ProgressBar
from skorch.dataset import unpack_data
from skorch.utils import to_tensor

from ._compat import module_inputs, set_training
from ._threads import stop_requested
from .nn import NetworkEnsemble
from .nn._tensors import map_state

# compute dtype of the network's training forward pass for each ``precision``
PRECISIONS = {"float32": None, "bfloat16": torch.bfloat16}

# verbose=1 shows a progress bar only when an epoch runs longer than this
_PROGRESS_BAR_DELAY_S = 2.0


class _SequenceNet(NeuralNet):
    """skorch net for the recurrent estimators.

    * Per-step outputs ``(batch, time, n_classes)`` are flattened so that the
      cross-entropy sees one row per step; padded steps carry the label -100,
      which the criterion ignores.
    * The training step asks the network for its loss
      (``training_loss``), giving it the criterion's loss as ``get_loss``
      computes it: an ensemble sums its networks' losses, a two-level
      softmax scores its features itself, and activation penalties join the
      objective. In evaluation mode every network returns outputs (a
      two-level softmax, log-probabilities) that the criterion scores.
    * With ``compute_dtype`` (``precision="bfloat16"``), the training step's
      forward pass and loss run under :func:`torch.autocast` in that dtype
      (mixed precision: parameters stay float32); evaluation runs in
      float32.
    * An ensemble whose networks draw no random numbers in training trains
      them side by side on the CPU's cores (each network's forward and
      backward pass in a thread of its own, see
      :meth:`NetworkEnsemble.map_networks`); each network's gradient is the
      one it would get alone.
    * With ``stateful=True`` (truncated back-propagation through time over
      consecutive windows), the recurrent state at the end of one batch,
      detached from the graph, is the initial state of the next; it is reset
      at the start of each epoch, for training and validation alike.
    """

    def __init__(self, module, criterion, stateful=False, compute_dtype=None, **kwargs):
        super().__init__(module, criterion, **kwargs)
        self.stateful = stateful
        self.compute_dtype = compute_dtype

    @property
    def network_(self):
        """The :class:`RecurrentNetwork`, also while a data-parallel wrapper
        (``DistributedDataParallel``) holds it as ``module_``."""
        return getattr(self.module_, "module", self.module_)

    def get_loss(self, y_pred, y_true, X=None, training=False):
        """The criterion's loss: per-step outputs flattened, sample weights
        (which travel with the batch) as a weighted mean."""
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

    # False where the backward pass is another's (Accelerate's): the
    # networks of an ensemble then train one after another
    _networks_side_by_side = True

    def infer(self, x, **fit_params):
        return self._infer_with(self.module_, x, **fit_params)

    def _infer_with(self, module, x, **fit_params):
        """skorch's ``infer`` with ``module`` (the net's, or one network of
        its ensemble) as the module; sample weights travel with the batch
        for the loss, not to the module."""
        x = to_tensor(x, device=self.device)
        if isinstance(x, Mapping):
            x = {k: v for k, v in x.items() if k != "sample_weight"}
            return module(**module_inputs(self, x, fit_params))
        return module(x, **fit_params)

    def on_epoch_begin(self, net, dataset_train=None, dataset_valid=None, **kwargs):
        # training mode is set once per epoch instead of at every batch
        set_training(self, True)
        self.train_state_ = self.valid_state_ = None
        super().on_epoch_begin(net, dataset_train, dataset_valid, **kwargs)

    def on_batch_begin(self, net, batch=None, training=False, **kwargs):
        """skorch's hook before each batch; where Ctrl+C asked the work
        that this fit is part of to stop (an inner search's fits, see
        :func:`sklstm._threads.stoppable`), training ends here, as after
        Ctrl+C."""
        if stop_requested():
            raise KeyboardInterrupt
        super().on_batch_begin(net, batch=batch, training=training, **kwargs)

    def _autocast(self):
        """Mixed precision for the training step, when ``compute_dtype`` is
        set; no context at all (a few microseconds a step) without it."""
        if self.compute_dtype is None:
            return contextlib.nullcontext()
        device_type = next(self.network_.parameters()).device.type
        return torch.autocast(device_type, dtype=self.compute_dtype)

    def train_step_single(self, batch, **fit_params):
        """One forward and backward pass; the module is already in training mode.

        The recorded loss is the data's, comparable with the validation
        loss; the back-propagated objective adds the activation penalties
        (AR, TAR).
        """
        Xi, yi = unpack_data(batch)
        if (
            self._networks_side_by_side
            and not self.stateful
            and isinstance(self.module_, NetworkEnsemble)
            and self.module_.trains_side_by_side
        ):
            return self._train_networks_side_by_side(Xi, yi, **fit_params)
        if self.stateful:
            fit_params = {**fit_params, "state": self.train_state_}
        outputs, loss, objective = self._forward_and_loss(
            self.module_, self.network_, Xi, yi, **fit_params
        )
        if self.stateful:
            self.train_state_ = map_state(torch.Tensor.detach, outputs.state)
        self._backward(objective)
        return {"loss": loss, "y_pred": outputs.prediction}

    def _forward_and_loss(self, module, network, Xi, yi, **fit_params):
        """A training forward pass of ``module`` (``network``, or a wrapper
        that holds it) under the net's autocast, with float32 outputs, as
        evaluation's, and ``network``'s loss and objective."""
        with self._autocast():
            outputs = self._infer_with(module, Xi, return_all=True, **fit_params)
            if self.compute_dtype is not None:
                outputs = outputs._replace(prediction=outputs.prediction.float())
                if self.stateful:
                    outputs = outputs._replace(
                        state=map_state(torch.Tensor.float, outputs.state)
                    )
            loss, objective = network.training_loss(
                outputs, yi, lambda y_pred, y_true: self.get_loss(y_pred, y_true, X=Xi)
            )
        return outputs, loss, objective

    def _backward(self, loss):
        loss.backward()

    def _train_networks_side_by_side(self, Xi, yi, **fit_params):
        """The training step of an ensemble, each network's forward and
        backward pass in a thread of its own (see ``train_step_single``):
        the recorded loss is the mean of the networks' losses, and each
        network back-propagates its own objective, as the ensemble's
        summed objective would."""

        def step(network):
            outputs, loss, objective = self._forward_and_loss(
                network, network, Xi, yi, **fit_params
            )
            objective.backward()
            return loss.detach(), outputs.prediction.detach()

        losses, predictions = zip(*self.module_.map_networks(step))
        return {"loss": torch.stack(losses).mean(), "y_pred": torch.stack(predictions)}

    def _classifies_sequences(self):
        """Whether the net gives each sequence a distribution over classes
        (the classifier's; not the tagger's, one per step)."""
        criterion = getattr(self, "criterion_", self.criterion)
        is_cross_entropy = isinstance(criterion, torch.nn.CrossEntropyLoss) or (
            isinstance(criterion, type) and issubclass(criterion, torch.nn.CrossEntropyLoss)
        )
        return is_cross_entropy and not getattr(self, "module__per_step", False)

    @property
    def classes_(self):
        """The class codes, ``0`` to ``n_classes - 1``, where the net
        classifies sequences (scikit-learn's scorers read them)."""
        if not self._classifies_sequences() or not hasattr(self, "module__n_outputs"):
            raise AttributeError("classes_: the net does not classify sequences.")
        return np.arange(self.module__n_outputs)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        if self._classifies_sequences():
            tags.estimator_type = "classifier"
            tags.classifier_tags = ClassifierTags()
        return tags

    def _get_predict_nonlinearity(self):
        """skorch's nonlinearity of ``predict_proba`` (a softmax for
        classes), after combining an ensemble's outputs where they come one
        per network: the training steps' predictions, which ``EpochScoring``
        with ``on_train=True`` replays from its cache. They are combined
        there, when scored, and not in every training step."""
        nonlin = super()._get_predict_nonlinearity()
        network = self.network_
        if not isinstance(network, NetworkEnsemble):
            return nonlin
        # (batch, n_outputs), or (batch, time, n_outputs) per step; one more
        # axis first where each network's outputs are stacked
        stacked = 4 if getattr(self, "module__per_step", False) else 3
        return lambda out: nonlin(
            network.combine_outputs(out.detach()) if out.ndim == stacked else out
        )

    def predict(self, X):
        """Class codes (the argmax of the class probabilities) where the
        network classifies sequences, its outputs otherwise, as skorch's
        classifier and regressor nets predict: what scikit-learn's scorers
        read, in skorch's ``EpochScoring`` (``"accuracy"``, ``"roc_auc"``,
        ``"r2"``, ...), against the targets the network trains on (class
        codes, standardised regression targets)."""
        outputs = self.predict_proba(X)
        if self._classifies_sequences():
            return outputs.argmax(axis=1)
        return outputs

    def validation_step(self, batch, **fit_params):
        """Validation loss of one batch, carrying state like training."""
        set_training(self, False)
        Xi, yi = unpack_data(batch)
        with torch.no_grad():
            if self.stateful:
                y_pred, state = self.infer(
                    Xi, state=self.valid_state_, return_state=True, **fit_params
                )
                self.valid_state_ = state
            else:
                y_pred = self.infer(Xi, **fit_params)
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
