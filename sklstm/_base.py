"""Shared machinery of the sklstm estimators: parameters, validation, the skorch net."""

import functools
import inspect
import os
import warnings
from numbers import Integral, Real

import numpy as np
import pandas as pd
import torch
from sklearn.base import BaseEstimator
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted
from skorch.callbacks import (
    Callback,
    EarlyStopping,
    GradientNormClipping,
    LRScheduler,
)
from skorch.dataset import ValidSplit

from ._accelerate import AcceleratedSequenceNet, distributed_history
from ._compat import HasMethods, Interval, StrOptions
from ._compat import fit_context as _sklearn_fit_context
from ._checkpoint import Checkpointer, checkpoint_path, fingerprint, read_checkpoint
from ._checkpoint import restore_training
from ._data import BatchIterator
from ._device import check_device
from ._extras import import_extra
from ._files import make_folder
from ._fork import guard_forked_process
from ._net import PRECISIONS as _PRECISIONS, _DelayedProgressBar, _SequenceNet
from ._random import preserved_rng_state
from .nn import NetworkEnsemble, RecurrentNetwork, low_precision_supported

_OPTIMIZERS = {
    "adam": torch.optim.Adam,
    "adamw": torch.optim.AdamW,
    "sgd": torch.optim.SGD,
    "rmsprop": torch.optim.RMSprop,
}
# the named optimizers update all their tensors in one kernel per tensor
# (torch's "fused" implementation) where torch has one for them and the
# device, otherwise in one call per operation ("foreach", torch's default on
# CUDA only): less time per step on the CPU, where the default is a loop in
# Python (Adam over the five networks of bit counting: 0.30 ms a step fused,
# 0.65 foreach, 1.6 the loop; a five-network bit-counting fit of 8 epochs
# in 0.86 of foreach's time). The fused kernel rounds an update differently
# in the last bit; foreach gives the loop's values to the bit.
_FUSED = {"adam", "adamw", "sgd"}
_FUSED_DEVICES = {"cpu", "cuda"}


def _optimizer_params(optimizer, device):
    """How a named optimizer runs its update (none for a user's class);
    ``device`` None under an accelerator, which places the tensors itself
    (foreach there)."""
    if not isinstance(optimizer, str):
        return {}
    if optimizer in _FUSED and device is not None and device.type in _FUSED_DEVICES:
        return {"optimizer__fused": True}
    return {"optimizer__foreach": True}

# evaluation keeps no activations for backprop, so it uses larger batches
_MIN_EVAL_BATCH_SIZE = 1024


def _warn_slow_precision(precision, device):
    """Warn when bfloat16 training runs on a CPU without bfloat16 kernels,
    where torch emulates it (measured on the Penn Treebank recipe: 3.4 times
    the time of float32 training)."""
    dtype = _PRECISIONS[precision]
    if dtype is None or device.type != "cpu":
        return
    if not low_precision_supported("lstm", "cpu", dtype):
        warnings.warn(
            f"precision={precision!r} on a CPU without {precision} kernels (torch "
            f"reports {torch.backends.cpu.get_cpu_capability()}): it trains, with "
            "the recurrent layers in float32, but emulated bfloat16 arithmetic is "
            "slower than float32 here. Use precision='float32' on this CPU.",
            UserWarning,
        )


def _same_value(a, b):
    """Whether two parameter values (tensors included) are equal."""
    if isinstance(a, torch.Tensor) or isinstance(b, torch.Tensor):
        return (
            isinstance(a, torch.Tensor)
            and isinstance(b, torch.Tensor)
            and a.shape == b.shape
            and bool(torch.equal(a.cpu(), b.cpu()))
        )
    return a == b


