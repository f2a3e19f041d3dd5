"""Sequence labelling: one label per step."""

from numbers import Integral, Real

import numpy as np
import torch
from sklearn.base import ClassifierMixin
from sklearn.metrics import accuracy_score
from sklearn.utils.validation import check_is_fitted

from ._compat import check_sample_weight, Interval, StrOptions
from ._base import _BaseSequenceEstimator, fit_context
from ._numeric_input import ARCHITECTURE_CONSTRAINTS, _NumericInputMixin
from ._data import PAD_LABEL, WindowIterator, batchify, ragged_array
from ._docs import fill_doc
from ._labels import _LabelsMixin


def _per_step_labels(y, lengths, n_samples, n_steps):
    """Check per-step labels against X; return the list of per-sample arrays."""
    if hasattr(y, "ndim") and getattr(y, "dtype", None) != object:
        y = np.asarray(y)
        if y.ndim != 2:
            raise ValueError(
                f"y has {y.ndim} dimension(s); SequenceTagger needs one label per "
                "step: a 2-D array (n_samples, n_timesteps) or a list of 1-D "
                "label arrays."
            )
        y = list(y)
    else:
        y = [np.asarray(yi) for yi in y]
    if len(y) != n_samples:
        raise ValueError(
            f"X holds {n_samples} sequences but y holds labels for {len(y)}."
        )
    for i, yi in enumerate(y):
        expected = n_steps if lengths is None else int(lengths[i])
        if yi.ndim != 1:
            raise ValueError(
                f"Labels of sequence {i} have {yi.ndim} dimensions; each sequence "
                "needs a 1-D array of one label per step."
            )
        if len(yi) != expected:
            raise ValueError(
                f"Sequence {i} has {expected} steps but {len(yi)} labels; y needs "
                "exactly one label per step."
            )
    return y


