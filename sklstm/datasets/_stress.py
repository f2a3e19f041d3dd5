"""Synthetic stress sets: each probes one way in which a sequence model's
defaults can fail on data they were not chosen on.

- :func:`make_few_shot`: many classes with one to three series each;
- :func:`make_ragged_lengths`: lengths that vary tenfold within one set;
- :func:`make_bump_position`: a regression target that is the *position* of
  a bump, which pooling over time throws away;
- :func:`make_band_spectra`: regression on smooth spectra, linear in the
  heights of two bands at fixed places;
- :func:`make_scatter_spectra`: regression on mixture spectra under
  multiplicative scatter, which no linear model on the raw values undoes;
- :func:`make_hidden_pattern`: a short pattern anywhere in a long series;
- :func:`make_informative_channel`: one informative channel among many.

Every generator draws from its own ``random_state`` only, so a set is the
same wherever it is made.
"""

from numbers import Integral, Real

import numpy as np
from sklearn.utils import check_random_state

from .._compat import Interval, validate_params


def _constraints(**lowest):
    """The parameter constraints of a generator: the counts named, each at
    least its given value, and the shared ``noise`` and ``random_state``."""
    return {
        **{
            name: [Interval(Integral, low, None, closed="left")]
            for name, low in lowest.items()
        },
        "noise": [Interval(Real, 0, None, closed="left")],
        "random_state": ["random_state"],
    }


def _gaussian_bands(t, centres, widths):
    """``(n_bands, len(t))`` Gaussian bands at ``centres`` of ``widths``."""
    return np.exp(-(((t[None] - centres[:, None]) / widths[:, None]) ** 2))


def _smooth_shapes(rng, n_shapes, n_steps, n_waves=4):
    """``n_shapes`` smooth random curves of ``n_steps`` steps (sums of a few
    sines of random frequency and phase), each of unit standard deviation."""
    t = np.linspace(0, 1, n_steps)[None, None, :]
    freq = rng.uniform(0.5, 6, size=(n_shapes, n_waves, 1))
    phase = rng.uniform(0, 2 * np.pi, size=(n_shapes, n_waves, 1))
    amp = rng.normal(size=(n_shapes, n_waves, 1))
    curves = (amp * np.sin(2 * np.pi * freq * t + phase)).sum(axis=1)
    curves -= curves.mean(axis=1, keepdims=True)
    return curves / curves.std(axis=1, keepdims=True).clip(min=1e-12)


def _warp(rng, curve, n_steps, max_shift):
    """``curve`` resampled at ``n_steps`` points, shifted in time by up to
    ``max_shift`` of its length and stretched by up to 10%."""
    source = np.linspace(0, 1, len(curve))
    start = rng.uniform(-max_shift, max_shift)
    stretch = rng.uniform(0.9, 1.1)
    points = np.clip(start + stretch * np.linspace(0, 1, n_steps), 0, 1)
    return np.interp(points, source, curve)


@validate_params(
    _constraints(n_classes=2, n_per_class=1, n_steps=2),
    prefer_skip_nested_validation=True,
)
def make_few_shot(n_classes=30, n_per_class=2, n_steps=500, *, noise=0.3,
                  random_state=None):
    """Many classes, few series per class: each a warped, noisy copy of its
    class's smooth prototype.

    Probes training from two or three examples per class, as in archive sets
    with dozens of classes and long series (a default that needs many
    examples per class loses to a nearest neighbour there).

    Parameters
    ----------
    n_classes : int, default=30
        Number of classes, each a smooth shape of its own.
    n_per_class : int, default=2
        Series of each class.
    n_steps : int, default=500
        Steps of every series.
    noise : float, default=0.3
        Standard deviation of the Gaussian noise added to every step (the
        prototypes have unit standard deviation).
    random_state : int, RandomState instance or None, default=None
        Seeds the draw; an int gives the same set every time.

    Returns
    -------
    X : ndarray of shape (n_classes * n_per_class, n_steps)
        The series, each a warped, noisy copy of its class's prototype.
    y : ndarray of shape (n_classes * n_per_class,), dtype int64
        Class of each series, in shuffled order.

    Examples
    --------
    >>> from sklstm.datasets import make_few_shot
    >>> X, y = make_few_shot(n_classes=5, n_per_class=3, n_steps=50, random_state=0)
    >>> X.shape, sorted(set(y.tolist())), int((y == 0).sum())
    ((15, 50), [0, 1, 2, 3, 4], 3)
    """
    rng = check_random_state(random_state)
    prototypes = _smooth_shapes(rng, n_classes, n_steps)
    y = rng.permutation(np.repeat(np.arange(n_classes), n_per_class))
    X = np.stack([_warp(rng, prototypes[c], n_steps, 0.05) for c in y])
    return X + noise * rng.normal(size=X.shape), y.astype(np.int64)