def fit_context(prefer_skip_nested_validation):
    """Decorate an estimator's ``fit`` or ``partial_fit``: scikit-learn's
    fit context (:func:`sklearn.base._fit_context`: the parameters
    validated), and an interrupt that loses nothing.

    Ctrl+C while a network trains ends its training, and the method returns
    the estimator with the network as it is (skorch's way). A
    ``KeyboardInterrupt`` that leaves the method (Ctrl+C before the network
    trains: during the inner search, which then stops as a whole, or the
    checks of the data) leaves the estimator as it was before the call: a
    fitted one keeps its model, an unfitted one stays unfitted, instead of
    holding a part of the new fit's learned attributes beside the old
    network, or none.
    """
    validated = _sklearn_fit_context(
        prefer_skip_nested_validation=prefer_skip_nested_validation
    )

    def decorate(method):
        method_in_context = validated(method)

        @functools.wraps(method)
        def wrapper(estimator, *args, **kwargs):
            before = dict(vars(estimator))
            try:
                return method_in_context(estimator, *args, **kwargs)
            except KeyboardInterrupt:
                vars(estimator).clear()
                vars(estimator).update(before)
                raise

        return wrapper

    return decorate


def _named_callback(i, cb):
    """Item ``i`` of ``callbacks`` as skorch's ``(name, callback)`` pair, or
    a TypeError that says what a callback is."""
    named = isinstance(cb, tuple) and len(cb) == 2 and isinstance(cb[0], str)
    callback = cb[1] if named else cb
    if not (isinstance(callback, Callback) or (
            isinstance(callback, type) and issubclass(callback, Callback))):
        raise TypeError(
            f"callbacks[{i}] is {cb!r}; each callback must be a skorch callback "
            "(an instance or a subclass of skorch.callbacks.Callback) or a "
            "(name, callback) pair."
        )
    return cb if named else (f"user_{i}", cb)


def _user_callbacks(callbacks, lr_schedule):
    """``callbacks`` as skorch's ``(name, callback)`` pairs; a warning where
    an ``LRScheduler`` among them meets the fit's own ``lr_schedule`` (False
    where the fit schedules nothing)."""
    user = [_named_callback(i, cb) for i, cb in enumerate(callbacks or [])]
    if lr_schedule and any(
        isinstance(cb, LRScheduler) or (isinstance(cb, type) and issubclass(cb, LRScheduler))
        for _, cb in user
    ):
        warnings.warn(
            f"callbacks holds an LRScheduler while lr_schedule={lr_schedule!r} "
            "schedules the learning rate too: both change it. Set "
            "lr_schedule='constant' to let your scheduler alone decide.",
            UserWarning,
        )
    return user


