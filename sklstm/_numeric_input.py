"""What the estimators that read sequences of numbers (or texts, through
a vocabulary) share: input validation, standardisation and the
data-dependent architecture with its ``"auto"`` parameters."""

import warnings
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.base import clone

from . import _auto
from ._compat import check_sample_weight, Interval, StrOptions
from ._data import (
    check_long_layout, check_not_iterator, check_sequences, feature_stats, pad_sequences,
)
from ._device import check_device
from ._net import PRECISIONS
from ._random import preserved_rng_state
from ._search import inner_search, n_candidates as search_size, search_folds
from ._threads import worker_count
from .nn import NumericInput, RecurrentNetwork
from .nn._readout import CONV_POOLINGS, POOLINGS
from .preprocessing._vocabulary import Vocabulary, is_text

# how the summary path reads a series longer than its points: the mean of
# each point's share of the steps. Interpolating (as fits before 2026-12-03
# did; their files keep it) reads two neighbouring steps of each four of a
# 2,000-step series, and what varies faster than the points aliases:
# RidgeCV on 512 points of noisy 2,000-step band spectra errs 0.675
# interpolated against 0.499 as means (0.589 on the raw values; five
# draws, a scratch script)
SUMMARY_RESAMPLING = "mean"

# without standardisation, inputs larger than this draw a warning
_LARGE_INPUT = 1e4

# architecture parameters of the numeric estimators (classifier, regressor, tagger)
ARCHITECTURE_CONSTRAINTS = {
    "max_epochs": [StrOptions({"auto"}), Interval(Integral, 1, None, closed="left")],
    "standardize": ["boolean"],
    "precision": [StrOptions(set(PRECISIONS))],
    "conv_layers": [StrOptions({"auto"}), Interval(Integral, 0, None, closed="left")],
    "conv_channels": [Interval(Integral, 1, None, closed="left")],
    "conv_kernel_size": [Interval(Integral, 1, None, closed="left")],
    "conv_dilations": [StrOptions({"multiscale"}), "array-like"],
    "input_differences": [Interval(Integral, 0, None, closed="left")],
    "difference_lag": [
        StrOptions({"auto"}), Interval(Integral, 1, None, closed="left"),
    ],
    "per_sequence_features": ["boolean"],
    "locked_dropout": ["boolean"],
    "weight_dropout": [Interval(Real, 0, 1, closed="left")],
}
# ... and of those that predict one output per sequence
MANY_TO_ONE_CONSTRAINTS = {
    **ARCHITECTURE_CONSTRAINTS,
    "conv_stride": [Interval(Integral, 1, None, closed="left")],
    "pooling": [StrOptions(set(POOLINGS))],
    "conv_pooling": [StrOptions(set(CONV_POOLINGS)), None],
    "conv_dilations": [StrOptions({"auto", "multiscale"}), "array-like"],
    "input_differences": [StrOptions({"auto"}), Interval(Integral, 0, None, closed="left")],
    "per_sequence_features": [StrOptions({"auto"}), "boolean"],
    "n_networks": [StrOptions({"auto"}), Interval(Integral, 1, None, closed="left")],
}