@fill_doc
class SequenceTagger(
    _NumericInputMixin, _LabelsMixin, ClassifierMixin, _BaseSequenceEstimator
):
    """Recurrent network that labels every step of a sequence.

    The recurrent state at each step goes through a linear layer and a
    softmax shared across steps (sequence labelling, many-to-many). With
    ``bidirectional=True`` each step's label can depend on the whole
    sequence. Padding never counts: not in the loss, the predictions or
    the score.

    Parameters
    ----------
    %(shared_parameters)s
    %(architecture_parameters)s
    class_weight : dict, "balanced" or None, default=None
        Weights of the classes in the loss, as in scikit-learn's
        classifiers (counted over all steps).
    bptt : int or None, default=None
        If set, train by truncated back-propagation through time: the steps
        of all training sequences are joined into one stream, laid out in
        ``batch_size`` parallel columns and cut into windows of ``bptt``
        steps; the state at the end of one window starts the next. For very
        long sequences (the echo task). Prediction always reads each
        sequence whole. Not combined with ``early_stopping``.
    %(label_smoothing_parameter)s

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        Step labels, sorted.
    n_features_in_ : int
        Number of features per step (1 for 2-D input; not set for text).
    vocabulary_ : Vocabulary
        With text input, the vocabulary learned in ``fit``.
    net_ : skorch.NeuralNet
        The trained skorch net.
    n_conv_layers_ : int
        Number of convolution blocks in front of the recurrent layers
        (``conv_layers``, resolved for ``"auto"``).
    conv_dilations_ : tuple of int
        Dilations of the first convolution block's branches
        (``conv_dilations``, resolved for ``"multiscale"``).
    input_differences_ : int
        Orders of step differences appended to the input features
        (``input_differences``).
    difference_lag_ : int
        Steps between the values that the differences subtract
        (``difference_lag``, resolved for ``"auto"``).
    per_sequence_features_ : bool
        Whether per-sequence standardised copies of the input features
        and of their first differences are appended (``per_sequence_features``).
    auto_search_ : None
        The tagger has no parameters chosen by an inner search.
    %(fit_plan_attribute)s
    n_iter_ : int
        Number of epochs the network has been trained.
    history_ : pandas.DataFrame
        Per-epoch training log.

    See Also
    --------
    SequenceClassifier : One label per sequence.

    Examples
    --------
    >>> import numpy as np
    >>> from sklstm import SequenceTagger
    >>> from sklstm.datasets import make_echo
    >>> X, y = make_echo(n_steps=2000, echo_step=1, random_state=0)
    >>> tagger = SequenceTagger(num_hidden=8, bptt=10, batch_size=8, lr=0.05,
    ...                         max_epochs=30, random_state=0).fit(X, y)
    >>> X_new = np.array([[1, 0, 0, 1, 1, 0]])
    >>> tagger.predict(X_new)
    array([[0, 1, 0, 0, 1, 1]])
    """

    _parameter_constraints = {
        **_BaseSequenceEstimator._parameter_constraints,
        **ARCHITECTURE_CONSTRAINTS,
        "class_weight": [dict, StrOptions({"balanced"}), None],
        "bptt": [Interval(Integral, 1, None, closed="left"), None],
        "label_smoothing": [Interval(Real, 0, 1, closed="left")],
    }
    _per_step = True
    _tabular_2d = False

    def __init__(
        self,
        *,
        cell="lstm",
        num_hidden=24,
        num_layers=1,
        embedding_dim=None,
        bidirectional=False,
        dropout=0.0,
        max_epochs=80,
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
        difference_lag=4,
        per_sequence_features=False,
        locked_dropout=False,
        weight_dropout=0.0,
        class_weight=None,
        bptt=None,
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
        self.class_weight = class_weight
        self.bptt = bptt
        self.label_smoothing = label_smoothing

    @fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None):
        """Train the network on sequences X with one label per step in y.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_timesteps) or \
                (n_samples, n_timesteps, n_features), list of arrays, or text
            Training sequences; a list may hold sequences of different
            lengths; text is strings or token lists.
        y : array-like of shape (n_samples, n_timesteps) or list of arrays
            One label per step of each sequence.
        sample_weight : array-like of shape (n_samples,), default=None
            Weight of each sequence in the loss (a weighted mean); None
            weighs all equally.

        Returns
        -------
        self : SequenceTagger
            The fitted tagger.
        """
        return self._fit(X, y, sample_weight)

    def _net_layout(self, seed):
        if self.bptt is None:
            return super()._net_layout(seed)
        # consecutive windows of one stream, the state carried across
        return {
            "iterator_train": WindowIterator,
            "iterator_train__bptt": self.bptt,
            "stateful": True,
        }

    def _fit(self, X, y, sample_weight, classes=None):
        if self.bptt is not None and self.early_stopping:
            raise ValueError(
                "early_stopping is not available with bptt (one carried stream); "
                "set early_stopping=False or bptt=None."
            )
        if self.bptt is not None and self.conv_layers not in (0, "auto"):
            raise ValueError(
                "conv_layers is not available with bptt (windows of one carried "
                "stream); set conv_layers=0 or bptt=None."
            )
        self._require_y(X, y, "one label per step of each sequence")
        X, lengths = self._check_X(X, reset=True)
        y = _per_step_labels(y, lengths, len(X), X.shape[1])
        sample_weight = self._check_sample_weight(sample_weight, X)
        if self.bptt is not None and sample_weight is not None:
            raise ValueError(
                "sample_weight is not available with bptt (the sequences are "
                "joined into one stream); set bptt=None or drop sample_weight."
            )
        codes = self._encode_labels(np.concatenate(y), classes)
        n_outputs = len(self.classes_)
        if self.bptt is not None:
            if lengths is None:
                stream = X.reshape(-1, *X.shape[2:])
            else:
                stream = torch.cat([x[:n] for x, n in zip(X, lengths)])
            X_cols = batchify(stream, self.batch_size)
            y_cols = batchify(torch.as_tensor(codes), self.batch_size)
            return self._fit_net(
                X_cols,
                None,
                y_cols,
                n_outputs,
                n_batches=-(-X_cols.shape[1] // self.bptt),
            )
        y_pad = torch.full(X.shape[:2], PAD_LABEL, dtype=torch.long)
        start = 0
        for i, yi in enumerate(y):
            y_pad[i, : len(yi)] = torch.as_tensor(codes[start : start + len(yi)])
            start += len(yi)
        return self._fit_net(X, lengths, y_pad, n_outputs, sample_weight=sample_weight)

    def _per_step_output(self, X, transform):
        """``transform`` of the network's per-step outputs, padding removed:
        an array for equal-length input, otherwise a 1-D object array whose
        items are each sequence's array (:func:`ragged_array`)."""
        check_is_fitted(self)
        X_t, lengths = self._check_X(X, reset=False)
        outputs = self.net_.forward_iter(self._net_input(X_t, lengths), training=False)
        out = [transform(o).cpu().numpy() for o in outputs]
        if lengths is None:
            return np.concatenate(out)
        rows = [row for batch in out for row in batch]
        return ragged_array([row[:n] for row, n in zip(rows, lengths.tolist())])

    def predict_proba(self, X):
        """Class probabilities at every step.

        Parameters
        ----------
        X : array-like, list of arrays, or text
            Sequences, in the layout used for ``fit``.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_timesteps, n_classes) or \
                ndarray of arrays
            For sequences of different lengths, a 1-D object array of
            ``(T_i, n_classes)`` arrays, one per sequence.
        """
        return self._per_step_output(X, lambda out: torch.softmax(out, dim=-1))

    def predict_log_proba(self, X):
        """Logarithms of the class probabilities at every step (from the
        network's outputs, ``log_softmax``: finite where a probability
        rounds to 0).

        Parameters
        ----------
        X : array-like, list of arrays, or text
            Sequences, in the layout used for ``fit``.

        Returns
        -------
        log_proba : ndarray of shape (n_samples, n_timesteps, n_classes) or \
                ndarray of arrays
            For sequences of different lengths, a 1-D object array of
            ``(T_i, n_classes)`` arrays, one per sequence.
        """
        return self._per_step_output(X, lambda out: torch.log_softmax(out, dim=-1))

    def predict(self, X):
        """Most likely label at every step.

        Parameters
        ----------
        X : array-like, list of arrays, or text
            Sequences, in the layout used for ``fit``.

        Returns
        -------
        y : ndarray of shape (n_samples, n_timesteps) or ndarray of arrays
            For sequences of different lengths, a 1-D object array of
            ``(T_i,)`` arrays, one per sequence, which scikit-learn's tools
            index and join as they do any array (``cross_val_predict``).
        """
        codes = self._per_step_output(X, lambda out: out.argmax(dim=-1))
        if codes.ndim == 1:  # an array of arrays, one per sequence
            return ragged_array([self.classes_[c] for c in codes])
        return self.classes_[codes]

    def score(self, X, y, sample_weight=None):
        """Accuracy over all real steps (padding never counts).

        Parameters
        ----------
        X : array-like, list of arrays, or text
            Sequences.
        y : array-like of shape (n_samples, n_timesteps) or list of arrays
            True label of every step.
        sample_weight : array-like of shape (n_samples,), default=None
            Weight of each sequence, given to each of its steps (as in
            ``fit``); None weighs all steps equally.

        Returns
        -------
        score : float
            Fraction of steps labelled correctly (weighted, with
            ``sample_weight``).
        """
        y_pred = self.predict(X)
        pred = np.concatenate(list(y_pred))
        ragged = y_pred.ndim == 1  # an array of arrays, one per sequence
        y = _per_step_labels(
            y,
            [len(p) for p in y_pred] if ragged else None,
            len(y_pred),
            None if ragged else y_pred.shape[1],
        )
        true = np.concatenate(y)
        unknown = np.setdiff1d(np.unique(true), self.classes_)
        if unknown.size:
            raise ValueError(
                f"y holds labels {unknown.tolist()} that were not seen in fit; "
                f"known labels are {self.classes_.tolist()}."
            )
        if sample_weight is None:
            return float(np.mean(pred == true))
        sample_weight = check_sample_weight(
            sample_weight, y_pred, dtype=np.float64, ensure_non_negative=True
        )
        return float(accuracy_score(
            true, pred, sample_weight=np.repeat(sample_weight, [len(p) for p in y_pred])
        ))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags
