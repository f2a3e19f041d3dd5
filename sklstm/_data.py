"""Input validation and batching for sequence data."""

import warnings
from collections.abc import Iterator

import numpy as np
import pandas as pd
import torch
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_array, validate_data
from torch.utils.data import Subset

from ._numerics import is_constant

# label used for padded steps; torch's cross-entropy ignores it
PAD_LABEL = -100


def _as_ragged(X):
    """Return X as a list of sequences if it is a list-like of unequal lengths.

    Equal-length list-likes are left to numpy (they are plain 2-D or 3-D data).
    """
    if isinstance(X, pd.Series):
        X = X.to_list()
    elif isinstance(X, np.ndarray) and X.dtype == object and X.ndim == 1:
        X = list(X)
    elif not isinstance(X, (list, tuple)):
        return None
    if len(X) == 0:
        raise ValueError(
            "X is empty: found 0 sequences while at least 1 is required."
        )
    single = [x is not None and (isinstance(x, (str, bytes)) or not hasattr(x, "__len__"))
              for x in X]
    if all(single):
        return None  # 1-D data, which check_sequences names
    shapes = set()
    for i, x in enumerate(X):
        if x is None:
            raise ValueError(
                f"Sequence {i} of X is None; every sequence must be an array of "
                "at least one step. Drop missing sequences (and their targets) "
                "before calling the estimator."
            )
        if single[i]:
            raise ValueError(
                f"Sequence {i} of X is a single value ({x!r:.40}), not a "
                "sequence; every item of X must be a sequence, shaped (T_i,) "
                "or (T_i, n_features) (a one-step sequence is [value])."
            )
        shapes.add(_shape(x))
    # unequal lengths, or equal lengths whose later axes differ (which
    # _ragged_to_padded then names)
    return list(X) if len(shapes) > 1 else None


def array_shape(values):
    """The shape of ``values`` as one array, or None where numpy cannot
    make one (rows of different lengths).

    >>> array_shape([[1, 2], [3, 4]]), array_shape([[1, 2], [3]])
    ((2, 2), None)
    """
    try:
        return np.asarray(values).shape
    except ValueError:  # numpy's "inhomogeneous shape"
        return None


def holds_text(values):
    """Whether ``values`` (labels, or the steps of sequences) hold strings.

    >>> holds_text(["a", "b"]), holds_text([1.0, "b"]), holds_text([1.0, 2.0])
    (True, True, False)
    """
    if array_shape(values) is None:
        return False
    values = np.asarray(values)
    if values.dtype.kind in "US":
        return True
    return values.dtype.kind == "O" and any(isinstance(v, str) for v in values.ravel())


def _shape(x):
    """The shape of one sequence, as far as it is regular."""
    shape = getattr(x, "shape", None)
    if shape is not None:
        return tuple(shape)
    try:
        return np.shape(x)
    except ValueError:  # nested lists of unequal lengths
        return (len(x),)


def _channels_first_hint(items):
    """A hint to convert X when its sequences look channels first.

    aeon's and sktime's collections of unequal length are lists of
    ``(n_channels, n_timepoints_i)`` arrays: read time first, their first
    axes agree and their second ones differ.
    """
    shapes = [_shape(x) for x in items]
    if all(len(s) == 2 for s in shapes) and len({s[0] for s in shapes}) == 1:
        return (
            f" The sequences share their first axis ({shapes[0][0]}) and differ "
            "in the second: if X is an aeon or sktime collection of unequal "
            "lengths, a list of (n_channels, n_timepoints_i) arrays, convert "
            "it with sklstm.preprocessing.channels_last(X)."
        )
    return ""


def sktime_layout(X):
    """The name of the sktime pandas layout that X is in, or None.

    ``"pd-multiindex"``: one row per time step, indexed by (instance, time),
    a column per channel. ``"nested_univ"``: one row per instance, a column
    per channel, each cell a series.
    """
    if not isinstance(X, pd.DataFrame) or X.shape[1] == 0:
        return None
    if isinstance(X.index, pd.MultiIndex):
        return "pd-multiindex"
    if len(X) and any(
        isinstance(v, (pd.Series, np.ndarray, list, tuple)) for v in X.iloc[0]
    ):
        return "nested_univ"
    return None


