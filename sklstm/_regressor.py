"""Sequence regression: one value (or several) per sequence."""

from numbers import Integral

import numpy as np
import torch
from sklearn.base import RegressorMixin
from sklearn.utils.validation import check_array, check_consistent_length, check_is_fitted

from . import _auto
from ._compat import Interval, StrOptions
from ._data import array_shape, holds_text
from ._base import _BaseSequenceEstimator, fit_context
from ._docs import fill_doc
from ._linear_path import describe_linear_path, fit_linear_path
from ._numeric_input import (
    MANY_TO_ONE_CONSTRAINTS, SUMMARY_RESAMPLING, _NumericInputMixin,
)
from .nn._heads import resample


@fill_doc
class SequenceRegressor(_NumericInputMixin, RegressorMixin, _BaseSequenceEstimator):
    """Recurrent network that predicts one value, or several, per sequence.

    The network is that of :class:`SequenceClassifier` (standardised input,
    convolutions for long sequences, recurrent layers, pooling over the real
    steps) with a linear output; training minimises the mean squared error.

    Parameters
    ----------
    %(shared_parameters)s
    %(architecture_parameters)s
    %(many_to_one_parameters)s
    normalize_y : bool, default=True
        Train on targets standardised to zero mean and unit variance (as
        :class:`~sklearn.gaussian_process.GaussianProcessRegressor` does);
        predictions are mapped back to the original scale.
    summary_points : int or "auto", default="auto"
        When at least 2, a linear path from each input sequence, resampled
        at this many evenly spaced positions, to the outputs, beside the
        network (see :class:`~sklstm.nn.SummaryPath`): it keeps where along
        a series a value sits, which pooling over time throws away. Its
        weights are fitted before the network, which then learns what they
        leave: a linear model of the targets on the resampled
        (standardised) inputs, a ridge regression or partial least squares
        (chemometrics' regression on spectra), whichever a 5-fold
        cross-validation of the training data prefers
        (``summary_model_``). 0 leaves it out. ``"auto"`` (the
        default) lets the inner search choose between 0 and a path over
        every step of a typical training series (the median length; at
        most 512 points, longer series resampled), then, with
        ``per_sequence_features="auto"``, whether to add the copies
        to that choice, where the search fits in the fit budget (0
        elsewhere, and in ``partial_fit``): where the target depends on values at fixed
        places (spectra, aligned profiles) the path wins, elsewhere the
        search keeps the network alone. ``summary_points_`` says what was
        used.

    Attributes
    ----------
    n_features_in_ : int
        For 2-D input, the number of time steps (columns); for 3-D or ragged
        input, the number of features per step.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Column names, when fitted on a pandas DataFrame with string columns.
    vocabulary_ : Vocabulary
        With text input, the vocabulary learned in ``fit``.
    net_ : skorch.NeuralNet
        The trained skorch net.
    n_conv_layers_ : int
        Number of convolution blocks in front of the recurrent layers
        (``conv_layers``, resolved for ``"auto"``).
    conv_dilations_ : tuple of int
        Dilations of the first convolution block's branches
        (``conv_dilations``, resolved for ``"auto"`` or ``"multiscale"``).
    input_differences_ : int
        Orders of step differences appended to the input features
        (``input_differences``, resolved for ``"auto"``).
    difference_lag_ : int
        Steps between the values that the differences subtract
        (``difference_lag``, resolved for ``"auto"``).
    per_sequence_features_ : bool
        Whether per-sequence standardised copies of the input features
        and of their first differences are appended (``per_sequence_features``, resolved for ``"auto"``).
    summary_points_ : int
        The summary path's points (``summary_points``, resolved for
        ``"auto"``); 0 for no path.
    summary_model_ : dict or None
        The summary path's linear model (None without a path):
        ``"model"``, ``"ridge"`` or ``"pls"`` (partial least squares);
        ``"n_components"`` (partial least squares) or ``"alpha"`` (the
        ridge's penalty); ``"cv_mse"``, the cross-validated mean squared
        error of the ridge and of each number of components tried, by
        name, from which the model was chosen (on the targets as trained:
        standardised, with ``normalize_y``).
    %(auto_search_attribute)s
    %(fit_plan_attribute)s
    n_networks_ : int
        Number of networks whose predictions are averaged (``n_networks``,
        resolved for ``"auto"``).
    n_iter_ : int
        Number of epochs the network has been trained.
    history_ : pandas.DataFrame
        Per-epoch training log.

    See Also
    --------
    sklearn.neural_network.MLPRegressor : Feed-forward network regressor.

    Examples
    --------
    >>> from sklstm import SequenceRegressor
    >>> from sklstm.datasets import make_sine
    >>> X, y = make_sine(n_samples=500, window=20, random_state=0)
    >>> reg = SequenceRegressor(num_hidden=16, max_epochs=20, n_networks=1, random_state=0)
    >>> reg.fit(X, y).score(X, y) > 0.9
    True
    """

    _parameter_constraints = {
        **_BaseSequenceEstimator._parameter_constraints,
        **MANY_TO_ONE_CONSTRAINTS,
        "normalize_y": ["boolean"],
        "summary_points": [StrOptions({"auto"}), Interval(Integral, 0, None, closed="left")],
    }
    _ensemble_combine = "mean"
    _search_noise_se = _auto.REGRESSION_SEARCH_NOISE_SE
    _search_log_error = True
    _search_first = True
    _sequential_search = True
    # in saved files: how targets were scaled for training
    _saved_fields = {
        "target_1d": "_y_1d", "target_mean": "_y_mean", "target_scale": "_y_scale",
        "summary_model": "summary_model_",
    }

    def __init__(
        self,
        *,
        cell="lstm",
        num_hidden=24,
        num_layers=1,
        embedding_dim=None,
        bidirectional=True,
        dropout=0.0,
        max_epochs="auto",
        batch_size=64,
        lr=0.02,
        optimizer="adam",
        lr_schedule="onecycle",
        clip_grad_norm=None,
        early_stopping=False,
        validation_fraction=0.1,
        n_iter_no_change=10,
        callbacks=None,
        warm_start=False,
        checkpoint_dir=None,
        random_state=None,
        device="cpu",
        accelerator=None,
        verbose=0,
        standardize=True,
        precision="float32",
        conv_layers="auto",
        conv_channels=64,
        conv_kernel_size=7,
        conv_dilations=(1,),
        input_differences=0,
        difference_lag="auto",
        per_sequence_features="auto",
        locked_dropout=False,
        weight_dropout=0.0,
        conv_stride=2,
        pooling="mean",
        conv_pooling=None,
        n_networks="auto",
        normalize_y=True,
        summary_points="auto",
    ):
        self.cell = cell
        self.num_hidden = num_hidden
        self.num_layers = num_layers
        self.embedding_dim = embedding_dim
        self.bidirectional = bidirectional
        self.dropout = dropout
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.lr = lr
        self.optimizer = optimizer
        self.lr_schedule = lr_schedule
        self.clip_grad_norm = clip_grad_norm
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.callbacks = callbacks
        self.warm_start = warm_start
        self.checkpoint_dir = checkpoint_dir
        self.random_state = random_state
        self.device = device
        self.accelerator = accelerator
        self.verbose = verbose
        self.standardize = standardize
        self.precision = precision
        self.conv_layers = conv_layers
        self.conv_channels = conv_channels
        self.conv_kernel_size = conv_kernel_size
        self.conv_dilations = conv_dilations
        self.input_differences = input_differences
        self.difference_lag = difference_lag
        self.per_sequence_features = per_sequence_features
        self.locked_dropout = locked_dropout
        self.weight_dropout = weight_dropout
        self.conv_stride = conv_stride
        self.pooling = pooling
        self.conv_pooling = conv_pooling
        self.n_networks = n_networks
        self.summary_points = summary_points
        self.normalize_y = normalize_y

    @fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None):
        """Train the network on sequences X with targets y.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_timesteps) or \
                (n_samples, n_timesteps, n_features), list of arrays, or text
            Training sequences; a list may hold sequences of different lengths.
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            Targets.
        sample_weight : array-like of shape (n_samples,), default=None
            Weight of each sequence in the loss (a weighted mean); None
            weighs all equally.

        Returns
        -------
        self : SequenceRegressor
            The fitted regressor.
        """
        return self._fit(X, y, sample_weight)

    @fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y, sample_weight=None):
        """Train for one pass over X and y, continuing any earlier training.

        As :meth:`sklearn.neural_network.MLPRegressor.partial_fit`: every call
        trains one epoch over the given data at the constant learning rate
        ``lr`` (no schedule, no early stopping), so that data too large for
        memory can be streamed in chunks. The first call builds the network;
        the input layout, ``standardize``'s statistics and, with
        ``normalize_y``, the target scaling are learned from its chunk.

        Parameters
        ----------
        X : array-like, list of arrays, or text
            Sequences, in the layouts ``fit`` accepts.
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            Targets.
        sample_weight : array-like of shape (n_samples,), default=None
            Weight of each sequence in the loss.

        Returns
        -------
        self : SequenceRegressor
            The regressor, trained one more epoch.
        """
        return self._partial(X, y, sample_weight)

    def _fit(self, X, y, sample_weight):
        self._require_y(X, y, "one target (or row of targets) per sequence")
        X, lengths = self._check_X(X, reset=True)
        try:
            y = check_array(
                y, ensure_2d=False, dtype=np.float32, input_name="y", estimator=self
            )
        except ValueError as exc:
            if array_shape(y) is None:
                raise ValueError(
                    "y holds rows of different lengths; SequenceRegressor needs "
                    "y shaped (n_samples,) or (n_samples, n_outputs), the same "
                    "number of targets for every sequence."
                ) from exc
            if not holds_text(y):
                raise
            raise ValueError(
                f"y holds values that are not numbers ({exc}); SequenceRegressor "
                "predicts numbers: for class labels, use SequenceClassifier."
            ) from exc
        check_consistent_length(X, y)
        sample_weight = self._check_sample_weight(sample_weight, X)
        self._y_1d = y.ndim == 1
        y = y.reshape(len(y), -1)
        if not self._continues():
            self._y_mean, self._y_scale = np.zeros(y.shape[1]), np.ones(y.shape[1])
            if self.normalize_y:
                std = y.std(axis=0, dtype=np.float64)
                self._y_mean = y.mean(axis=0, dtype=np.float64)
                self._y_scale = np.where(std > 0, std, 1.0)
        y = ((y - self._y_mean) / self._y_scale).astype(np.float32)
        y = torch.from_numpy(y)
        return self._fit_net(
            X, lengths, y, n_outputs=y.shape[1], sample_weight=sample_weight
        )

    def _prepare_network(self, X, lengths, y, sample_weight, resume=None):
        """The numeric estimators' preparation, then the summary path's
        linear model, which needs the input statistics learned there."""
        super()._prepare_network(X, lengths, y, sample_weight, resume)
        self._summary, self.summary_model_ = None, None
        if self.summary_points_:
            self._summary = self._fit_summary(X, lengths, y, sample_weight)

    def _fit_summary(self, X, lengths, y, sample_weight):
        """The summary path's weights, fitted to the training targets on
        the standardised inputs resampled at ``summary_points_`` positions:
        a ridge regression or partial least squares, as
        :func:`~sklstm._linear_path.fit_linear_path`'s folds choose. Its
        report becomes ``summary_model_``."""
        # the network's own input stage: differences, copies, then standardisation
        mean, scale = self._input_stats or (None, None)
        with torch.no_grad():
            Z = self._input_stage(mean, scale)(X.float(), lengths)
            Z = resample(Z, lengths, self.summary_points_, SUMMARY_RESAMPLING)
            Z = Z.flatten(1).numpy()
        weights = None if sample_weight is None else sample_weight.numpy()
        coef, intercept, self.summary_model_ = fit_linear_path(
            Z, y.cpu().numpy(), weights, random_state=self._seed
        )
        if self.verbose:
            print(f"[{type(self).__name__}] summary path: "
                  + describe_linear_path(self.summary_model_))
        return coef, intercept

    def _criterion(self, y):
        return torch.nn.MSELoss, {}

    def predict(self, X):
        """Predicted target(s) of each sequence.

        Parameters
        ----------
        X : array-like, list of arrays, or text
            Sequences, in the layout used for ``fit``.

        Returns
        -------
        y : ndarray of shape (n_samples,) or (n_samples, n_outputs)
            Predictions, shaped like the ``y`` given to ``fit``.
        """
        check_is_fitted(self)
        y = self._predict_batches(X, lambda out: out) * self._y_scale + self._y_mean
        return y.ravel() if self._y_1d else y

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags
