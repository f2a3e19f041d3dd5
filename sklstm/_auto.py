"""The rules that resolve the estimators' ``"auto"`` parameters.

Each is a pure function of the parameter's value and the training data's
shape, so that it can be read, and tested, without fitting anything. The
constants are the rules' settings; the benchmarks page says how they were
chosen.
"""

import numpy as np

# max_epochs="auto": this many epochs, more on small data sets so that training
# makes at least AUTO_MIN_STEPS gradient steps
AUTO_EPOCHS = 80
AUTO_MIN_STEPS = 500

# n_networks="auto": an ensemble of this many networks for training sets of at
# most ENSEMBLE_MAX_SAMPLES sequences and ENSEMBLE_MAX_STEPS time steps in all
# (about a minute of training on a 2-core CPU), one network for larger ones
ENSEMBLE_SIZE = 5
ENSEMBLE_MAX_SAMPLES = 1000
ENSEMBLE_MAX_STEPS = 100_000

# conv_layers="auto": strided blocks until sequences are at most this long
CONV_TARGET = 64
# conv_dilations="multiscale": the first block's dilations, powers of this base
MULTISCALE_BASE = 2

# conv_dilations="auto" ("multiscale" or one plain convolution) and
# input_differences="auto" (0 or 1): whichever scores best in a
# cross-validation of single networks with this many folds, for training
# sets of at most SEARCH_MAX_STEPS time steps in all (the search adds about
# one fit's time per two candidates); the first candidate (plain, 0) for
# larger ones
SEARCH_FOLDS = 3
SEARCH_MAX_STEPS = 50_000


def is_auto(value):
    """Whether a parameter's value is the string ``"auto"``."""
    return isinstance(value, str) and value == "auto"


def typical_length(n_steps, lengths=None):
    """The length the front-end is sized for: the median training length
    (the longest of a ragged set would cut its short sequences to a few
    steps), or ``n_steps`` when all sequences have it.

    >>> typical_length(100, [10, 20, 100])
    20
    """
    if lengths is None:
        return int(n_steps)
    return int(np.ceil(np.median(np.asarray(lengths))))


def n_epochs(max_epochs, n_batches):
    """``max_epochs``, resolved for ``"auto"`` from the batches per epoch.

    >>> n_epochs("auto", 100), n_epochs("auto", 2), n_epochs(7, 2)
    (80, 250, 7)
    """
    if not is_auto(max_epochs):
        return max_epochs
    return max(AUTO_EPOCHS, -(-AUTO_MIN_STEPS // n_batches))


def n_conv_layers(conv_layers, typical, kernel_size, stride, text=False):
    """``conv_layers``, resolved for ``"auto"``: strided blocks until the
    typical sequence is at most ``CONV_TARGET`` steps long; none for token
    ids or without a stride.

    >>> n_conv_layers("auto", 150, 7, 2), n_conv_layers("auto", 40, 7, 2)
    (2, 0)
    """
    if not is_auto(conv_layers):
        return conv_layers
    n_steps, n_layers = typical, 0
    pad = kernel_size // 2
    while not text and stride > 1 and n_steps > CONV_TARGET:
        n_steps = (n_steps + 2 * pad - kernel_size) // stride + 1
        n_layers += 1
    return n_layers


def multiscale_dilations(typical, kernel_size, channels):
    """``conv_dilations="multiscale"``: 1, 2, 4, ... as long as a dilated
    kernel spans at most the typical sequence (as MiniRocket chooses its
    dilations), and at most one per channel.

    >>> multiscale_dilations(150, 7, 64)
    (1, 2, 4, 8, 16)
    """
    spread = kernel_size - 1
    dilations = [1]
    while (
        len(dilations) < channels
        and dilations[-1] * MULTISCALE_BASE * spread + 1 <= typical
    ):
        dilations.append(dilations[-1] * MULTISCALE_BASE)
    return tuple(dilations)


def first_block_dilations(conv_dilations, typical, kernel_size, channels):
    """``conv_dilations``, checked, or resolved for ``"multiscale"``;
    ``"auto"`` gives one plain convolution until the inner search chooses."""
    if isinstance(conv_dilations, str):
        if conv_dilations == "multiscale":
            return multiscale_dilations(typical, kernel_size, channels)
        return (1,)
    dilations = np.asarray(conv_dilations)
    if (
        dilations.ndim != 1
        or not 1 <= len(dilations) <= channels
        or dilations.dtype.kind not in "iu"
        or np.any(dilations < 1)
    ):
        raise ValueError(
            "conv_dilations must be 'multiscale', 'auto' (one output per "
            f"sequence) or a list of 1 to conv_channels={channels} positive "
            "integers (one convolution per dilation in the first block), got "
            f"{conv_dilations!r}."
        )
    return tuple(int(d) for d in dilations)


def n_networks(n_networks, n_samples, n_steps, partial=False):
    """``n_networks``, resolved for ``"auto"``: ``ENSEMBLE_SIZE`` networks
    for small training sets, one for large ones and in ``partial_fit``
    (which sees one chunk of data of unknown total size).

    >>> n_networks("auto", 100, 5_000), n_networks("auto", 5_000, 50_000)
    (5, 1)
    """
    if not is_auto(n_networks):
        return n_networks
    small = n_samples <= ENSEMBLE_MAX_SAMPLES and n_steps <= ENSEMBLE_MAX_STEPS
    return ENSEMBLE_SIZE if small and not partial else 1


def search_grid(conv_dilations, input_differences, n_conv_layers, multiscale, text):
    """The candidates an inner cross-validation chooses among, for each
    parameter set to ``"auto"`` that has a choice here; the first value is
    the one kept on a tie, and where no search runs.

    >>> search_grid("auto", "auto", 2, (1, 2, 4), text=False)
    {'conv_dilations': [(1,), (1, 2, 4)], 'input_differences': [0, 1]}
    >>> search_grid("auto", 1, 0, (1, 2, 4), text=False)
    {}
    """
    grid = {}
    if is_auto(conv_dilations) and n_conv_layers and multiscale != (1,):
        grid["conv_dilations"] = [(1,), multiscale]
    if is_auto(input_differences) and not text:
        grid["input_differences"] = [0, 1]
    return grid


def search_runs(grid, n_samples, n_steps, partial=False):
    """Whether the inner search runs: there is a choice, the training set
    is small enough (``SEARCH_MAX_STEPS``) and large enough for
    ``SEARCH_FOLDS`` folds of two sequences, and this is not ``partial_fit``.

    >>> search_runs({"input_differences": [0, 1]}, 30, 3_000)
    True
    >>> search_runs({"input_differences": [0, 1]}, 30, 60_000)
    False
    """
    return bool(grid) and not partial and n_steps <= SEARCH_MAX_STEPS and (
        n_samples >= 2 * SEARCH_FOLDS
    )