def ragged_array(rows):
    """Arrays of different lengths as one 1-D object array, an item a row:
    what scikit-learn's tools index and join as any array (a list of
    arrays is joined by ``cross_val_predict`` as if it were 2-D, and fails).

    >>> out = ragged_array([np.zeros(2), np.ones(3)])
    >>> out.shape, out.dtype, [len(row) for row in out]
    ((2,), dtype('O'), [2, 3])
    """
    out = np.empty(len(rows), dtype=object)
    for i, row in enumerate(rows):  # one by one: numpy would stack equal lengths
        out[i] = row
    return out


def check_not_iterator(X, name="X"):
    """Raise where X is an iterator (a generator, ``map``, ``iter(...)``):
    the estimators read X more than once, and a first look at one would
    consume the sequence it looked at."""
    if isinstance(X, Iterator):
        what = "the sequences" if name == "X" else "the targets"
        raise TypeError(
            f"{name} is an iterator ({type(X).__name__}), which can be read only "
            f"once; pass {what} as a list, list({name}), or as an array."
        )


def check_long_layout(X, n_targets):
    """Raise where X has a row per time step (sktime's ``"pd-multiindex"``)
    and y a target per instance: as many targets as X's first index level
    has values, and fewer than X's rows. Such a frame is otherwise read as
    2-D data, a sequence per row (a wide frame may be indexed by, say,
    subject and trial), and the count of targets would not match.

    >>> import pandas as pd
    >>> index = pd.MultiIndex.from_product([[0, 1], [0, 1, 2]])
    >>> check_long_layout(pd.DataFrame({"a": range(6)}, index=index), 2)
    Traceback (most recent call last):
    ...
    ValueError: X has 6 rows but y has 2 targets, one per value of X's first index level: ...
    """
    if sktime_layout(X) != "pd-multiindex" or n_targets is None:
        return
    instances = X.index.get_level_values(0).nunique()
    if n_targets == instances < len(X):
        raise ValueError(
            f"X has {len(X)} rows but y has {n_targets} targets, one per value "
            "of X's first index level: X looks like sktime's 'pd-multiindex' "
            "layout (a row per time step, indexed by instance and time), while "
            "a 2-D X is read as a sequence per row. Convert it with "
            "sklstm.preprocessing.channels_last(X)."
        )


def _ragged_to_padded(items, n_step_features):
    """Validate a list of sequences and pad them into one array."""
    arrays = []
    for i, x in enumerate(items):
        try:
            with np.errstate(over="ignore"):  # beyond float32: named below
                arr = np.asarray(x, dtype=np.float32)
        except (TypeError, ValueError) as exc:
            raise TypeError(
                f"Sequence {i} of X could not be converted to numbers ({exc}); "
                "each sequence must be numeric, shaped (T_i,) or (T_i, n_features)."
            ) from exc
        if arr.ndim == 1:
            arr = arr[:, None]
        if arr.ndim != 2:
            raise ValueError(
                f"Sequence {i} of X has {arr.ndim} dimensions; each sequence must "
                "be shaped (T_i,) or (T_i, n_features)."
            )
        if arr.shape[0] == 0:
            raise ValueError(
                f"Sequence {i} of X has length 0; every sequence needs at least "
                "one step. Drop empty sequences before calling the estimator."
            )
        if not np.isfinite(arr).all():
            raise ValueError(
                f"Sequence {i} of X contains NaN or infinity (or values beyond "
                "float32's range, about 3.4e38); replace or drop missing values, "
                "or rescale X, before calling the estimator."
            )
        if n_step_features is not None and arr.shape[1] != n_step_features:
            raise ValueError(
                f"Sequence {i} of X has {arr.shape[1]} features per step, but "
                f"{n_step_features} were expected (as in the other sequences "
                "or at fit time)." + _channels_first_hint(items)
            )
        n_step_features = arr.shape[1]
        arrays.append(arr)
    return pad_sequences(arrays, np.float32)


def pad_sequences(arrays, dtype):
    """Right-pad arrays of shape ``(T_i, ...)`` with zeros into one array.

    Returns
    -------
    padded : ndarray of shape (n, max T_i, ...)
    lengths : ndarray of shape (n,), int64
    """
    lengths = np.array([len(a) for a in arrays], dtype=np.int64)
    padded = np.zeros((len(arrays), lengths.max(), *arrays[0].shape[1:]), dtype)
    for i, arr in enumerate(arrays):
        padded[i, : len(arr)] = arr
    return padded, lengths


