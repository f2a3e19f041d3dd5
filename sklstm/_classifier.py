"""Many-to-one sequence classification."""

import numpy as np
import torch
from sklearn.base import ClassifierMixin, _fit_context
from sklearn.utils._param_validation import StrOptions
from sklearn.preprocessing import LabelEncoder
from sklearn.utils.class_weight import compute_class_weight
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import (
    check_consistent_length,
    check_is_fitted,
    column_or_1d,
)

from ._base import _BaseSequenceEstimator


class SequenceClassifier(ClassifierMixin, _BaseSequenceEstimator):
    """Recurrent network (LSTM, GRU or RNN) that classifies whole sequences.

    The network reads each sequence step by step; its state after the last
    real step goes through a linear layer and a softmax over the classes.
    Training is done by skorch with cross-entropy loss.

    Parameters
    ----------
    cell : {"lstm", "gru", "rnn"}, default="lstm"
        Recurrent cell.
    num_hidden : int, default=24
        Units per recurrent layer (per direction).
    num_layers : int, default=1
        Number of stacked recurrent layers.
    embedding_dim : int or None, default=None
        Size of the word embeddings when X is text; ``num_hidden`` if None.
    bidirectional : bool, default=False
        Whether the recurrent layers also read each sequence backwards.
    dropout : float, default=0.0
        Dropout between recurrent layers and before the output layer.
    max_epochs : int, default=60
        Number of passes over the training data (fewer with early stopping).
    batch_size : int, default=32
        Sequences per training mini-batch. Prediction uses batches of at least
        1024 sequences.
    lr : float, default=0.01
        Learning rate (the peak rate with ``lr_schedule="onecycle"``).
    optimizer : {"adam", "adamw", "sgd", "rmsprop"} or torch optimizer class, \
            default="adam"
        Optimizer.
    lr_schedule : {"constant", "onecycle", "cosine", "plateau"}, \
            default="onecycle"
        Learning-rate schedule: constant; one cycle of warm-up and annealing
        over ``max_epochs`` (stepped every batch); cosine annealing over
        ``max_epochs``; or divided by 4 when the loss (validation loss with
        ``early_stopping``) stops improving.
    clip_grad_norm : float or None, default=None
        If set, the gradient norm is clipped to this value at every step.
    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of the training data, stop when the
        validation loss has not improved for ``n_iter_no_change`` epochs and
        restore the weights of the best epoch.
    validation_fraction : float, default=0.1
        Fraction of the training data held out with ``early_stopping``
        (stratified when every class has at least two sequences).
    n_iter_no_change : int, default=10
        Patience of early stopping, in epochs.
    class_weight : dict, "balanced" or None, default=None
        Weights of the classes in the loss, as in scikit-learn's
        classifiers: ``"balanced"`` weighs each class by
        ``n_samples / (n_classes * count)``.
    callbacks : list of skorch callbacks or None, default=None
        Extra skorch callbacks (instances or ``(name, callback)`` tuples).
    warm_start : bool, default=False
        If True, ``fit`` continues training the network of the previous call
        for another ``max_epochs`` epochs instead of starting anew.
    random_state : int, RandomState instance or None, default=None
        Seeds weight initialisation, shuffling, dropout and the validation
        split. With an int, fitting on the CPU is reproducible.
    device : str or torch.device, default="cpu"
        Where the network runs, e.g. ``"cuda"``.
    verbose : int, default=0
        0 is silent; 1 prints one table row per epoch and a progress bar on
        epochs that run longer than two seconds.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        Class labels, sorted.
    n_features_in_ : int
        For 2-D input, the number of time steps (columns); for 3-D or ragged
        input, the number of features per step.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Column names, when fitted on a pandas DataFrame with string columns.
    net_ : skorch.NeuralNet
        The trained skorch net; ``net_.module_`` is the
        :class:`~sklstm.modules.RecurrentNetwork`.
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
    >>> clf = SequenceClassifier(num_hidden=16, batch_size=8, lr=0.03, random_state=0)
    >>> clf.fit(X, y).score(X, y) > 0.95
    True
    >>> X[:3], clf.predict(X[:3])
    (array([[1, 0, 1, 1, 0, 1],
           [0, 1, 1, 1, 0, 1],
           [1, 0, 1, 0, 1, 1]], dtype=int8), array([4, 4, 4]))
    """

    _parameter_constraints = {
        **_BaseSequenceEstimator._parameter_constraints,
        "class_weight": [dict, StrOptions({"balanced"}), None],
    }

    def __init__(
        self,
        *,
        cell="lstm",
        num_hidden=24,
        num_layers=1,
        embedding_dim=None,
        bidirectional=False,
        dropout=0.0,
        max_epochs=60,
        batch_size=32,
        lr=0.01,
        optimizer="adam",
        lr_schedule="onecycle",
        clip_grad_norm=None,
        early_stopping=False,
        validation_fraction=0.1,
        n_iter_no_change=10,
        class_weight=None,
        callbacks=None,
        warm_start=False,
        random_state=None,
        device="cpu",
        verbose=0,
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
        self.random_state = random_state
        self.device = device
        self.verbose = verbose

    def _criterion(self, y):
        params = {}
        if self.class_weight is not None:
            weights = compute_class_weight(
                self.class_weight, classes=self.classes_, y=self.classes_[y.numpy()]
            )
            params["weight"] = torch.as_tensor(weights, dtype=torch.float32)
        return torch.nn.CrossEntropyLoss, params

    def _stratify_validation(self, y):
        return torch.bincount(y).min() >= 2

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y):
        """Train the network on sequences X with labels y.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_timesteps) or \
                (n_samples, n_timesteps, n_features), or list of arrays
            Training sequences; a list may hold sequences of different lengths.
        y : array-like of shape (n_samples,)
            Class labels (ints, strings, ...).

        Returns
        -------
        self : SequenceClassifier
            The fitted classifier.
        """
        if y is None:
            raise ValueError(
                f"{type(self).__name__} requires y to be passed, but the target y "
                "is None. Pass one label per sequence."
            )
        X, lengths = self._check_X(X, reset=True)
        y = column_or_1d(y, warn=True)
        check_consistent_length(X, y)
        check_classification_targets(y)
        if self.warm_start and hasattr(self, "classes_"):
            if not np.isin(y, self.classes_).all():
                raise ValueError(
                    "warm_start=True, but y holds classes that the first fit "
                    f"did not see; expected a subset of {self.classes_}."
                )
            y = np.searchsorted(self.classes_, y)
        else:
            encoder = LabelEncoder().fit(y)
            self.classes_ = encoder.classes_
            y = encoder.transform(y)
        y = torch.as_tensor(y, dtype=torch.long)
        return self._fit_net(X, lengths, y, n_outputs=len(self.classes_))

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