@validate_params(
    _constraints(n_samples=1, n_classes=2, min_length=2, max_length=2),
    prefer_skip_nested_validation=True,
)
def make_ragged_lengths(n_samples=200, n_classes=5, min_length=30, max_length=300,
                        *, noise=0.2, random_state=None):
    """Series whose lengths vary tenfold: each class a shape, recorded over
    a random number of steps.

    A class's series all trace its prototype from start to end, sampled at
    their own length (drawn log-uniformly between ``min_length`` and
    ``max_length``), as recordings of one gesture at different speeds. A
    front-end sized for one length reads the short members of the set at a
    coarser scale than the long ones.

    Parameters
    ----------
    n_samples : int, default=200
        Number of series.
    n_classes : int, default=5
        Number of classes, each a smooth shape of its own.
    min_length, max_length : int, default=30, 300
        Bounds of the series' lengths, both included.
    noise : float, default=0.2
        Standard deviation of the Gaussian noise on every step.
    random_state : int, RandomState instance or None, default=None
        Seeds the draw; an int gives the same set every time.

    Returns
    -------
    X : list of ndarray of shape (length_i,)
        The series, each of its own length.
    y : ndarray of shape (n_samples,), dtype int64
        Class of each series: the shape it traces.

    Examples
    --------
    >>> from sklstm.datasets import make_ragged_lengths
    >>> X, y = make_ragged_lengths(n_samples=40, random_state=0)
    >>> len(X), min(map(len, X)) >= 30, max(map(len, X)) <= 300
    (40, True, True)
    """
    if min_length > max_length:
        raise ValueError(
            f"min_length={min_length} is above max_length={max_length}; "
            "swap them."
        )
    rng = check_random_state(random_state)
    prototypes = _smooth_shapes(rng, n_classes, 400)
    y = rng.randint(n_classes, size=n_samples)
    lengths = np.exp(rng.uniform(np.log(min_length), np.log(max_length + 1), n_samples))
    lengths = np.clip(lengths.astype(int), min_length, max_length)
    X = [
        _warp(rng, prototypes[c], n, 0.03) + noise * rng.normal(size=n)
        for c, n in zip(y, lengths)
    ]
    return X, y.astype(np.int64)


@validate_params(
    _constraints(n_samples=1, n_steps=10),
    prefer_skip_nested_validation=True,
)
def make_bump_position(n_samples=300, n_steps=100, *, noise=0.1, random_state=None):
    """Regression on where a bump sits: the target is its centre's position.

    Each series is noise with one Gaussian bump of random height and width;
    the target is the bump's centre as a fraction of the series, in
    ``[0.1, 0.9]``. A readout that pools over time (mean, max) keeps what
    the series hold but not where: a linear model on the raw values keeps
    the position.

    Parameters
    ----------
    n_samples : int, default=300
        Number of series.
    n_steps : int, default=100
        Steps of every series.
    noise : float, default=0.1
        Standard deviation of the Gaussian noise on every step.
    random_state : int, RandomState instance or None, default=None
        Seeds the draw; an int gives the same set every time.

    Returns
    -------
    X : ndarray of shape (n_samples, n_steps)
        The series, each with one bump.
    y : ndarray of shape (n_samples,)
        The bump's centre, as a fraction of ``n_steps``.

    Examples
    --------
    >>> import numpy as np
    >>> from sklstm.datasets import make_bump_position
    >>> X, y = make_bump_position(n_samples=3, n_steps=50, noise=0.0, random_state=0)
    >>> np.round(y * 50).astype(int), X.argmax(axis=1)
    (array([27, 34, 29]), array([27, 34, 29]))
    """
    rng = check_random_state(random_state)
    y = rng.uniform(0.1, 0.9, size=n_samples)
    height = rng.uniform(1, 3, size=(n_samples, 1))
    width = rng.uniform(0.02, 0.06, size=(n_samples, 1))
    t = np.arange(n_steps)[None, :] / n_steps
    X = height * np.exp(-0.5 * ((t - y[:, None]) / width) ** 2)
    return X + noise * rng.normal(size=X.shape), y