def _finite(validate, *args, **kwargs):
    """``validate(*args, **kwargs)`` (scikit-learn's ``check_array`` or
    ``validate_data``), its error about NaN or infinity replaced by one
    that says where they are and what to do: NaN at the end of sequences
    is the padding of sequences of different lengths (tslearn's layout,
    for one), which sklstm takes as a list of arrays instead."""
    try:
        # values beyond float32's range become infinity in the cast, which
        # the error below names: numpy's overflow warning would repeat it
        with np.errstate(over="ignore"):
            return validate(*args, **kwargs)
    except ValueError as error:
        if holds_text(args[-1]):
            # numpy's message names the value but not the fix
            raise ValueError(
                f"X holds values that are not numbers ({error}). Numeric "
                "sequences need numbers at every step; texts are read as "
                "strings or lists of string tokens, all of them strings. "
                "Convert or drop the other values before calling the estimator."
            ) from error
        if "NaN" not in str(error) and "infinity" not in str(error):
            raise
        X = args[-1]
        try:
            message = _non_finite_message(np.asarray(X, dtype=np.float64))
        except (TypeError, ValueError):
            message = None
        if message is None:
            raise
        raise ValueError(message) from error


def _non_finite_message(values):
    """What is wrong with the float64 array ``values`` ``(n, T)`` or ``(n,
    T, n_features)`` that is not finite in float32, and the fix; None if
    nothing is.

    >>> X = np.array([[1.0, 2.0, np.nan], [1.0, 2.0, 3.0]])
    >>> print(_non_finite_message(X))  # doctest: +NORMALIZE_WHITESPACE
    X contains NaN at the end of 1 of its 2 sequences, as padding to a
    common length does. Pass sequences of different lengths as a list of
    (T_i, n_features) arrays without the padding, for example
    [x[~np.isnan(x)] for x in X].
    >>> print(_non_finite_message(np.array([[1.0, np.nan, 3.0]])))
    ... # doctest: +NORMALIZE_WHITESPACE
    X contains NaN (first in sequence 0, step 1); every step is read. Impute
    or drop the missing values before calling the estimator, for example
    with sklearn.impute.SimpleImputer on X.reshape(-1, n_features).
    """
    example = ("[x[~np.isnan(x).any(axis=-1)] for x in X]" if values.ndim == 3
               else "[x[~np.isnan(x)] for x in X]")
    if values.ndim == 2:
        values = values[:, :, None]
    missing = np.isnan(values)
    if missing.any():
        steps = missing.any(axis=2)  # (n, T): a step with any NaN
        seq, step = np.argwhere(steps)[0]
        # padding: whole steps of NaN from some step to the end, after at
        # least one real step, and some sequence as long as X (unpadded)
        padded = steps.any(axis=1)
        ends = np.flip(np.logical_and.accumulate(np.flip(missing.all(axis=2), 1), axis=1), 1)
        if (steps == ends).all() and not steps[:, 0].any() and not padded.all():
            return (
                f"X contains NaN at the end of {int(padded.sum())} of its {len(values)} "
                "sequences, as padding to a common length does. Pass sequences of "
                "different lengths as a list of (T_i, n_features) arrays without "
                f"the padding, for example {example}."
            )
        return (
            f"X contains NaN (first in sequence {seq}, step {step}); every step "
            "is read. Impute or drop the missing values before calling the "
            "estimator, for example with sklearn.impute.SimpleImputer on "
            "X.reshape(-1, n_features)."
        )
    big = ~np.isfinite(values) | (np.abs(values) > np.finfo(np.float32).max)
    if not big.any():
        return None
    seq, step = np.argwhere(big.any(axis=2))[0]
    return (
        f"X contains infinity or a value beyond float32's range, about 3.4e38 "
        f"(first in sequence {seq}, step {step}); replace such values, or "
        "rescale X, before calling the estimator."
    )


