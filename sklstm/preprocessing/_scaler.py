"""Standardisation of 2-D, 3-D and ragged sequence data."""

import numpy as np
import torch
from sklearn.base import BaseEstimator, OneToOneFeatureMixin, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from .._compat import fit_context
from .._data import _as_ragged, check_sequences, feature_stats
from ._vocabulary import is_text
from ..nn._input import sequence_stats


class SequenceScaler(OneToOneFeatureMixin, TransformerMixin, BaseEstimator):
    """Standardise sequences feature by feature, over real steps only.

    scikit-learn's :class:`~sklearn.preprocessing.StandardScaler` takes one
    row per sample and rejects 3-D and ragged input. This scaler learns, for
    each feature of a step, the mean and standard deviation over all steps of
    all training sequences (padding never counts), and maps every step to
    ``(x - mean_) / scale_``. With ``per_sequence=True`` it instead
    z-normalises each sequence with its own mean and standard deviation, as
    the UCR/UEA archives do; nothing is learned then.

    Inputs are laid out as for the sklstm estimators: 2-D ``(n_samples,
    n_timesteps)`` (one feature per step: all columns share one mean and
    scale), 3-D ``(n_samples, n_timesteps, n_features)``, or a list of
    ``(T_i,)`` or ``(T_i, n_features)`` arrays of different lengths. The
    output has the layout of the input (a list for ragged input), in
    float32, the precision the networks train in.

    The sklstm estimators standardise their input themselves
    (``standardize=True``, the default); use this scaler for other steps of a
    pipeline, for ``per_sequence`` scaling, or to inspect the scaled data.

    Parameters
    ----------
    per_sequence : bool, default=False
        Scale each sequence (each of its features) by its own mean and
        standard deviation instead of the statistics of the training data.
        Constant sequences become zeros.

    Attributes
    ----------
    mean_ : ndarray of shape (n_step_features,) or None
        Mean of each step feature over the real steps of the training data
        (one value for 2-D input); None with ``per_sequence=True``.
    scale_ : ndarray of shape (n_step_features,) or None
        Standard deviation of each step feature (1 where it is constant);
        None with ``per_sequence=True``.
    n_features_in_ : int
        For 2-D input, the number of time steps (columns); for 3-D or ragged
        input, the number of features per step.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Column names, when fitted on a pandas DataFrame with string columns.

    See Also
    --------
    sklearn.preprocessing.StandardScaler : The same for tabular data.

    Examples
    --------
    >>> import numpy as np
    >>> from sklstm.preprocessing import SequenceScaler
    >>> X = [np.array([[1.0, 10.0], [3.0, 30.0]]), np.array([[5.0, 50.0]])]
    >>> scaler = SequenceScaler().fit(X)
    >>> scaler.mean_, scaler.scale_.round(3)
    (array([ 3., 30.]), array([ 1.633, 16.33 ]))
    >>> [x.shape for x in scaler.transform(X)]
    [(2, 2), (1, 2)]
    >>> np.concatenate(scaler.transform(X)).round(2)
    array([[-1.22, -1.22],
           [ 0.  ,  0.  ],
           [ 1.22,  1.22]], dtype=float32)
    >>> SequenceScaler(per_sequence=True).fit_transform(X)[0].tolist()
    [[-1.0, -1.0], [1.0, 1.0]]
    """

    _parameter_constraints = {"per_sequence": ["boolean"]}
    # the fitted state in sklstm.save's files: field -> attribute
    _saved_fields = {
        "mean_": "mean_",
        "scale_": "scale_",
        "n_features_in_": "n_features_in_",
        "feature_names_in_": "feature_names_in_",
        "n_step_features": "_n_step_features",
        "tabular_2d": "_tabular",
    }

    # 2-D input: columns are time steps (as for the classifier and regressor)
    _tabular_2d = True

    def __init__(self, *, per_sequence=False):
        self.per_sequence = per_sequence

    @fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Learn each step feature's mean and standard deviation.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_timesteps) or \
                (n_samples, n_timesteps, n_features), or list of arrays
            Training sequences.
        y : None
            Ignored.

        Returns
        -------
        self : SequenceScaler
            The fitted scaler.
        """
        _check_numeric(X)
        X_pad, lengths = check_sequences(self, X, reset=True)
        self.mean_ = self.scale_ = None
        if not self.per_sequence:
            self.mean_, self.scale_ = feature_stats(X_pad, lengths)
        return self

    def transform(self, X):
        """Standardise sequences.

        Parameters
        ----------
        X : array-like or list of arrays
            Sequences, in the layout used for ``fit``.

        Returns
        -------
        X_scaled : ndarray or list of ndarray, float32
            In the layout of X.
        """
        return self._apply(X, inverse=False)

    def inverse_transform(self, X):
        """Map standardised sequences back to the original scale.

        Parameters
        ----------
        X : array-like or list of arrays
            Scaled sequences.

        Returns
        -------
        X_original : ndarray or list of ndarray, float32
            In the layout of X.
        """
        if self.per_sequence:
            raise ValueError(
                "SequenceScaler(per_sequence=True) does not keep each sequence's "
                "mean and scale, so it cannot be inverted; use "
                "per_sequence=False to invert the scaling."
            )
        return self._apply(X, inverse=True)

    def _apply(self, X, inverse):
        check_is_fitted(self)
        _check_numeric(X)
        ragged = _as_ragged(X)
        two_d = ragged is None and np.asarray(X).ndim == 2
        X_pad, lengths = check_sequences(self, X, reset=False)
        X_pad = X_pad.astype(np.float64)
        if self.per_sequence:
            mean, scale = (t.numpy() for t in sequence_stats(
                torch.from_numpy(X_pad), None if lengths is None else torch.from_numpy(lengths)
            ))
        else:
            mean, scale = self.mean_, self.scale_
        out = (X_pad * scale + mean if inverse else (X_pad - mean) / scale)
        out = out.astype(np.float32)
        if ragged is not None:
            return [
                o[:n, 0] if np.ndim(x) == 1 else o[:n]
                for o, n, x in zip(out, lengths, ragged)
            ]
        if two_d:
            return out[:, :, 0]
        return out

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.three_d_array = True
        tags.transformer_tags.preserves_dtype = ["float32"]
        return tags


def _check_numeric(X):
    if is_text(X):
        raise TypeError(
            "SequenceScaler scales numeric sequences, but X holds text. The "
            "estimators read texts themselves (through a Vocabulary): leave "
            "the scaler out of a pipeline on text."
        )
