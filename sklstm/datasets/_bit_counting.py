"""The bit-counting task: how many ones does a binary string hold?"""

from numbers import Integral

import numpy as np
from sklearn.utils import check_random_state

from .._compat import Interval, validate_params


@validate_params(
    {
        "n_bits": [Interval(Integral, 1, 30, closed="both")],
        "n_samples": [Interval(Integral, 1, None, closed="left"), None],
        "three_d": ["boolean"],
        "random_state": ["random_state"],
    },
    prefer_skip_nested_validation=True,
)
def make_bit_counting(n_bits=20, *, n_samples=None, three_d=False, random_state=None):
    """Binary strings labelled with their number of ones.

    The classic LSTM tutorial task: all ``2**n_bits`` strings of ``n_bits``
    bits, shuffled, each labelled with how many of its bits are 1 (so
    ``n_bits + 1`` classes).

    Parameters
    ----------
    n_bits : int, default=20
        Length of each string (at most 30).
    n_samples : int or None, default=None
        If None, all ``2**n_bits`` strings, each once. Otherwise a random
        sample of this many distinct strings (at most ``2**n_bits``).
    three_d : bool, default=False
        If True, X is shaped ``(n, n_bits, 1)``, the tutorial's
        ``[[0], [1], ...]`` layout.
    random_state : int, RandomState instance or None, default=None
        Seeds the shuffling (or sampling).

    Returns
    -------
    X : ndarray of shape (n, n_bits) or (n, n_bits, 1), dtype int8
        The strings, most significant bit first.
    y : ndarray of shape (n,), dtype int64
        The number of ones in each string.

    Examples
    --------
    >>> from sklstm.datasets import make_bit_counting
    >>> X, y = make_bit_counting(n_bits=4, random_state=0)
    >>> X.shape, y.shape
    ((16, 4), (16,))
    >>> X[0].tolist(), int(y[0])
    ([0, 0, 0, 1], 1)
    """
    total = 2**n_bits
    rng = check_random_state(random_state)
    if n_samples is None:
        codes = rng.permutation(total)
    elif n_samples > total:
        raise ValueError(
            f"n_samples={n_samples} is more than the {total} distinct strings of "
            f"{n_bits} bits; use n_samples=None for all of them."
        )
    else:
        codes = rng.choice(total, size=n_samples, replace=False)
    shifts = np.arange(n_bits - 1, -1, -1)
    X = ((codes[:, None] >> shifts) & 1).astype(np.int8)
    y = X.sum(axis=1, dtype=np.int64)
    if three_d:
        X = X[:, :, None]
    return X, y
