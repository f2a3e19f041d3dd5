"""Conversion from the channels-first layout of aeon and sktime."""

import numpy as np

from .._data import sktime_layout


def channels_last(X):
    """Turn an aeon or sktime collection into sklstm's sequence layout.

    aeon and sktime keep a collection of time series channels first: a 3-D
    array ``(n_cases, n_channels, n_timepoints)``, or, for series of
    different lengths, a list of 2-D arrays ``(n_channels, n_timepoints_i)``.
    sklstm reads time first, as PyTorch's recurrent layers do: a 3-D array
    ``(n_cases, n_timepoints, n_channels)`` or a list of
    ``(n_timepoints_i, n_channels)`` arrays. This function swaps the two
    axes of each series and copies nothing else. It also reads sktime's
    two pandas layouts: ``"pd-multiindex"`` (a row per time step, indexed by
    instance and time, a column per channel) and ``"nested_univ"`` (a row
    per instance, each cell a channel's series). It is stateless, so it can
    also open a pipeline as ``FunctionTransformer(channels_last)``.

    Parameters
    ----------
    X : ndarray of shape (n_cases, n_channels, n_timepoints), list of \
            ndarray of shape (n_channels, n_timepoints_i) or DataFrame
        A collection as ``aeon.datasets.load_classification`` returns it,
        or a DataFrame in one of sktime's two pandas layouts.

    Returns
    -------
    X_seq : ndarray of shape (n_cases, n_timepoints, n_channels) or list of \
            ndarray of shape (n_timepoints_i, n_channels)
        The same collection, time first (a view where possible). From a
        DataFrame: a list, one array per instance in the order of the rows.

    Examples
    --------
    >>> import numpy as np
    >>> from sklstm.preprocessing import channels_last
    >>> X = np.zeros((10, 3, 50))  # 10 series, 3 channels, 50 time points
    >>> channels_last(X).shape
    (10, 50, 3)
    >>> ragged = [np.zeros((3, 50)), np.zeros((3, 20))]
    >>> [x.shape for x in channels_last(ragged)]
    [(50, 3), (20, 3)]
    >>> import pandas as pd  # sktime's "pd-multiindex": 2 instances, 2 channels
    >>> index = pd.MultiIndex.from_tuples([(0, 0), (0, 1), (0, 2), (1, 0), (1, 1)])
    >>> long = pd.DataFrame({"a": [1.0, 2, 3, 4, 5], "b": 0.0}, index=index)
    >>> [x.shape for x in channels_last(long)]
    [(3, 2), (2, 2)]
    """
    layout = sktime_layout(X)
    if layout is not None:
        return _from_pandas(X, layout)
    wide = ("; a 2-D X of univariate series (n_cases, n_timepoints), as "
            "sktime's 'numpyflat' and 'pd-wide' layouts hold them, needs no "
            "conversion: the estimators read it as it is")
    if hasattr(X, "columns"):
        raise ValueError(
            "X is a pandas DataFrame in neither of sktime's pandas layouts that "
            "channels_last reads ('pd-multiindex': a row per time step, indexed "
            "by instance and time; 'nested_univ': a cell per series)" + wide + "."
        )
    if isinstance(X, np.ndarray) and X.dtype != object:
        if X.ndim != 3:
            raise ValueError(
                f"X has {X.ndim} dimensions; aeon and sktime collections are 3-D "
                "(n_cases, n_channels, n_timepoints) or lists of 2-D "
                "(n_channels, n_timepoints_i) arrays"
                + (wide if X.ndim == 2 else "") + "."
            )
        return X.transpose(0, 2, 1)
    if isinstance(X, (str, bytes)) or not hasattr(X, "__len__"):
        raise TypeError(
            f"X must be a 3-D array or a list of 2-D (n_channels, "
            f"n_timepoints_i) arrays, got {type(X).__name__}."
        )
    if len(X) == 0:
        raise ValueError(
            "X is empty: it must hold at least one series, as a 3-D array or "
            "a list of 2-D (n_channels, n_timepoints_i) arrays."
        )
    series = []
    for i, x in enumerate(X):
        x = np.asarray(x)
        if x.ndim != 2:
            raise ValueError(
                f"Series {i} of X has {x.ndim} dimensions; each series of an aeon "
                "or sktime collection is 2-D (n_channels, n_timepoints_i)."
            )
        series.append(x.T)
    return series


def _from_pandas(X, layout):
    """sktime's pandas layouts as a list of ``(T_i, n_channels)`` arrays."""
    if layout == "pd-multiindex":
        # the instances in the order they first appear, their steps as given
        return [group.to_numpy() for _, group in X.groupby(level=0, sort=False)]
    series = []
    for i, row in enumerate(X.itertuples(index=False)):
        channels = [np.asarray(cell).ravel() for cell in row]
        if len({len(c) for c in channels}) > 1:
            raise ValueError(
                f"Row {i} of X holds channels of different lengths "
                f"{[len(c) for c in channels]}; the channels of one series "
                "must have one length."
            )
        series.append(np.column_stack(channels))
    return series
