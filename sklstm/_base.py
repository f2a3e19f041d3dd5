"""Shared machinery of the sklstm estimators: parameters, validation, the skorch net."""

import inspect
import os
import warnings
from numbers import Integral, Real

import numpy as np
import pandas as pd
import torch
from sklearn.base import BaseEstimator, clone, is_classifier
from sklearn.model_selection import (
    KFold,
    ParameterGrid,
    StratifiedKFold,
    cross_val_score,
)
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted
from skorch.callbacks import (
    EarlyStopping,
    GradientNormClipping,
    LRScheduler,
)
from skorch.dataset import ValidSplit

from ._accelerate import AcceleratedSequenceNet, distributed_history
from ._compat import check_sample_weight, HasMethods, Interval, StrOptions
from ._checkpoint import Checkpointer, checkpoint_path, fingerprint, read_checkpoint
from ._checkpoint import restore_training
from ._data import BatchIterator, check_sequences, feature_stats, pad_sequences
from ._device import check_device
from ._extras import import_extra
from ._fork import guard_forked_process
from ._net import _DelayedProgressBar, _SequenceNet
from ._random import preserved_rng_state
from .nn import Differences, NetworkEnsemble, RecurrentNetwork, low_precision_supported
from .nn._readout import CONV_POOLINGS, POOLINGS
from .preprocessing._vocabulary import Vocabulary, is_text

_OPTIMIZERS = {
    "adam": torch.optim.Adam,
    "adamw": torch.optim.AdamW,
    "sgd": torch.optim.SGD,
    "rmsprop": torch.optim.RMSprop,
}

# evaluation keeps no activations for backprop, so it uses larger batches
_MIN_EVAL_BATCH_SIZE = 1024

# compute dtype of the network's forward pass for each ``precision``
_PRECISIONS = {"float32": None, "bfloat16": torch.bfloat16}

# max_epochs="auto": this many epochs, more on small data sets so that training
# makes at least _AUTO_MIN_STEPS gradient steps
_AUTO_EPOCHS = 80
_AUTO_MIN_STEPS = 500

# n_networks="auto": an ensemble of this many networks for training sets of at
# most _AUTO_ENSEMBLE_MAX_SAMPLES sequences and _AUTO_ENSEMBLE_MAX_STEPS time
# steps in all (about a minute of training on a 2-core CPU), one network for
# larger ones
_AUTO_ENSEMBLE_SIZE = 5
_AUTO_ENSEMBLE_MAX_SAMPLES = 1000
_AUTO_ENSEMBLE_MAX_STEPS = 100_000

# conv_layers="auto": strided blocks until sequences are at most this long
_AUTO_CONV_TARGET = 64
# conv_dilations="multiscale": the first block's dilations, powers of this base
_MULTISCALE_BASE = 2
# conv_dilations="auto" ("multiscale" or one plain convolution) and
# input_differences="auto" (0 or 1): whichever scores best in a
# cross-validation of single networks with this many folds, for training
# sets of at most _AUTO_SEARCH_MAX_STEPS time steps in all (the search adds
# about one fit's time per two candidates); the first candidate (plain, 0)
# for larger ones
_AUTO_SEARCH_FOLDS = 3
_AUTO_SEARCH_MAX_STEPS = 50_000

# without standardisation, inputs larger than this draw a warning
_LARGE_INPUT = 1e4