@validate_params(
    _constraints(n_samples=1, n_steps=10, n_bands=5),
    prefer_skip_nested_validation=True,
)
def make_band_spectra(n_samples=300, n_steps=100, n_bands=6, *, noise=0.01,
                      random_state=None):
    """Regression on smooth spectra: the target is a linear function of the
    heights of two bands at fixed places, under a varying baseline.

    Each series is a sum of ``n_bands`` Gaussian bands at fixed centres and
    widths (the same for every series; random heights), plus a baseline
    offset and slope of its own, plus noise. The target is ``10 * h2 - 5 *
    h4`` (the heights of the third and fifth bands) plus noise of standard
    deviation 0.1, as chemometric targets (a fat or moisture content) are
    linear in the absorbance at a few wavelengths. A linear model on the
    raw values finds it; a readout that pools over time (mean, max) mixes
    the bands.

    Parameters
    ----------
    n_samples : int, default=300
        Number of series.
    n_steps : int, default=100
        Steps of every series (points of the spectrum).
    n_bands : int, default=6
        At least 5 (the target reads the third and fifth).
    noise : float, default=0.01
        Standard deviation of the Gaussian noise on every step.
    random_state : int, RandomState instance or None, default=None
        Seeds the draw; an int gives the same set every time.

    Returns
    -------
    X : ndarray of shape (n_samples, n_steps)
        The spectra.
    y : ndarray of shape (n_samples,)
        The target, ``10 * h2 - 5 * h4`` plus noise.

    Examples
    --------
    >>> from sklstm.datasets import make_band_spectra
    >>> X, y = make_band_spectra(n_samples=4, random_state=0)
    >>> X.shape, y.shape
    ((4, 100), (4,))
    """
    rng = check_random_state(random_state)
    t = np.linspace(0, 1, n_steps)
    centres = rng.uniform(0.1, 0.9, n_bands)
    widths = rng.uniform(0.03, 0.1, n_bands)
    heights = rng.lognormal(0, 0.5, (n_samples, n_bands))
    bands = _gaussian_bands(t, centres, widths)
    X = heights @ bands
    X += 0.5 * rng.normal(size=(n_samples, 1)) + rng.normal(size=(n_samples, 1)) * t
    X += noise * rng.normal(size=X.shape)
    y = 10 * heights[:, 2] - 5 * heights[:, 4] + 0.1 * rng.normal(size=n_samples)
    return X, y


@validate_params(
    {
        **_constraints(n_samples=1, n_steps=10),
        "scatter": [Interval(Real, 0, None, closed="left")],
    },
    prefer_skip_nested_validation=True,
)
def make_scatter_spectra(n_samples=300, n_steps=100, *, scatter=0.25, noise=0.002,
                         random_state=None):
    """Regression on mixture spectra under multiplicative scatter: the
    target is one component's concentration.

    Each series is the absorbance spectrum of a mixture of three components
    (Beer-Lambert: the concentrations times three fixed, overlapping
    Gaussian bands, the target's the narrowest), as near-infrared spectra
    of meat or grain are. Light scatter then scales each spectrum by a
    factor of its own (log-normal, ``scatter`` its log's standard
    deviation) and adds a baseline offset and slope of its own, plus noise.
    The target, the second component's concentration (2 to 50), is linear
    in the spectrum before the scaling and not after it: a linear model on
    the raw values, which fits the unscaled spectra almost exactly, cannot
    undo a scale that differs from series to series, while features read
    relative to the series itself (its shape, its ratios) can.

    Parameters
    ----------
    n_samples : int, default=300
        Number of series.
    n_steps : int, default=100
        Steps of every series (points of the spectrum).
    scatter : float, default=0.25
        Standard deviation of the log of each series' scale factor (0: no
        scaling, and a linear target).
    noise : float, default=0.002
        Standard deviation of the Gaussian noise on every step.
    random_state : int, RandomState instance or None, default=None
        Seeds the draw; an int gives the same set every time.

    Returns
    -------
    X : ndarray of shape (n_samples, n_steps)
        The spectra, each under its own scatter.
    y : ndarray of shape (n_samples,)
        The second component's concentration.

    Examples
    --------
    >>> from sklstm.datasets import make_scatter_spectra
    >>> X, y = make_scatter_spectra(n_samples=4, random_state=0)
    >>> X.shape, y.shape
    ((4, 100), (4,))
    """
    rng = check_random_state(random_state)
    t = np.linspace(0, 1, n_steps)
    centres, widths = np.array([0.3, 0.5, 0.65]), np.array([0.15, 0.08, 0.2])
    bands = _gaussian_bands(t, centres, widths)
    target = rng.uniform(2, 50, n_samples)
    first = 75 - 0.9 * target + rng.normal(0, 2, n_samples)
    third = 100 - target - first
    absorbance = np.stack([first, target, third], axis=1) / 100 @ bands
    scale = rng.lognormal(0, scatter, (n_samples, 1))
    offset, slope = rng.normal(0, 0.5, (n_samples, 1)), rng.normal(0, 0.5, (n_samples, 1))
    X = offset + scale * (1 + absorbance) + slope * t
    X += noise * rng.normal(size=X.shape)
    return X, target


