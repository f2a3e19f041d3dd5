"""Saving and loading fitted estimators without pickle (the format:
:mod:`sklstm._serialization`)."""

import contextlib
import io
import os
import tempfile

from sklearn.utils.validation import check_is_fitted

from ._classifier import SequenceClassifier
from ._device import check_device
from ._files import check_writable_path
from ._language_model import SequenceLanguageModel
from ._regressor import SequenceRegressor
from ._serialization import damaged, Decoder, encode, read, write
from ._tagger import SequenceTagger
from .preprocessing import SequenceScaler, Vocabulary

# the classes a file may name
_CLASSES = {
    cls.__name__: cls
    for cls in (
        SequenceClassifier,
        SequenceRegressor,
        SequenceTagger,
        SequenceLanguageModel,
        SequenceScaler,
        Vocabulary,
    )
}


@contextlib.contextmanager
def _scratch_file():
    """A file path in a private temporary folder, removed afterwards:
    safetensors reads and writes files, so a file object's bytes pass
    through one."""
    with tempfile.TemporaryDirectory() as folder:
        yield os.path.join(folder, "model.safetensors")


def save(estimator, path, *, optimizer=True):
    """Save a fitted sklstm estimator to one file, without pickle.

    The file is a safetensors file: the network's weights (tied weights
    stored once) and, with ``optimizer=True``, the optimizer's state, so that
    ``warm_start=True`` or ``partial_fit`` can continue training after
    :func:`load`; its metadata is one JSON document with the format version,
    the estimator's class, its parameters and its fitted attributes
    (``classes_``, ``n_features_in_``, the vocabulary, the scaling statistics,
    the training history, ...). The file is written to a temporary name and
    then renamed, so an interrupted save never leaves a damaged file at
    ``path``.

    Parameters
    ----------
    estimator : fitted SequenceClassifier, SequenceRegressor, SequenceTagger, \
            SequenceLanguageModel, SequenceScaler or Vocabulary
        The estimator to save. Parameters must be plain values (a
        ``callbacks`` list or an optimizer class from outside
        :mod:`torch.optim` cannot be stored safely and raise TypeError).
    path : str, path-like or file object
        Where to write; an existing file there is replaced. A file object
        opened for writing bytes (``open(..., "wb")``, ``io.BytesIO``)
        receives the same bytes, for storage that is not a file system.
    optimizer : bool, default=True
        Also store the optimizer's state (about twice the weights' size for
        Adam), to continue training after loading. Prediction does not
        need it.

    See Also
    --------
    load : Load an estimator saved by this function.

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np, sklstm
    >>> from sklstm import SequenceClassifier
    >>> X = np.random.RandomState(0).rand(20, 6, 2)
    >>> y = X.sum(axis=(1, 2)) > 6
    >>> clf = SequenceClassifier(max_epochs=2, random_state=0).fit(X, y)
    >>> path = os.path.join(tempfile.mkdtemp(), "clf.safetensors")
    >>> sklstm.save(clf, path)
    >>> same = sklstm.load(path)
    >>> bool((same.predict_proba(X) == clf.predict_proba(X)).all())
    True
    """
    classes = _CLASSES
    if type(estimator) not in classes.values():
        raise TypeError(
            f"sklstm.save stores sklstm's estimators ({', '.join(classes)}), not "
            f"{type(estimator).__name__}. Save other scikit-learn objects with "
            "skops.io (see the user guide's 'Saving and loading')."
        )
    check_is_fitted(estimator)
    stream = hasattr(path, "write")
    if stream and isinstance(path, io.TextIOBase):
        raise TypeError(
            "sklstm.save writes bytes; open the file in binary mode "
            "(open(path, 'wb')) or pass its path."
        )
    if not stream:
        check_writable_path(path)
    doc, tensors = encode(estimator, _CLASSES, with_optimizer=optimizer)
    if not stream:
        write(doc, tensors, path)
        return
    with _scratch_file() as file:
        write(doc, tensors, file)
        with open(file, "rb") as written:
            path.write(written.read())


def load(path, *, device=None):
    """Load an estimator saved by :func:`save`; never runs code from the file.

    Only JSON and raw tensor data are read: there is no pickle anywhere, the
    file may only name sklstm's own classes, and the parameters are
    validated as ``fit`` would validate them. A file that is not one of
    sklstm's (a pickle, a zip archive, a damaged or truncated file, a newer
    format version) raises ValueError and nothing from it runs. The
    checkpoints that ``checkpoint_dir`` makes are such files too.

    Parameters
    ----------
    path : str, path-like or file object
        A file written by :func:`save`, or a file object opened for reading
        bytes (``open(..., "rb")``, ``io.BytesIO``) that holds one.
    device : str or torch.device, default=None
        Where the loaded network runs. None keeps the saved ``device`` when
        it is available here, and falls back to ``"cpu"`` with a warning
        otherwise (a model saved on a GPU loads on a CPU-only machine).

    Returns
    -------
    estimator : fitted estimator
        Predicts exactly as the saved one did; with the optimizer's state
        saved, ``warm_start=True`` and ``partial_fit`` continue training.

    See Also
    --------
    save : Save a fitted estimator.

    Examples
    --------
    >>> import io
    >>> import numpy as np, sklstm
    >>> from sklstm import SequenceRegressor
    >>> X = np.random.RandomState(0).rand(20, 6)
    >>> reg = SequenceRegressor(max_epochs=2, random_state=0).fit(X, X.sum(axis=1))
    >>> buffer = io.BytesIO()  # a file object, as a database or a bucket gives
    >>> sklstm.save(reg, buffer)
    >>> same = sklstm.load(io.BytesIO(buffer.getvalue()))
    >>> bool((same.predict(X) == reg.predict(X)).all())
    True
    """
    if device is not None:
        check_device(device)  # the caller's error, not the file's
    if hasattr(path, "read"):
        data = None if isinstance(path, io.TextIOBase) else path.read()
        if not isinstance(data, bytes):
            raise TypeError(
                "sklstm.load reads bytes; open the file in binary mode "
                "(open(path, 'rb')) or pass its path."
            )
        name = getattr(path, "name", type(path).__name__)
        with _scratch_file() as file:
            with open(file, "wb") as copy:
                copy.write(data)
            doc, tensors = read(file, name=name)
    else:
        doc, tensors = read(path)
        name = path
    try:
        return Decoder(tensors, device, _CLASSES).estimator(doc["estimator"])
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise damaged(name, exc) from exc