def check_sequences(estimator, X, *, reset):
    """Validate numeric sequence input.

    Accepted layouts: 2-D ``(n_samples, n_timesteps)`` (univariate, also pandas
    DataFrames), 3-D ``(n_samples, n_timesteps, n_features)``, and list-likes
    of ``(T_i,)`` or ``(T_i, n_features)`` arrays of different lengths.

    2-D data is tabular (``n_features_in_`` is the number of time steps, as
    scikit-learn's checks expect) when the estimator's ``_tabular_2d`` is
    True, and univariate sequences of any length otherwise.

    With ``reset=True`` the layout is recorded on the estimator
    (``n_features_in_``, ``feature_names_in_``); otherwise X is checked
    against it.

    Returns
    -------
    X : ndarray of shape (n_samples, max_timesteps, n_features), float32
    lengths : ndarray of shape (n_samples,) or None
        Real lengths, None when every sequence has all ``max_timesteps`` steps.
    """
    check_not_iterator(X)
    n_step = None if reset else estimator._n_step_features
    # (a frame with a MultiIndex may be sktime's "pd-multiindex" or a wide
    # frame whose rows are indexed by, say, subject and trial: left as data)
    if sktime_layout(X) == "nested_univ":
        raise ValueError(
            "X is a pandas DataFrame whose cells are series (sktime's "
            "'nested_univ' layout); convert it with "
            "sklstm.preprocessing.channels_last(X), which returns sklstm's "
            "layout (one (T_i, n_channels) array per series)."
        )
    ragged = _as_ragged(X)
    if ragged is not None:
        X, lengths = _ragged_to_padded(ragged, n_step)
        if reset:
            estimator._tabular = False
            estimator.n_features_in_ = estimator._n_step_features = X.shape[2]
        return X, lengths

    ndim = getattr(X, "ndim", None)
    if ndim is None:
        ndim = np.asarray(X).ndim
    if ndim == 1:
        raise ValueError(
            f"X is 1-D ({len(X)} values), but sequences are the rows of a 2-D X "
            "(n_samples, n_timesteps), the items of a 3-D X or of a list. "
            "Reshape your data: X.reshape(1, -1) if it is a single sequence, "
            "or a list of arrays if each value is meant as a sequence of its own."
        )
    if ndim > 3:
        raise ValueError(
            f"X has {ndim} dimensions, but sequences are 2-D (n_samples, "
            "n_timesteps), 3-D (n_samples, n_timesteps, n_features) or a list of "
            "(T_i, n_features) arrays. Reshape X, for example merging its last "
            "axes into features with X.reshape(n_samples, n_timesteps, -1)."
        )
    if ndim == 3:
        X = _finite(check_array, X, allow_nd=True, dtype=np.float32, estimator=estimator)
        if reset:
            estimator._tabular = False
            estimator.n_features_in_ = X.shape[2]
            if X.shape[1] == 1 < X.shape[2]:
                warnings.warn(
                    f"X holds sequences of one step with {X.shape[2]} features "
                    "each, so a recurrent network has no time axis to read. If "
                    "X is an aeon or sktime collection (n_cases, n_channels, "
                    "n_timepoints), convert it with "
                    "sklstm.preprocessing.channels_last(X); a 2-D X "
                    "(n_samples, n_timesteps) is read as univariate sequences.",
                    UserWarning,
                )
        elif X.shape[2] != n_step:
            hint = (
                f" Its second axis has {n_step}: if X is channels first (aeon, "
                "sktime), convert it with sklstm.preprocessing.channels_last(X)."
                if X.shape[1] == n_step else ""
            )
            raise ValueError(
                f"X has {X.shape[2]} features per step, but {type(estimator).__name__} "
                f"is expecting {n_step} features per step as input." + hint
            )
    elif estimator._tabular_2d if reset else estimator._tabular:
        # 2-D data: columns are time steps, validated as scikit-learn does
        X = _finite(validate_data, estimator, X, reset=reset, dtype=np.float32)
        if reset:
            estimator._tabular = True
        X = X[:, :, None]
    else:
        # 2-D data as univariate sequences of any length
        X = _finite(check_array, X, dtype=np.float32, estimator=estimator)
        if reset:
            estimator._tabular = False
            estimator.n_features_in_ = 1
        elif n_step != 1:
            raise ValueError(
                f"X is 2-D, but {type(estimator).__name__} was fitted on sequences "
                f"with {n_step} features per step: pass a 3-D array "
                f"(n_samples, n_timesteps, {n_step}) or a list of "
                f"(T_i, {n_step}) arrays."
            )
        X = X[:, :, None]
    if reset:
        estimator._n_step_features = X.shape[2]
    # torch needs writable memory (read-only memmaps are copied)
    return np.require(X, dtype=np.float32, requirements=["C", "W"]), None