@validate_params(
    _constraints(n_samples=1, n_steps=2, pattern_length=2, n_classes=2),
    prefer_skip_nested_validation=True,
)
def make_hidden_pattern(n_samples=200, n_steps=1000, pattern_length=20, n_classes=2,
                        *, noise=0.5, random_state=None):
    """A short discriminative pattern placed anywhere in a long noisy series.

    Every series holds one pattern of ``pattern_length`` steps at a random
    place; its class is which of ``n_classes`` patterns it is. The rest is
    noise: the evidence is a few percent of the steps, and where it is
    changes from series to series.

    Parameters
    ----------
    n_samples : int, default=200
        Number of series.
    n_steps : int, default=1000
        Steps of every series.
    pattern_length : int, default=20
        Steps of the pattern, at most ``n_steps``.
    n_classes : int, default=2
        Number of classes, each a pattern of its own.
    noise : float, default=0.5
        Standard deviation of the Gaussian noise on every step (the
        patterns have a standard deviation of 2).
    random_state : int, RandomState instance or None, default=None
        Seeds the draw; an int gives the same set every time.

    Returns
    -------
    X : ndarray of shape (n_samples, n_steps)
        The series, each noise around one pattern.
    y : ndarray of shape (n_samples,), dtype int64
        Which pattern each series holds.

    Examples
    --------
    >>> from sklstm.datasets import make_hidden_pattern
    >>> X, y = make_hidden_pattern(n_samples=10, n_steps=100, random_state=0)
    >>> X.shape, y.shape
    ((10, 100), (10,))
    """
    if pattern_length > n_steps:
        raise ValueError(
            f"pattern_length={pattern_length} is longer than n_steps={n_steps}."
        )
    rng = check_random_state(random_state)
    patterns = 2 * _smooth_shapes(rng, n_classes, pattern_length, n_waves=2)
    y = rng.randint(n_classes, size=n_samples)
    X = noise * rng.normal(size=(n_samples, n_steps))
    starts = rng.randint(0, n_steps - pattern_length + 1, size=n_samples)
    for i, (c, start) in enumerate(zip(y, starts)):
        X[i, start : start + pattern_length] += patterns[c]
    return X, y.astype(np.int64)


@validate_params(
    _constraints(n_samples=1, n_steps=2, n_channels=1, n_classes=2),
    prefer_skip_nested_validation=True,
)
def make_informative_channel(n_samples=200, n_steps=100, n_channels=20, n_classes=3,
                             *, noise=0.5, random_state=None):
    """Multivariate series with one informative channel among many.

    One channel, chosen at random once per set, carries a warped copy of
    the class's prototype plus noise; the others carry smooth random curves
    of the same scale that say nothing about the class.

    Parameters
    ----------
    n_samples : int, default=200
        Number of series.
    n_steps : int, default=100
        Steps of every series.
    n_channels : int, default=20
        Channels of every series, one of them informative.
    n_classes : int, default=3
        Number of classes, each a smooth shape of its own.
    noise : float, default=0.5
        Standard deviation of the Gaussian noise on every step of every
        channel (the curves have unit standard deviation).
    random_state : int, RandomState instance or None, default=None
        Seeds the draw; an int gives the same set every time.

    Returns
    -------
    X : ndarray of shape (n_samples, n_steps, n_channels)
        The series, time first.
    y : ndarray of shape (n_samples,), dtype int64
        Class of each series.
    informative : int
        The informative channel.

    Examples
    --------
    >>> from sklstm.datasets import make_informative_channel
    >>> X, y, channel = make_informative_channel(n_samples=6, random_state=0)
    >>> X.shape, 0 <= channel < 20
    ((6, 100, 20), True)
    """
    rng = check_random_state(random_state)
    informative = int(rng.randint(n_channels))
    prototypes = _smooth_shapes(rng, n_classes, n_steps)
    y = rng.randint(n_classes, size=n_samples)
    X = _smooth_shapes(rng, n_samples * n_channels, n_steps).reshape(
        n_samples, n_channels, n_steps
    )
    X[:, informative] = [_warp(rng, prototypes[c], n_steps, 0.05) for c in y]
    X = X + noise * rng.normal(size=X.shape)
    return X.transpose(0, 2, 1), y.astype(np.int64), informative