class _BaseSequenceEstimator(BaseEstimator):
    """Base class of the recurrent estimators; not for direct use.

    Subclasses define ``__init__`` (scikit-learn needs every parameter in
    its signature), ``fit``, the predict methods, ``_criterion`` and
    ``_module_params`` (the network's parameters); they train through
    ``_fit_net``, which calls the ``_prepare_network`` hook and builds the
    skorch net. Class attributes ``_per_step`` and ``_plateau_patience``
    adapt the shared behaviour.
    """

    # what a saved file holds of the fitted state: field -> attribute (the
    # network itself is saved apart; see sklstm._serialization)
    _saved_fields = {"n_iter_": "n_iter_"}

    _parameter_constraints = {
        "cell": [StrOptions({"lstm", "gru", "rnn"})],
        "num_hidden": [Interval(Integral, 1, None, closed="left")],
        "num_layers": [Interval(Integral, 1, None, closed="left")],
        "embedding_dim": [Interval(Integral, 1, None, closed="left"), None],
        "bidirectional": ["boolean"],
        "dropout": [Interval(Real, 0, 1, closed="left")],
        "max_epochs": [Interval(Integral, 1, None, closed="left")],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "lr": [Interval(Real, 0, None, closed="neither")],
        "optimizer": [StrOptions(set(_OPTIMIZERS)), type],
        "lr_schedule": [StrOptions({"constant", "onecycle", "cosine", "plateau"})],
        "clip_grad_norm": [Interval(Real, 0, None, closed="neither"), None],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(Real, 0, 1, closed="neither")],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left")],
        "callbacks": [list, None],
        "warm_start": ["boolean"],
        "checkpoint_dir": [str, os.PathLike, None],
        "random_state": ["random_state"],
        "device": [str, torch.device],
        "accelerator": [HasMethods(["prepare", "backward"]), None],
        "verbose": ["verbose"],
    }

    # -- hooks for subclasses -------------------------------------------------
    _partial_call = False  # True while partial_fit trains (one constant-rate pass)
    _per_step = False  # one output per step rather than per sequence
    _plateau_patience = 1  # epochs without progress before the "plateau" cut

    def _criterion(self, y):
        """Return ``(criterion class, dict of its parameters)`` for targets y."""
        raise NotImplementedError

    def _stratify_validation(self, y):
        return False

    # -- data -------------------------------------------------------------------
    def _continues(self):
        """Whether this call trains the existing network further (warm start,
        or partial_fit after a first call) instead of building a new one."""
        return (self.warm_start or self._partial_call) and hasattr(self, "net_")

    def _partial(self, X, y, sample_weight, **kwargs):
        """partial_fit: ``_fit`` as one pass over the data at a constant rate."""
        self._partial_call = True
        try:
            return self._fit(X, y, sample_weight, **kwargs)
        finally:
            self._partial_call = False

    @staticmethod
    def _net_input(X, lengths, sample_weight=None):
        if lengths is None and sample_weight is None:
            return X
        net_input = {"X": X}
        if lengths is not None:
            net_input["lengths"] = lengths
        if sample_weight is not None:
            net_input["sample_weight"] = sample_weight
        return net_input

    # -- training ---------------------------------------------------------------
    def _n_epochs(self):
        """The epochs of this fit: ``max_epochs`` (the numeric estimators
        resolve ``"auto"``)."""
        return self.max_epochs

    def _prepare_network(self, X, lengths, y, sample_weight, resume=None):
        """Hook: learn what a new network's shape depends on in the data,
        before it is built; nothing by default. ``resume`` is the checkpoint
        (:class:`~sklstm._checkpoint.Resume`) that the fit resumes from, or
        None."""

    def _optimizer_class(self):
        if isinstance(self.optimizer, str):
            return _OPTIMIZERS[self.optimizer]
        return self.optimizer

    def _callbacks(self, n_epochs, n_batches, validation):
        """Callbacks for one call of ``fit``: ``n_epochs`` epochs of ``n_batches``
        batches, ``validation`` whether a validation loss is computed each epoch."""
        callbacks = []
        if self.clip_grad_norm is not None:
            callbacks.append(
                ("clip_grad_norm", GradientNormClipping(self.clip_grad_norm))
            )
        if self._partial_call:
            pass  # one pass at the constant rate lr, as MLPClassifier's partial_fit
        elif self.lr_schedule == "onecycle":
            steps = n_epochs * n_batches
            scheduler = LRScheduler(
                torch.optim.lr_scheduler.OneCycleLR,
                max_lr=self.lr,
                total_steps=steps,
                step_every="batch",
                # the rate of every batch is not worth a history entry
                event_name=None,
                # cycle the momentum only where the optimizer has one
                cycle_momentum=bool(
                    {"momentum", "betas"}
                    & set(inspect.signature(self._optimizer_class()).parameters)
                ),
                last_epoch=-1,
            )
            callbacks.append(("lr_schedule", scheduler))
        elif self.lr_schedule == "cosine":
            scheduler = LRScheduler(
                torch.optim.lr_scheduler.CosineAnnealingLR,
                T_max=n_epochs,
                last_epoch=-1,
            )
            callbacks.append(("lr_schedule", scheduler))
        elif self.lr_schedule == "plateau":
            scheduler = LRScheduler(
                torch.optim.lr_scheduler.ReduceLROnPlateau,
                monitor="valid_loss" if validation else "train_loss",
                factor=0.25,
                patience=self._plateau_patience,
            )
            callbacks.append(("lr_schedule", scheduler))
        if self.early_stopping and validation:
            stopper = EarlyStopping(
                patience=self.n_iter_no_change, load_best=True, sink=lambda *a: None
            )
            callbacks.append(("early_stopping", stopper))
        if self.verbose:
            callbacks.append(("progress_bar", _DelayedProgressBar()))
        scheduled = any(name == "lr_schedule" for name, _ in callbacks)
        return callbacks + _user_callbacks(self.callbacks, scheduled and self.lr_schedule)

    def _train_split(self, y):
        """skorch's ``train_split``: None, or how to hold out validation data."""
        if not self.early_stopping or self._partial_call:
            return None
        return ValidSplit(
            self.validation_fraction,
            stratified=self._stratify_validation(y),
            random_state=self._seed,
        )

    def _net_layout(self, seed):
        """How the net makes batches: skorch parameters of its training
        iterator (and ``stateful``); by default shuffled mini-batches of
        sequences."""
        return {
            "iterator_train": BatchIterator,
            "iterator_train__shuffle": True,
            "iterator_train__random_state": np.random.RandomState(seed),
        }

    def _new_net(self, module_params, criterion, criterion_params, seed, **net_params):
        """Build and initialise the skorch net around a new
        :class:`RecurrentNetwork` (used by ``fit`` and by :func:`sklstm.load`)."""
        net_params = {
            "iterator_valid": BatchIterator,
            "iterator_valid__batch_size": max(self.batch_size, _MIN_EVAL_BATCH_SIZE),
            **self._net_layout(seed),
            **net_params,
        }
        net_class, placement = _SequenceNet, {"device": check_device(self.device)}
        if self.accelerator is not None:
            net_class = AcceleratedSequenceNet
            placement = {
                "accelerator": self.accelerator,
                "device": None,
                # the mixin prints with the accelerator (main process only);
                # with verbose=0, print, which skorch then leaves silent
                "callbacks__print_log__sink": "auto" if self.verbose else print,
            }
            if self.accelerator.num_processes > 1:
                # each process trains on its share; histories kept in step
                placement["history"] = distributed_history(self.accelerator)
                net_params["iterator_train__num_shards"] = self.accelerator.num_processes
                net_params["iterator_train__shard"] = self.accelerator.process_index
        # files written before autocast moved to the net name it a module
        # parameter; the estimator's precision says the same
        module_params = {k: v for k, v in module_params.items() if k != "compute_dtype"}
        net = net_class(
            compute_dtype=_PRECISIONS[self.precision],
            module=(
                NetworkEnsemble if "n_networks" in module_params else RecurrentNetwork
            ),
            criterion=criterion,
            optimizer=self._optimizer_class(),
            **_optimizer_params(self.optimizer, placement["device"]),
            lr=self.lr,
            batch_size=self.batch_size,
            verbose=self.verbose,
            **placement,
            **net_params,
            **{f"module__{k}": v for k, v in module_params.items()},
            **{f"criterion__{k}": v for k, v in criterion_params.items()},
        )
        return net.initialize()

    def _fit_net(self, X, lengths, y, n_outputs, sample_weight=None, n_batches=None):
        """Build (or reuse, with ``warm_start``) the skorch net and train it.

        ``sample_weight`` is a tensor of one weight per sequence, or None.
        ``n_batches`` is the number of batches per epoch; by default that of
        mini-batches of ``batch_size`` sequences.
        """
        guard_forked_process()
        warm = self._continues()
        if self.accelerator is None:
            _warn_slow_precision(self.precision, check_device(self.device))
        else:
            import_extra("accelerate", "accelerate", "accelerator=")
        if self.accelerator is not None and (
            warm or self._partial_call or self.checkpoint_dir is not None
        ):
            raise ValueError(
                "accelerator is not available with warm_start, partial_fit or "
                "checkpoint_dir yet; train with fit, or set accelerator=None."
            )
        # checkpoints: written, and resumed from, by fits that build a new
        # net and train it for max_epochs (not warm starts, not partial_fit)
        path = None if warm or self._partial_call else checkpoint_path(self)
        resume = None
        if path is not None:
            make_folder(self.checkpoint_dir, "checkpoint_dir")
            prints = fingerprint(self, X, lengths, y, sample_weight)
            if os.path.exists(path):
                resume = read_checkpoint(path, prints)
        self._seed = check_random_state(self.random_state).randint(2**31 - 1)
        if not warm:
            # the data-dependent shape of the new network, and how much the
            # fit trains (before the schedule, which needs the epoch count)
            self._prepare_network(X, lengths, y, sample_weight, resume)
        if n_batches is None:
            n_train = len(X)
            if self.early_stopping:
                n_train -= int(np.ceil(self.validation_fraction * n_train))
            # with data-parallel processes, each step takes batch_size each
            n_processes = getattr(self.accelerator, "num_processes", 1)
            n_batches = max(-(-n_train // (self.batch_size * n_processes)), 1)
        train_split = self._train_split(y)
        n_epochs = 1 if self._partial_call else self._n_epochs()
        callbacks = self._callbacks(
            n_epochs, n_batches, validation=train_split is not None
        )
        if path is not None:
            checkpointer = Checkpointer(self, path, prints, resume)
            callbacks.append(("checkpoint", checkpointer))
        criterion, criterion_params = self._criterion(y)
        criterion_params["reduction"] = "mean" if sample_weight is None else "none"
        fit_params = {
            "callbacks": callbacks,
            "max_epochs": n_epochs,
            "train_split": train_split,
        }
        epochs = n_epochs
        with preserved_rng_state():
            torch.manual_seed(self._seed)
            if warm:
                net = self.net_
                # criterion parameters are set only when they change: skorch
                # then builds a new optimizer, losing its state (Adam's moments)
                current = net.get_params_for("criterion")
                changed = {
                    f"criterion__{k}": v
                    for k, v in criterion_params.items()
                    if not _same_value(current.get(k), v)
                }
                net.set_params(lr=self.lr, verbose=self.verbose, **fit_params, **changed)
                # skorch's set_params keeps the previous callback instances
                # (a finished schedule would go on stepping): use the new ones
                net.initialize_callbacks()
            else:
                net = self._new_net(
                    self._module_params(n_outputs),
                    criterion,
                    criterion_params,
                    seed=self._seed,
                    **fit_params,
                )
                if resume is not None:
                    state = restore_training(net, resume.decoder, resume.net)
                    torch.set_rng_state(state)
                    finished = resume.section["finished"]
                    epochs = 0 if finished else n_epochs - len(net.history)
            # a network that draws no random numbers in training trains after
            # the caller's generators are back (and other threads' fits, the
            # inner search's, seed theirs meanwhile); one that draws, here
            draws = self.accelerator is not None or net.module_.draws_random_numbers
            if draws:
                self._train(net, X, lengths, y, sample_weight, epochs)
        if not draws:
            self._train(net, X, lengths, y, sample_weight, epochs)
        self.net_ = net
        self.n_iter_ = len(net.history)
        return self

    def _train(self, net, X, lengths, y, sample_weight, epochs):
        if epochs > 0:  # skorch stops cleanly on KeyboardInterrupt (a usable net)
            net.partial_fit(self._net_input(X, lengths, sample_weight), y, epochs=epochs)

    def _predict_batches(self, X, transform):
        """Validate X, run the network batch by batch and concatenate
        ``transform(output)`` of each batch as one numpy array."""
        check_is_fitted(self)
        guard_forked_process()
        X, lengths = self._check_X(X, reset=False)
        outputs = self.net_.forward_iter(self._net_input(X, lengths), training=False)
        return np.concatenate([transform(out).cpu().numpy() for out in outputs])

    @property
    def history_(self):
        """Per-epoch training log as a :class:`pandas.DataFrame`.

        One row per epoch with the training loss (``train_loss``), the
        validation loss when ``early_stopping=True`` (``valid_loss``), the
        learning rate schedule's effect and the epoch duration (``dur``, s).
        """
        check_is_fitted(self)
        history = self.net_.history
        rows = [{k: v for k, v in e.items() if k != "batches"} for e in history]
        return pd.DataFrame(rows).set_index("epoch")

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.three_d_array = True
        tags.input_tags.string = True  # texts, read through a vocabulary
        return tags
