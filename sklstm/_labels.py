"""Labels of the classifiers (one per sequence or one per step): their
encoding, ``partial_fit``'s classes and class weights."""

import numpy as np
import pandas as pd
import torch
from sklearn.preprocessing import LabelEncoder
from sklearn.utils.class_weight import compute_class_weight
from sklearn.utils.multiclass import check_classification_targets

from ._base import fit_context
from ._data import PAD_LABEL


def _check_one_kind(labels):
    """Raise where object labels mix text with numbers (or other objects),
    which numpy cannot sort into ``classes_`` ("'<' not supported")."""
    text = np.fromiter((isinstance(v, str) for v in labels), bool, count=len(labels))
    if 0 < text.sum() < len(text):
        raise TypeError(
            f"y mixes text and other labels (such as {labels[np.argmax(text)]!r} "
            f"and {labels[np.argmin(text)]!r}), which cannot be ordered into "
            "classes_; make them one type, for example with y.astype(str)."
        )


class _LabelsMixin:
    """Label encoding and class weights shared by the classifier and the tagger."""

    _saved_fields = {"classes_": "classes_"}  # in saved files

    def _encode_labels(self, labels, classes=None):
        """Learn ``classes_`` from 1-D labels, or from ``classes`` on a first
        ``partial_fit``; keep them when training goes on; return codes."""
        labels = np.asarray(labels)
        if labels.dtype == object or labels.dtype.kind == "f":
            missing = np.flatnonzero(pd.isna(labels))
            if missing.size:
                raise ValueError(
                    f"y holds {missing.size} missing labels (None or NaN; the "
                    f"first is label {missing[0]} in order); drop the sequences "
                    "that hold them, or give them a class of their own, before "
                    "fitting."
                )
        if labels.dtype == object:
            _check_one_kind(labels.ravel())
        check_classification_targets(labels)
        if not self._continues():
            if classes is None:
                encoder = LabelEncoder().fit(labels)
                self.classes_ = encoder.classes_
                return encoder.transform(labels)
            self.classes_ = np.unique(np.asarray(classes))
        if not np.isin(labels, self.classes_).all():
            unknown = np.setdiff1d(labels, self.classes_)
            raise ValueError(
                f"y holds classes {unknown.tolist()} that are not in classes_ "
                f"{self.classes_.tolist()} (learned by the first fit, or given "
                "to the first partial_fit, and kept when training goes on)."
            )
        return np.searchsorted(self.classes_, labels)

    @fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y, classes=None, sample_weight=None):
        """Train for one pass over X and y, continuing any earlier training.

        As :meth:`sklearn.neural_network.MLPClassifier.partial_fit`: the first
        call builds the network (``classes`` must then list every class that
        any later call may see); every call trains one epoch over the given
        data at the constant learning rate ``lr``, with no schedule and no
        early stopping, so that data too large for memory can be streamed in
        chunks. The input layout (and ``standardize``'s statistics) are
        learned from the first chunk.

        Parameters
        ----------
        X : array-like or list of arrays
            Sequences, in the layouts ``fit`` accepts.
        y : array-like
            Labels, as for ``fit``.
        classes : array-like of shape (n_classes,), default=None
            All class labels; required on the first call, ignored afterwards.
        sample_weight : array-like of shape (n_samples,), default=None
            Weight of each sequence in the loss.

        Returns
        -------
        self : object
            The estimator, trained one more epoch.
        """
        if classes is None and not hasattr(self, "net_"):
            raise ValueError(
                "classes must be passed on the first call to partial_fit: the "
                "network's output layer needs every class in advance, e.g. "
                "partial_fit(X, y, classes=np.unique(y_all))."
            )
        return self._partial(X, y, sample_weight, classes=classes)

    def _criterion(self, y):
        params = {}
        if self.class_weight is not None:
            codes = y[y != PAD_LABEL].numpy()
            weights = compute_class_weight(
                self.class_weight, classes=self.classes_, y=self.classes_[codes]
            )
            params["weight"] = torch.as_tensor(weights, dtype=torch.float32)
        params["label_smoothing"] = float(self.label_smoothing)
        return torch.nn.CrossEntropyLoss, params