# architecture parameters of the numeric estimators (classifier, regressor, tagger)
_ARCHITECTURE_CONSTRAINTS = {
    "max_epochs": [StrOptions({"auto"}), Interval(Integral, 1, None, closed="left")],
    "standardize": ["boolean"],
    "precision": [StrOptions(set(_PRECISIONS))],
    "conv_layers": [StrOptions({"auto"}), Interval(Integral, 0, None, closed="left")],
    "conv_channels": [Interval(Integral, 1, None, closed="left")],
    "conv_kernel_size": [Interval(Integral, 1, None, closed="left")],
    "conv_dilations": [StrOptions({"multiscale"}), "array-like"],
    "input_differences": [Interval(Integral, 0, None, closed="left")],
    "difference_lag": [Interval(Integral, 1, None, closed="left")],
    "locked_dropout": ["boolean"],
    "weight_dropout": [Interval(Real, 0, 1, closed="left")],
}
# ... and of those that predict one output per sequence
_MANY_TO_ONE_CONSTRAINTS = {
    **_ARCHITECTURE_CONSTRAINTS,
    "conv_stride": [Interval(Integral, 1, None, closed="left")],
    "pooling": [StrOptions(set(POOLINGS))],
    "conv_pooling": [StrOptions(set(CONV_POOLINGS)), None],
    "conv_dilations": [StrOptions({"auto", "multiscale"}), "array-like"],
    "input_differences": [StrOptions({"auto"}), Interval(Integral, 0, None, closed="left")],
    "n_networks": [StrOptions({"auto"}), Interval(Integral, 1, None, closed="left")],
}


def _is_auto(value):
    return isinstance(value, str) and value == "auto"


def _typical_length(X, lengths):
    """The length the front-end is sized for: the median training length
    (the longest of a ragged set would cut its short sequences to a few
    steps)."""
    if lengths is None:
        return X.shape[1]
    return int(np.ceil(np.median(lengths.cpu().numpy())))


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


