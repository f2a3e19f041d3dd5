"""Many-to-one sequence classification."""

import math
from numbers import Real

import torch
from sklearn.base import ClassifierMixin
from sklearn.utils.multiclass import type_of_target
from sklearn.utils.validation import (
    check_consistent_length,
    check_is_fitted,
    column_or_1d,
)

from ._compat import Interval, StrOptions
from ._data import array_shape
from ._base import _BaseSequenceEstimator, fit_context
from ._numeric_input import MANY_TO_ONE_CONSTRAINTS, _NumericInputMixin
from ._docs import fill_doc
from ._labels import _LabelsMixin


@fill_doc
class SequenceClassifier(
    _NumericInputMixin, _LabelsMixin, ClassifierMixin, _BaseSequenceEstimator
):
    """Recurrent network (LSTM, GRU or RNN) that classifies whole sequences.

    The network standardises the input, shortens long sequences with strided
    convolutions, reads them with recurrent layers (by default in both
    directions), pools the outputs of all real steps into one vector
    (by default their maximum) and maps it through a linear layer and a
    softmax to the classes. Training is done by skorch with cross-entropy
    loss.

    Parameters
    ----------
    %(shared_parameters)s
    %(architecture_parameters)s
    %(many_to_one_parameters)s
    class_weight : dict, "balanced" or None, default=None
        Weights of the classes in the loss, as in scikit-learn's
        classifiers: ``"balanced"`` weighs each class by
        ``n_samples / (n_classes * count)``.
    crop_fraction : float in (0, 1] or "auto", default="auto"
        Window slicing: below 1, each training pass reads a random window
        of each sequence, at least this fraction of it long, so that a
        few series per class teach the network shapes rather than the
        series themselves (see :class:`~sklstm.nn.RandomCrop`); prediction
        reads whole sequences. ``"auto"`` crops to at least 0.7 where the
        median class has at most 3 training sequences, and keeps whole
        sequences elsewhere. Windows suit labels that most of a sequence
        shows (a shape, a gesture); set 1.0 where a label depends on every
        step (a count, a total).
    %(label_smoothing_parameter)s

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        Class labels, sorted.
    n_features_in_ : int
        For 2-D input, the number of time steps (columns); for 3-D or ragged
        input, the number of features per step.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Column names, when fitted on a pandas DataFrame with string columns.
    net_ : skorch.NeuralNet
        The trained skorch net; ``net_.module_`` is the
        :class:`~sklstm.nn.RecurrentNetwork`, or with several networks
        the :class:`~sklstm.nn.NetworkEnsemble` of them.
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
    %(auto_search_attribute)s
    %(fit_plan_attribute)s
    crop_fraction_ : float
        The shortest training window, as a fraction of each sequence
        (``crop_fraction``, resolved for ``"auto"``; 1.0: whole sequences).
    n_networks_ : int
        Number of networks whose predictions are averaged (``n_networks``,
        resolved for ``"auto"``).
    n_iter_ : int
        Number of epochs the network has been trained.
    history_ : pandas.DataFrame
        Per-epoch training log (losses, learning-rate effect, duration).

    See Also
    --------
    sklearn.neural_network.MLPClassifier : Feed-forward network classifier.

    Notes
    -----
    Inputs can be 2-D ``(n_samples, n_timesteps)`` (one feature per step),
    3-D ``(n_samples, n_timesteps, n_features)``, or a list of arrays of
    different lengths shaped ``(T_i,)`` or ``(T_i, n_features)``. Shorter
    sequences are padded internally; a sequence's prediction depends only on
    its own steps.

    Examples
    --------
    >>> from sklstm import SequenceClassifier
    >>> from sklstm.datasets import make_bit_counting
    >>> X, y = make_bit_counting(n_bits=6, random_state=0)
    >>> clf = SequenceClassifier(num_hidden=16, batch_size=8, lr=0.03, n_networks=1,
    ...                          random_state=0)
    >>> clf.fit(X, y).score(X, y) > 0.95
    True
    >>> X[:3], clf.predict(X[:3])
    (array([[1, 0, 1, 1, 0, 1],
           [0, 1, 1, 1, 0, 1],
           [1, 0, 1, 0, 1, 1]], dtype=int8), array([4, 4, 4]))
    """

    _parameter_constraints = {
        **_BaseSequenceEstimator._parameter_constraints,
        **MANY_TO_ONE_CONSTRAINTS,
        "class_weight": [dict, StrOptions({"balanced"}), None],
        "crop_fraction": [StrOptions({"auto"}), Interval(Real, 0, 1, closed="right")],
        "label_smoothing": [Interval(Real, 0, 1, closed="left")],
    }
    _ensemble_combine = "proba"

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
        conv_dilations="auto",
        input_differences=2,
        difference_lag=4,
        per_sequence_features=False,
        locked_dropout=False,
        weight_dropout=0.0,
        conv_stride=2,
        pooling="max",
        conv_pooling=None,
        n_networks="auto",
        class_weight=None,
        crop_fraction="auto",
        label_smoothing=0.0,
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
        self.class_weight = class_weight
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
        self.crop_fraction = crop_fraction
        self.label_smoothing = label_smoothing

    def _stratify_validation(self, y):
        """Stratify the held-out share where every class can be in both parts
        (as ``StratifiedShuffleSplit`` needs); a random share elsewhere."""
        counts = torch.bincount(y)
        counts = counts[counts > 0]
        n_valid = math.ceil(self.validation_fraction * len(y))
        return bool(counts.min() >= 2) and len(counts) <= min(n_valid, len(y) - n_valid)

    @fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None):
        """Train the network on sequences X with labels y.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_timesteps) or \
                (n_samples, n_timesteps, n_features), or list of arrays
            Training sequences; a list may hold sequences of different lengths.
        y : array-like of shape (n_samples,)
            Class labels (ints, strings, ...).
        sample_weight : array-like of shape (n_samples,), default=None
            Weight of each sequence in the loss (a weighted mean); None
            weighs all equally.

        Returns
        -------
        self : SequenceClassifier
            The fitted classifier.
        """
        return self._fit(X, y, sample_weight)

    def _fit(self, X, y, sample_weight, classes=None):
        self._require_y(X, y, "one label per sequence")
        X, lengths = self._check_X(X, reset=True)
        y = column_or_1d(_one_column(y), warn=True)
        check_consistent_length(X, y)
        sample_weight = self._check_sample_weight(sample_weight, X)
        y = self._encode_labels(y, classes)
        y = torch.as_tensor(y, dtype=torch.long)
        return self._fit_net(
            X, lengths, y, n_outputs=len(self.classes_), sample_weight=sample_weight
        )

    def predict_proba(self, X):
        """Class probabilities of each sequence.

        Parameters
        ----------
        X : array-like or list of arrays
            Sequences, in the layout used for ``fit``.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
            Probabilities, columns in the order of ``classes_``.
        """
        return self._predict_batches(X, lambda out: torch.softmax(out, dim=-1))

    def predict_log_proba(self, X):
        """Logarithms of the class probabilities of each sequence.

        Computed from the network's outputs (``log_softmax``), not as the
        logarithm of :meth:`predict_proba`: a class whose probability
        rounds to 0 keeps a finite log-probability.

        Parameters
        ----------
        X : array-like or list of arrays
            Sequences, in the layout used for ``fit``.

        Returns
        -------
        log_proba : ndarray of shape (n_samples, n_classes)
            Log-probabilities, columns in the order of ``classes_``.

        Examples
        --------
        >>> import numpy as np
        >>> from sklstm import SequenceClassifier
        >>> X = np.random.RandomState(0).rand(20, 6, 1)
        >>> y = (X.sum(axis=(1, 2)) > 3).astype(int)
        >>> clf = SequenceClassifier(max_epochs=2, n_networks=1, random_state=0).fit(X, y)
        >>> log_proba = clf.predict_log_proba(X)
        >>> log_proba.shape, bool(np.allclose(np.exp(log_proba), clf.predict_proba(X)))
        ((20, 2), True)
        """
        return self._predict_batches(X, lambda out: torch.log_softmax(out, dim=-1))

    def predict(self, X):
        """Most likely class of each sequence.

        Parameters
        ----------
        X : array-like or list of arrays
            Sequences, in the layout used for ``fit``.

        Returns
        -------
        y : ndarray of shape (n_samples,)
            Predicted labels.
        """
        check_is_fitted(self)
        return self.classes_[self._predict_batches(X, lambda out: out.argmax(dim=-1))]


def _one_column(y):
    """y as given, or a ValueError naming the fix where it holds several
    labels per sequence (multilabel or multi-output targets, or one label
    per step)."""
    per_step = "; for one label per step, use SequenceTagger."
    shape = array_shape(y)
    if shape is None:
        raise ValueError(
            "y holds sequences of labels of different lengths, but "
            "SequenceClassifier predicts one label per sequence (a 1-D y)"
            + per_step
        )
    if len(shape) == 2 and shape[1] > 1:
        raise ValueError(
            f"y has {shape[1]} columns ({type_of_target(y)} targets), but "
            "SequenceClassifier predicts one label per sequence. For several "
            "labels per sequence, fit one classifier per column with "
            "sklearn.multioutput.MultiOutputClassifier(SequenceClassifier())"
            + per_step
        )
    return y