def feature_stats(X, lengths):
    """Mean and standard deviation of each feature over the real steps.

    Parameters
    ----------
    X : ndarray or tensor of shape (n, T, n_features)
        Padded sequences.
    lengths : ndarray or tensor of shape (n,) or None
        Real lengths; None when every sequence has T steps.

    Returns
    -------
    mean, scale : ndarray of shape (n_features,), float64
        ``scale`` is the standard deviation, 1 where a feature is constant
        (see :func:`safe_scale`).
    """
    X = np.asarray(X)
    if lengths is None:
        steps = X.reshape(-1, X.shape[-1])
    else:
        steps = X[np.arange(X.shape[1]) < np.asarray(lengths)[:, None]]
    steps = steps.astype(np.float64)
    mean = steps.mean(axis=0)
    return mean, safe_scale(mean, steps.std(axis=0))


def safe_scale(mean, std):
    """``std``, with 1 where a feature is constant up to float32 rounding.

    Relative to the mean, so that features of any scale (1e-30 as 1e30) keep
    their own standard deviation.
    """
    return np.where(is_constant(mean, std), 1.0, std)


class BatchIterator:
    """Iterate over mini-batches of a skorch dataset by slicing its tensors.

    skorch's default is a :class:`torch.utils.data.DataLoader`, which indexes
    and collates one sample at a time. Here the whole data is already one
    padded tensor, so a batch is a single indexing operation. Padding beyond
    the longest sequence of a batch is trimmed.

    The ``ceil(n / batch_size)`` batches of an epoch are balanced: their
    sizes differ by at most one (200 sequences in batches of 64 make four
    batches of 50, not 64, 64, 64 and 8). A small remainder batch would
    take a full optimiser step on the gradient of a few sequences, and
    matrix products of a few rows round differently with the number of
    threads (Intel MKL), so the same fit would differ between a process
    with two torch threads and a worker with one.

    Parameters
    ----------
    dataset : skorch.dataset.Dataset or torch.utils.data.Subset of one
        ``dataset.X`` is a tensor or a dict of tensors with one row per
        sequence: ``"X"``, and optionally ``"lengths"`` and
        ``"sample_weight"``; ``dataset.y`` a tensor or None.
    batch_size : int
    shuffle : bool, default=False
    random_state : numpy.random.RandomState or None
        Source of the shuffling order; kept across epochs.
    num_shards, shard : int, default=1 and 0
        Data-parallel training: the processes go through the same order in
        global batches of ``num_shards * batch_size`` sequences, and this
        one takes the ``shard``-th contiguous part of each. The last global
        batch is filled up from the start of the order so that every process
        gets as many sequences (Accelerate's ``even_batches``).
    """

    def __init__(
        self, dataset, batch_size, shuffle=False, random_state=None, num_shards=1, shard=0
    ):
        self.dataset = dataset
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.random_state = random_state
        self.num_shards = num_shards
        self.shard = shard

    def __len__(self):
        return -(-len(self.dataset) // (self.batch_size * self.num_shards))

    def _batches(self, order, n):
        """Row selections (slices or index tensors) of this process's batches."""
        if self.num_shards == 1:
            # as many batches as batch_size gives, of sizes that differ by at
            # most one: no small remainder batch (see the class docstring)
            n_batches = max(-(-n // self.batch_size), 1)
            size, n_larger = divmod(n, n_batches)
            start = 0
            for i in range(n_batches):
                stop = start + size + (i < n_larger)
                yield slice(start, stop) if order is None else order[start:stop]
                start = stop
            return
        order = torch.arange(n) if order is None else order
        size = self.batch_size * self.num_shards
        for start in range(0, n, size):
            rows = order[start : start + size]
            short = -len(rows) % self.num_shards
            if short:  # wrap around so that every process gets as many
                rows = torch.cat([rows, order.repeat(-(-short // n))[:short]])
            part = len(rows) // self.num_shards
            yield rows[self.shard * part : (self.shard + 1) * part]

    def __iter__(self):
        dataset, indices = self.dataset, None
        if isinstance(dataset, Subset):
            dataset, indices = dataset.dataset, torch.as_tensor(dataset.indices)
        X, y = dataset.X, dataset.y
        n = len(self.dataset)
        order = indices
        if self.shuffle:
            rng = self.random_state or np.random
            perm = torch.from_numpy(rng.permutation(n))
            order = perm if indices is None else indices[perm]
        for sl in self._batches(order, n):
            yb = None if y is None else y[sl]
            if not isinstance(X, dict):
                yield X[sl], yb
                continue
            Xb = {key: value[sl] for key, value in X.items()}
            if "lengths" in Xb:
                t = int(Xb["lengths"].max())
                Xb["X"] = Xb["X"][:, :t]
                if yb is not None and yb.ndim > 1 and yb.shape[1] > t:
                    yb = yb[:, :t]
            yield Xb, yb


def batchify(stream, n_columns):
    """Lay one long stream out as ``n_columns`` consecutive parallel columns.

    ``stream`` of shape ``(N, ...)`` becomes ``(n_columns, N // n_columns, ...)``:
    column j holds steps ``j * L`` to ``(j + 1) * L - 1``. The last
    ``N % n_columns`` steps are dropped, as in the reference language-model
    code.
    """
    length = len(stream) // n_columns
    if length < 2:
        raise ValueError(
            f"The training stream has {len(stream)} steps, too few to lay out in "
            f"{n_columns} columns of at least 2 steps; lower batch_size or pass "
            "more data."
        )
    return stream[: n_columns * length].reshape(n_columns, length, *stream.shape[1:])


class WindowIterator:
    """Iterate over consecutive time windows of column-laid-out streams.

    For truncated back-propagation through time: ``dataset.X`` is
    ``(n_columns, L, ...)`` (see :func:`batchify`), and each batch is the
    next ``bptt`` steps of every column, in order, so that the state at the
    end of one batch is the right start for the next.

    Parameters
    ----------
    dataset : skorch.dataset.Dataset
    batch_size : int
        Ignored: the number of columns is fixed by the layout.
    bptt : int
        Window length.
    num_shards, shard : int, default=1 and 0
        Data-parallel training: this process reads the ``shard``-th of
        ``num_shards`` contiguous groups of columns, so each reads its own
        contiguous part of the stream and carries its own state.
    variable : bool, default=False
        Draw each window's length around ``bptt`` as AWD-LSTM does (Merity
        et al. 2018): the base is ``bptt`` with probability 0.95 and
        ``bptt / 2`` otherwise, the length is normal around the base with
        standard deviation 5, at least ``min(5, bptt)`` and at most
        ``bptt + 40``. Windows stay consecutive, so the carried state stays
        right.
    random_state : numpy.random.RandomState or None, default=None
        Draws the variable lengths (it advances from epoch to epoch).
    """

    def __init__(self, dataset, batch_size=None, bptt=35, num_shards=1, shard=0,
                 variable=False, random_state=None):
        self.dataset = dataset
        self.bptt = bptt
        self.num_shards = num_shards
        self.shard = shard
        self.variable = variable
        self.random_state = random_state

    def __len__(self):
        """The number of windows (with variable windows, the expected one)."""
        return -(-self.dataset.X.shape[1] // self.bptt)

    def window_lengths(self, n_steps):
        """Lengths of the windows that cover ``n_steps`` steps."""
        if not self.variable:
            return [self.bptt] * (-(-n_steps // self.bptt))
        # numpy's global generator when no random_state (as scikit-learn's)
        rng = check_random_state(self.random_state)
        lengths, covered = [], 0
        while covered < n_steps:
            base = self.bptt if rng.random_sample() < 0.95 else self.bptt / 2
            length = int(rng.normal(base, 5))
            length = min(max(length, min(5, self.bptt)), self.bptt + 40)
            lengths.append(length)
            covered += length
        return lengths

    def __iter__(self):
        X, y = self.dataset.X, self.dataset.y
        if self.num_shards > 1:
            columns = np.array_split(np.arange(X.shape[0]), self.num_shards)[self.shard]
            X, y = X[columns], y[columns]
        start = 0
        for length in self.window_lengths(X.shape[1]):
            yield X[:, start : start + length], y[:, start : start + length]
            start += length
