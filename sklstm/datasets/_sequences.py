"""Generated sequence tasks: echo, running parity, noisy sine."""

from numbers import Integral, Real

import numpy as np
from sklearn.utils import check_random_state

from .._compat import Interval, validate_params


@validate_params(
    {
        "n_steps": [Interval(Integral, 1, None, closed="left")],
        "echo_step": [Interval(Integral, 0, None, closed="left")],
        "random_state": ["random_state"],
    },
    prefer_skip_nested_validation=True,
)
def make_echo(n_steps=50_000, *, echo_step=3, random_state=None):
    """A random binary stream and its echo, ``echo_step`` steps later.

    The target at step t is the input at step ``t - echo_step`` (0 for the
    first ``echo_step`` steps): a labelling task whose answer lies in the
    past, learnt from one long stream cut into windows (see
    :class:`~sklstm.SequenceTagger`'s ``bptt``).

    Parameters
    ----------
    n_steps : int, default=50_000
        Length of the stream.
    echo_step : int, default=3
        Delay of the echo.
    random_state : int, RandomState instance or None, default=None
        Seeds the stream.

    Returns
    -------
    X : ndarray of shape (1, n_steps), dtype int64
        The stream, as one sequence.
    y : ndarray of shape (1, n_steps), dtype int64
        The echo.

    Examples
    --------
    >>> from sklstm.datasets import make_echo
    >>> X, y = make_echo(n_steps=8, echo_step=2, random_state=0)
    >>> X
    array([[0, 1, 1, 0, 1, 1, 1, 1]])
    >>> y
    array([[0, 0, 0, 1, 1, 0, 1, 1]])
    """
    X = check_random_state(random_state).randint(0, 2, size=(1, n_steps))
    y = np.zeros_like(X)
    y[:, echo_step:] = X[:, : n_steps - echo_step]
    return X, y


@validate_params(
    {
        "n_samples": [Interval(Integral, 1, None, closed="left")],
        "n_steps": [Interval(Integral, 1, None, closed="left")],
        "random_state": ["random_state"],
    },
    prefer_skip_nested_validation=True,
)
def make_parity(n_samples=1000, n_steps=20, *, random_state=None):
    """Binary strings labelled at every step with the parity of the bits so far.

    The label at step t is 1 when an odd number of the bits up to and
    including t are 1: it depends on every earlier step.

    Parameters
    ----------
    n_samples : int, default=1000
        Number of strings.
    n_steps : int, default=20
        Length of each string.
    random_state : int, RandomState instance or None, default=None
        Seeds the bits.

    Returns
    -------
    X : ndarray of shape (n_samples, n_steps), dtype int64
        The bits.
    y : ndarray of shape (n_samples, n_steps), dtype int64
        The parity of the bits up to each step.

    Examples
    --------
    >>> from sklstm.datasets import make_parity
    >>> X, y = make_parity(n_samples=1, n_steps=6, random_state=0)
    >>> X, y
    (array([[0, 1, 1, 0, 1, 1]]), array([[0, 1, 0, 0, 1, 0]]))
    """
    X = check_random_state(random_state).randint(0, 2, size=(n_samples, n_steps))
    return X, np.cumsum(X, axis=1) % 2


@validate_params(
    {
        "n_samples": [Interval(Integral, 1, None, closed="left")],
        "window": [Interval(Integral, 1, None, closed="left")],
        "noise": [Interval(Real, 0, None, closed="left")],
        "random_state": ["random_state"],
    },
    prefer_skip_nested_validation=True,
)
def make_sine(n_samples=1000, window=20, *, noise=0.05, random_state=None):
    """Windows of a noisy sine wave; the target is the next (noise-free) value.

    Each window starts at a random phase with a random period between 10 and
    30 steps; noise is Gaussian with standard deviation ``noise``.

    Parameters
    ----------
    n_samples : int, default=1000
        Number of windows.
    window : int, default=20
        Steps per window.
    noise : float, default=0.05
        Standard deviation of the noise added to the inputs.
    random_state : int, RandomState instance or None, default=None
        Seeds phases, periods and noise.

    Returns
    -------
    X : ndarray of shape (n_samples, window), dtype float64
        The noisy windows.
    y : ndarray of shape (n_samples,), dtype float64
        The noise-free value after each window.

    Examples
    --------
    >>> from sklstm.datasets import make_sine
    >>> X, y = make_sine(n_samples=3, window=5, random_state=0)
    >>> X.shape, y.shape
    ((3, 5), (3,))
    """
    rng = check_random_state(random_state)
    phase = rng.uniform(0, 2 * np.pi, size=(n_samples, 1))
    period = rng.uniform(10, 30, size=(n_samples, 1))
    t = np.arange(window + 1)
    wave = np.sin(phase + 2 * np.pi * t / period)
    X = wave[:, :window] + noise * rng.normal(size=(n_samples, window))
    return X, wave[:, window]