class _BaseSequenceEstimator(BaseEstimator):
    """Base class of the recurrent estimators; not for direct use.

    Subclasses define ``__init__`` (scikit-learn needs every parameter in
    its signature), ``fit``, the predict methods and ``_criterion``; they
    train through ``_fit_net``, which builds the skorch net. Class attributes
    ``_per_step``, ``_tabular_2d``, ``_plateau_patience`` and
    ``_ensemble_combine`` adapt the shared behaviour.
    """

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
    # how an ensemble (n_networks) combines its networks' outputs; None for
    # estimators without the parameter
    _ensemble_combine = None
    _tabular_2d = True  # 2-D X: columns are a fixed number of steps
    _plateau_patience = 1  # epochs without progress before the "plateau" cut

    def _criterion(self, y):
        """Return ``(criterion class, dict of its parameters)`` for targets y."""
        raise NotImplementedError

    def _stratify_validation(self, y):
        return False

    # -- data -------------------------------------------------------------------
    def _check_X(self, X, *, reset):
        """Validate X; return ``(tensor, lengths tensor or None)``.

        Numeric sequences give a float tensor ``(n, T, n_features)``; text
        (strings or token lists) gives token ids ``(n, T)`` from the
        vocabulary learned at fit time, and always its lengths.
        """
        if reset and self._continues():
            # the network exists: keep its vocabulary and input layout
            reset = False
        text = is_text(X)
        if reset:
            for attr in ("vocabulary_", "n_features_in_", "feature_names_in_"):
                self.__dict__.pop(attr, None)
            if text:
                self.vocabulary_ = Vocabulary(add_eos=False).fit(X)
                self._n_step_features = None
        elif text != hasattr(self, "vocabulary_"):
            fitted_on = "text" if hasattr(self, "vocabulary_") else "numeric sequences"
            raise ValueError(
                f"{type(self).__name__} was fitted on {fitted_on}, but X holds "
                f"{'text' if text else 'numeric sequences'}; pass the same kind "
                "of input as at fit time."
            )
        if text:
            ids = self.vocabulary_.transform(X)
            if min(len(i) for i in ids) == 0:
                empty = next(k for k, i in enumerate(ids) if len(i) == 0)
                raise ValueError(
                    f"Text {empty} of X has no tokens; every text needs at least one."
                )
            padded, lengths = pad_sequences(ids, np.int64)
            return torch.from_numpy(padded), torch.from_numpy(lengths)
        X, lengths = check_sequences(self, X, reset=reset)
        X = torch.from_numpy(X)
        return X, None if lengths is None else torch.from_numpy(lengths)

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

    def _require_y(self, y, what):
        if y is None:
            raise ValueError(
                f"{type(self).__name__} requires y to be passed, but the target y "
                f"is None. Pass {what}."
            )

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

    def _check_sample_weight(self, sample_weight, X):
        """Validate sample weights; None when they are all equal (a weighted
        mean with uniform weights is the plain mean)."""
        if sample_weight is None:
            return None
        sample_weight = check_sample_weight(
            sample_weight, X, dtype=np.float32, ensure_non_negative=True
        )
        if not sample_weight.any():  # scikit-learn checks it from 1.7 on
            raise ValueError(
                "sample_weight holds only zeros: at least one non-zero weight is "
                "needed for a loss to train on."
            )
        if np.all(sample_weight == sample_weight[0]):
            return None
        return torch.from_numpy(sample_weight)

    # -- training ---------------------------------------------------------------
    def _learn_input_layout(self, X, lengths):
        """Data-dependent architecture, learned once per new network:
        the input statistics (``standardize``) and the number of convolution
        blocks (``conv_layers="auto"``); the parameters that are ``"auto"``
        take their first candidate until :meth:`_cross_validated_choices`."""
        text = hasattr(self, "vocabulary_")
        differences = self.input_differences
        # token ids have no differences, as they have no scale
        self.input_differences_ = 0 if text or _is_auto(differences) else int(differences)
        self._input_stats = None
        if not text:
            if self.standardize:
                self._input_stats = self._input_statistics(X, lengths)
            else:
                largest = float(X.abs().max())
                if largest > _LARGE_INPUT:
                    warnings.warn(
                        f"X holds values as large as {largest:.3g} and "
                        "standardize=False: recurrent cells saturate on large "
                        "inputs and may learn nothing. Set standardize=True, or "
                        "scale X with sklstm.preprocessing.SequenceScaler.",
                        UserWarning,
                    )
        typical = _typical_length(X, lengths)
        n_layers = self.conv_layers
        if n_layers == "auto":
            n_steps, n_layers = typical, 0
            stride = self._conv_stride()
            pad = self.conv_kernel_size // 2
            while not text and stride > 1 and n_steps > _AUTO_CONV_TARGET:
                n_steps = (n_steps + 2 * pad - self.conv_kernel_size) // stride + 1
                n_layers += 1
        self.n_conv_layers_ = n_layers
        self.conv_dilations_ = self._first_block_dilations(typical)
        if self._ensemble_combine is not None:
            n_networks = self.n_networks
            if n_networks == "auto":
                n_steps = X.shape[1] * len(X) if lengths is None else lengths.sum()
                small = (
                    len(X) <= _AUTO_ENSEMBLE_MAX_SAMPLES
                    and int(n_steps) <= _AUTO_ENSEMBLE_MAX_STEPS
                    # partial_fit sees one chunk of data of unknown total size
                    and not self._partial_call
                )
                n_networks = _AUTO_ENSEMBLE_SIZE if small else 1
            self.n_networks_ = n_networks

    def _input_statistics(self, X, lengths):
        """``standardize``'s statistics: of each feature and, with
        ``input_differences_``, of its differences, over the real steps."""
        if self.input_differences_:
            X = Differences(self.input_differences_, self.difference_lag)(X)
        return feature_stats(X, lengths)

    def _multiscale_dilations(self, typical_length):
        """``conv_dilations="multiscale"``: 1, 2, 4, ... as long as a dilated
        kernel spans at most the typical sequence (as MiniRocket chooses its
        dilations), and at most one per channel."""
        spread = self.conv_kernel_size - 1
        dilations = [1]
        while (
            len(dilations) < self.conv_channels
            and dilations[-1] * _MULTISCALE_BASE * spread + 1 <= typical_length
        ):
            dilations.append(dilations[-1] * _MULTISCALE_BASE)
        return tuple(dilations)

    def _first_block_dilations(self, typical_length):
        """``conv_dilations``, checked, or resolved for ``"multiscale"``;
        ``"auto"`` gives one plain convolution until
        :meth:`_cross_validated_choices` has chosen."""
        dilations = self.conv_dilations
        if isinstance(dilations, str):
            if dilations == "multiscale":
                return self._multiscale_dilations(typical_length)
            return (1,)
        dilations = np.asarray(dilations)
        if (
            dilations.ndim != 1
            or not 1 <= len(dilations) <= self.conv_channels
            or dilations.dtype.kind not in "iu"
            or np.any(dilations < 1)
        ):
            raise ValueError(
                "conv_dilations must be 'multiscale', 'auto' (one output per "
                "sequence) or a list of 1 to conv_channels="
                f"{self.conv_channels} positive integers (one convolution per "
                f"dilation in the first block), got {self.conv_dilations!r}."
            )
        return tuple(int(d) for d in dilations)

    def _auto_candidates(self, X, lengths):
        """The values an inner cross-validation chooses among, for each
        parameter set to ``"auto"`` that has a choice here: the first value
        is the one kept on a tie, and where no search runs."""
        grid = {}
        if _is_auto(getattr(self, "conv_dilations", None)) and self.n_conv_layers_:
            multiscale = self._multiscale_dilations(_typical_length(X, lengths))
            if multiscale != (1,):
                grid["conv_dilations"] = [(1,), multiscale]
        if _is_auto(getattr(self, "input_differences", None)) and not hasattr(
            self, "vocabulary_"
        ):
            grid["input_differences"] = [0, 1]
        return grid

    def _cross_validated_choices(self, X, lengths, y, sample_weight):
        """Resolve the parameters set to ``"auto"`` (``conv_dilations``,
        ``input_differences``): the candidates' combination whose single
        networks score best in a cross-validation on the training data (the
        first, simplest, on a tie), learned as ``<parameter>_``. No search
        for large training sets and in ``partial_fit``: the first
        candidates, as :meth:`_learn_input_layout` set them."""
        grid = self._auto_candidates(X, lengths)
        n_steps = X.shape[1] * len(X) if lengths is None else int(lengths.sum())
        if (
            not grid
            or self._partial_call
            or n_steps > _AUTO_SEARCH_MAX_STEPS
            or len(X) < 2 * _AUTO_SEARCH_FOLDS
        ):
            return
        candidates = list(ParameterGrid(grid))
        # the training data as the estimator takes it, and single networks
        # that leave no trace (no checkpoints, callbacks or printing), with
        # the parameters not searched fixed at their learned values
        X_seq = X.cpu().numpy()
        if lengths is not None:
            X_seq = [x[:n] for x, n in zip(X_seq, lengths.tolist())]
        y = y.cpu().numpy()
        params = {} if sample_weight is None else {"sample_weight": sample_weight.numpy()}
        cv = KFold(_AUTO_SEARCH_FOLDS, shuffle=True, random_state=self._seed)
        if is_classifier(self) and np.bincount(y).min() >= _AUTO_SEARCH_FOLDS:
            cv = StratifiedKFold(_AUTO_SEARCH_FOLDS, shuffle=True, random_state=self._seed)
        single = clone(self).set_params(
            conv_dilations=self.conv_dilations_, input_differences=self.input_differences_,
            n_networks=1, callbacks=None, verbose=0, checkpoint_dir=None,
            warm_start=False, accelerator=None,
        )
        scores = [
            cross_val_score(
                clone(single).set_params(**candidate), X_seq, y, cv=cv, params=params
            ).mean()
            for candidate in candidates
        ]
        # argmax: the first of equal scores
        chosen = candidates[int(np.argmax(scores))]
        for name, value in chosen.items():
            setattr(self, f"{name}_", value)
        # the statistics were learned without differences, the first candidate
        if chosen.get("input_differences") and self._input_stats is not None:
            self._input_stats = self._input_statistics(X, lengths)

    def _conv_stride(self):
        """The front-end's stride: 1 where every step needs its own output."""
        return 1 if self._per_step else self.conv_stride

    def _n_epochs(self, n_batches):
        """``max_epochs``, resolved for ``"auto"`` from the batches per epoch."""
        if self.max_epochs != "auto":
            return self.max_epochs
        return max(_AUTO_EPOCHS, -(-_AUTO_MIN_STEPS // n_batches))

    def _module_params(self, n_outputs):
        text = hasattr(self, "vocabulary_")
        mean, scale = self._input_stats or (None, None)
        return {
            "n_features": self._n_step_features,
            "vocab_size": len(self.vocabulary_.tokens_) if text else None,
            "embedding_dim": self.embedding_dim,
            "n_outputs": n_outputs,
            "cell": self.cell,
            "num_hidden": self.num_hidden,
            "num_layers": self.num_layers,
            "bidirectional": self.bidirectional,
            "dropout": self.dropout,
            "per_step": self._per_step,
            "input_differences": self.input_differences_,
            "difference_lag": self.difference_lag,
            "input_mean": mean,
            "input_scale": scale,
            "conv_layers": self.n_conv_layers_,
            "conv_channels": self.conv_channels,
            "conv_kernel_size": self.conv_kernel_size,
            "conv_stride": self._conv_stride(),
            # per-step estimators (the tagger) have no pooling
            "pooling": "last" if self._per_step else self.pooling,
            "conv_pooling": None if self._per_step else self.conv_pooling,
            "conv_dilations": self.conv_dilations_,
            "locked_dropout": self.locked_dropout,
            "weight_dropout": self.weight_dropout,
            **self._ensemble_params(),
        }

    def _ensemble_params(self):
        """Module parameters that make a :class:`NetworkEnsemble`; none for
        one network (a plain :class:`RecurrentNetwork`)."""
        n_networks = getattr(self, "n_networks_", 1)
        if n_networks == 1:
            return {}
        return {"n_networks": n_networks, "combine": self._ensemble_combine}

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
        for i, cb in enumerate(self.callbacks or []):
            callbacks.append(cb if isinstance(cb, tuple) else (f"user_{i}", cb))
        return callbacks

    def _train_split(self, y):
        """skorch's ``train_split``: None, or how to hold out validation data."""
        if not self.early_stopping or self._partial_call:
            return None
        return ValidSplit(
            self.validation_fraction,
            stratified=self._stratify_validation(y),
            random_state=self._seed,
        )

    def _net_layout(self):
        """How the net makes batches: skorch parameters of its training
        iterator (and ``stateful``); by default shuffled mini-batches of
        sequences."""
        return {
            "iterator_train": BatchIterator,
            "iterator_train__shuffle": True,
            "iterator_train__random_state": np.random.RandomState(self._seed),
        }

    def _new_net(self, module_params, criterion, criterion_params, **net_params):
        """Build and initialise the skorch net around a new
        :class:`RecurrentNetwork` (used by ``fit`` and by :func:`sklstm.load`)."""
        net_params = {
            "iterator_valid": BatchIterator,
            "iterator_valid__batch_size": max(self.batch_size, _MIN_EVAL_BATCH_SIZE),
            **self._net_layout(),
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
            prints = fingerprint(self, X, lengths, y, sample_weight)
            if os.path.exists(path):
                resume = read_checkpoint(path, prints)
        self._seed = check_random_state(self.random_state).randint(2**31 - 1)
        if n_batches is None:
            n_train = len(X)
            if self.early_stopping:
                n_train -= int(np.ceil(self.validation_fraction * n_train))
            # with data-parallel processes, each step takes batch_size each
            n_processes = getattr(self.accelerator, "num_processes", 1)
            n_batches = max(-(-n_train // (self.batch_size * n_processes)), 1)
        train_split = self._train_split(y)
        n_epochs = 1 if self._partial_call else self._n_epochs(n_batches)
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
                self._learn_input_layout(X, lengths)
                self._cross_validated_choices(X, lengths, y, sample_weight)
                net = self._new_net(
                    self._module_params(n_outputs),
                    criterion,
                    criterion_params,
                    **fit_params,
                )
                if resume is not None:
                    section, decoder, net_doc = resume
                    torch.set_rng_state(restore_training(net, decoder, net_doc))
                    epochs = 0 if section["finished"] else n_epochs - len(net.history)
            # skorch stops cleanly on KeyboardInterrupt: the net stays usable
            if epochs > 0:
                net.partial_fit(
                    self._net_input(X, lengths, sample_weight), y, epochs=epochs
                )
        self.net_ = net
        self.n_iter_ = len(net.history)
        return self

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
        rows = [
            {k: v for k, v in epoch.items() if k != "batches"}
            for epoch in self.net_.history
        ]
        return pd.DataFrame(rows).set_index("epoch")

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.three_d_array = True
        return tags