class _NumericInputMixin:
    """Input handling and data-dependent architecture of the classifier,
    regressor and tagger; not for direct use.

    Placed left of :class:`~sklstm._base._BaseSequenceEstimator`, it
    provides the base's ``_prepare_network`` and ``_module_params``.
    Class attributes ``_per_step``, ``_tabular_2d`` and ``_ensemble_combine``
    adapt it.
    """

    # the fitted state saved in files: field -> attribute
    _saved_fields = {
        "n_features_in_": "n_features_in_",
        "feature_names_in_": "feature_names_in_",
        "vocabulary_": "vocabulary_",
        "n_step_features": "_n_step_features",
        "tabular_2d": "_tabular",
        "n_conv_layers_": "n_conv_layers_",
        "conv_dilations_": "conv_dilations_",
        "input_differences_": "input_differences_",
        "difference_lag_": "difference_lag_",
        "per_sequence_features_": "per_sequence_features_",
        "n_networks_": "n_networks_",
        "auto_search_": "auto_search_",
        "fit_plan_": "fit_plan_",
        "crop_fraction_": "crop_fraction_",
        "summary_points_": "summary_points_",
    }

    # how an ensemble (n_networks) combines its networks' outputs; None for
    # estimators without the parameter
    _ensemble_combine = None
    # the inner search's rule (see sklstm._auto): the best mean by default
    _search_noise_se = 0.0
    _search_log_error = False  # judge that noise on log(1 - R²)
    # whether the fit budget holds the search before the ensemble
    # (sklstm._auto.fit_plan)
    _search_first = False
    # whether the inner search chooses one parameter after the other
    # (sklstm._search.inner_search)
    _sequential_search = False
    _tabular_2d = True  # 2-D X: columns are a fixed number of steps

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
        check_not_iterator(X)  # before is_text takes its first item
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

    def _require_y(self, X, y, what):
        """Check that y is given, and counted as X's layout needs."""
        if y is None:
            raise ValueError(
                f"{type(self).__name__} requires y to be passed, but the target y "
                f"is None. Pass {what}."
            )
        check_not_iterator(y, "y")
        check_long_layout(X, len(y) if hasattr(y, "__len__") else None)

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

    # -- the network's shape ------------------------------------------------------
    def _prepare_network(self, X, lengths, y, sample_weight, resume=None):
        """Learn what a new network's shape depends on in the data: the
        input statistics (``standardize``) and every ``"auto"`` parameter,
        the searched ones (``conv_dilations``, ``input_differences``) by
        :func:`~sklstm._search.inner_search`, its results kept as
        ``auto_search_`` (None when no search ran). A fit that resumes from
        a checkpoint takes the interrupted fit's search results instead of
        searching again."""
        text = hasattr(self, "vocabulary_")
        typical = _auto.typical_length(
            X.shape[1], None if lengths is None else lengths.cpu().numpy()
        )
        differences = self.input_differences
        # token ids have no differences, as they have no scale
        self.input_differences_ = 0 if text or _auto.is_auto(differences) else int(differences)
        self.difference_lag_ = _auto.difference_lag(self.difference_lag, typical)
        copies = self.per_sequence_features
        self.per_sequence_features_ = not (text or _auto.is_auto(copies)) and bool(copies)
        self.n_conv_layers_ = _auto.n_conv_layers(
            self.conv_layers, typical, self.conv_kernel_size, self._conv_stride(), text
        )
        self.conv_dilations_ = _auto.first_block_dilations(
            self.conv_dilations, typical, self.conv_kernel_size, self.conv_channels
        )
        grid = _auto.search_grid(
            getattr(self, "conv_dilations", None),
            getattr(self, "input_differences", None),
            self.n_conv_layers_,
            _auto.multiscale_dilations(typical, self.conv_kernel_size, self.conv_channels),
            text,
            getattr(self, "summary_points", None),
            self.per_sequence_features,
            typical=typical,
        )
        if hasattr(self, "summary_points"):
            points = self.summary_points
            self.summary_points_ = 0 if _auto.is_auto(points) or text else int(points)
        if hasattr(self, "crop_fraction"):
            self.crop_fraction_ = _auto.crop_fraction(self.crop_fraction, y.cpu().numpy())
        self.fit_plan_ = self._fit_plan(X, lengths, grid)
        if self.verbose:
            print(f"[{type(self).__name__}] fit plan: "
                  + _auto.describe_plan(self.fit_plan_, getattr(self, "crop_fraction_", None)))
        if self._ensemble_combine is not None:
            self.n_networks_ = self.fit_plan_["n_networks"]
        self.auto_search_ = None
        if self.fit_plan_["search"]:
            # a checkpoint's (same parameters and data; any seed) is this one's
            searched = resume and resume.fitted(type(self), "auto_search_")
            self.auto_search_ = searched or self._search(grid, X, lengths, y, sample_weight)
            for name, value in self.auto_search_["best_params"].items():
                setattr(self, f"{name}_", value)
        self._input_stats = None
        if not text:
            self._check_scale(X, lengths)

    def _fit_plan(self, X, lengths, grid):
        """:func:`~sklstm._auto.fit_plan` for this fit: its epochs, networks
        and search, within the fit budget. The search's candidates are
        counted as wide as their widest input (differences, per-sequence
        copies); where the search does not fit, the networks are counted
        as they are trained, with those parts at their values without it."""
        n_features = 1 if X.ndim == 2 else X.shape[2]  # token ids: one

        def plan(differences, copies, n_candidates):
            work = _auto.epoch_work(
                len(X), X.shape[1],
                n_features=NumericInput(n_features, differences, per_sequence=copies).n_outputs,
                n_conv_layers=self.n_conv_layers_, kernel_size=self.conv_kernel_size,
                stride=self._conv_stride(), num_hidden=self.num_hidden,
                num_layers=self.num_layers, bidirectional=self.bidirectional,
                ragged=lengths is not None and bool((lengths != X.shape[1]).any()),
                conv_channels=self.conv_channels,
            )
            return _auto.fit_plan(
                self.max_epochs, getattr(self, "n_networks", 1), n_candidates, work,
                n_series=len(X), partial=self._partial_call, search_first=self._search_first,
            )

        # an "auto" part is counted as if the search chose it
        differences = max(grid.get("input_differences", [self.input_differences_]))
        copies = _auto.is_auto(self.per_sequence_features) or self.per_sequence_features_
        widest = plan(differences, copies, search_size(grid, self._sequential_search))
        trained = (self.input_differences_, self.per_sequence_features_)
        if widest["search"] or (differences, copies) == trained:
            return widest
        return plan(*trained, 0)

    def _n_epochs(self):
        """``max_epochs``, resolved for ``"auto"`` by the fit plan."""
        if _auto.is_auto(self.max_epochs):
            return self.fit_plan_["epochs"]
        return self.max_epochs

    def _search(self, grid, X, lengths, y, sample_weight):
        """The inner search: single networks that leave no trace (no
        checkpoints, callbacks or printing), with the parameters not searched
        fixed at their learned values, cross-validated on the training data
        as the estimator takes it."""
        X_seq = X.cpu().numpy()
        if lengths is not None:
            X_seq = [x[:n] for x, n in zip(X_seq, lengths.tolist())]
        y = y.cpu().numpy()
        learned = {
            name: getattr(self, f"{name}_")
            for name in ("conv_dilations", "input_differences", "difference_lag",
                         "crop_fraction", "summary_points", "per_sequence_features")
            if hasattr(self, name)
        }
        # the networks' epochs, or fewer where a long set's search would not
        # fit otherwise (search_first), then in smaller batches: about the
        # steps of a network of AUTO_EPOCHS epochs, at most SEARCH_STEPS
        epochs, batch_size = self.fit_plan_["search_epochs"], self.batch_size
        if epochs != self._n_epochs():
            n_fold = len(y) * (_auto.SEARCH_FOLDS - 1) // _auto.SEARCH_FOLDS
            batch_size = _auto.search_batch_size(batch_size, epochs, _auto.AUTO_EPOCHS, n_fold)
        single = clone(self).set_params(
            **learned, n_networks=1, max_epochs=epochs, callbacks=None, verbose=0,
            batch_size=batch_size, checkpoint_dir=None, warm_start=False, accelerator=None,
        )
        n_tasks = search_size(grid, self._sequential_search) * _auto.SEARCH_FOLDS
        workers = 1 if self._search_draws_random_numbers() else worker_count(
            n_tasks, check_device(self.device).type
        )
        return inner_search(
            single, grid, X_seq, y, cv=search_folds(self, y, self._seed),
            sample_weight=None if sample_weight is None else sample_weight.numpy(),
            verbose=self.verbose, n_workers=workers, noise_se=self._search_noise_se,
            log_error=self._search_log_error, sequential=self._sequential_search,
        )

    def _search_draws_random_numbers(self):
        """Whether the search's networks draw random numbers in training
        (dropout, windows): their fits then hold torch's global generators
        while they train, one at a time, and the search runs them one after
        another on all cores. Asked of a network of their kind on the meta
        device (no weights, no draws)."""
        with torch.device("meta"), preserved_rng_state():
            network = RecurrentNetwork(
                num_layers=self.num_layers, dropout=self.dropout,
                locked_dropout=self.locked_dropout, weight_dropout=self.weight_dropout,
                crop_fraction=getattr(self, "crop_fraction_", 1.0),
            )
        return network.draws_random_numbers

    def _check_scale(self, X, lengths):
        """``standardize``'s statistics (of each feature and, with
        ``input_differences_``, of its differences, over the real steps), or
        a warning for large inputs left unscaled."""
        if self.standardize:
            with torch.no_grad():
                features = self._input_stage()(X, lengths)
            self._input_stats = feature_stats(features, lengths)
            return
        largest = float(X.abs().max())
        if largest > _LARGE_INPUT:
            warnings.warn(
                f"X holds values as large as {largest:.3g} and "
                "standardize=False: recurrent cells saturate on large "
                "inputs and may learn nothing. Set standardize=True, or "
                "scale X with sklstm.preprocessing.SequenceScaler.",
                UserWarning,
            )

    def _input_stage(self, mean=None, scale=None):
        """The network's input stage (:class:`~sklstm.nn.NumericInput`) as
        learned: the features with their differences and per-sequence
        copies, standardised with ``mean`` and ``scale`` where given."""
        return NumericInput(
            self._n_step_features, self.input_differences_, self.difference_lag_,
            mean, scale, per_sequence=getattr(self, "per_sequence_features_", False),
        )

    def _conv_stride(self):
        """The front-end's stride: 1 where every step needs its own output."""
        return 1 if self._per_step else self.conv_stride

    def _module_params(self, n_outputs):
        text = hasattr(self, "vocabulary_")
        mean, scale = self._input_stats or (None, None)
        # the summary path's fitted weights; None at load (the state dict has them)
        summary_weight, summary_bias = getattr(self, "_summary", None) or (None, None)
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
            "difference_lag": self.difference_lag_,
            # files written before the copies existed have none
            "per_sequence_features": getattr(self, "per_sequence_features_", False),
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
            "crop_fraction": getattr(self, "crop_fraction_", 1.0),
            "summary_points": getattr(self, "summary_points_", 0),
            "summary_weight": summary_weight,
            "summary_bias": summary_bias,
            "summary_resampling": SUMMARY_RESAMPLING,
            **self._ensemble_params(),
        }

    def _ensemble_params(self):
        """Module parameters that make a :class:`NetworkEnsemble`; none for
        one network (a plain :class:`RecurrentNetwork`)."""
        n_networks = getattr(self, "n_networks_", 1)
        if n_networks == 1:
            return {}
        return {"n_networks": n_networks, "combine": self._ensemble_combine}
