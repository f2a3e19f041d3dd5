"""The rules that resolve the estimators' ``"auto"`` parameters.

Each is a pure function of the parameter's value and the training data's
shape, so that it can be read, and tested, without fitting anything. The
constants are the rules' settings; the benchmarks page says how they were
chosen.
"""

import numpy as np

# summary_points="auto" (the regressor): the inner search chooses between no
# summary path and one that reads every step of a typical training series, up
# to this many (longer series are resampled)
MAX_SUMMARY_POINTS = 512

# max_epochs="auto": this many epochs, fewer where the fit budget says so
AUTO_EPOCHS = 80

# n_networks="auto": an ensemble of up to this many networks, as many as the
# fit budget leaves room for
ENSEMBLE_SIZE = 5

# conv_layers="auto": strided blocks until sequences are at most this long
CONV_TARGET = 64
# conv_dilations="multiscale": the first block's dilations, powers of this base
MULTISCALE_BASE = 2

# difference_lag="auto": differences (input_differences, and the per-sequence
# copies' slopes) over DIFFERENCE_LAG steps, the lag chosen on the pool's
# series (2026-11-26), or over 1 / DIFFERENCE_SHARE of a typical series
# where that is longer (series of more than 112 steps), so that the lag
# spans the same share of a long series as of a short one. Over a fixed
# few steps, the differences of a long smooth series are its noise: 300
# mixture spectra under scatter (make_scatter_spectra) of 2,000 steps, the
# regressor's RMSE 1.15 to 1.53 over five draws with lag 4, 0.38 to 0.85
# with lag 80 (0.40 and 0.41 on the same series averaged to 400 or 100
# steps, lag 4)
DIFFERENCE_LAG = 4
DIFFERENCE_SHARE = 25

# conv_dilations="auto" ("multiscale" or one plain convolution) and
# input_differences="auto" (0, 1 or 2): whichever scores best in a
# cross-validation of single networks with this many folds, where it fits in
# the fit budget beside one network; the first candidate (plain, 0) elsewhere
SEARCH_FOLDS = 3
# The regressor's search chooses a candidate other than the first (the
# network alone) only where it beats the first beyond the folds' noise: the
# mean of their paired fold-by-fold differences more than this many of its
# standard errors above zero (the benchmarks' rule for ties,
# bench_selection.noise_ranks). Without it, the best of four 3-fold means on
# a few dozen series is often a draw of the folds (CardanoSentiment: the
# path and the copies won inner folds and lost by a fifth outside them).
# The classifier's keeps the best mean (GridSearchCV's choice): with the
# rule, its dilations lost in cross-validation (PickupGestureWiimoteZ 0.739
# to 0.657, one-channel 0.693 to 0.653) and nothing else changed.
REGRESSION_SEARCH_NOISE_SE = 2.0

# the fit budget: a default fit's estimated work (the inner search and every
# network of the ensemble, over all their epochs) is at most FIT_BUDGET work
# units. One unit is one padded input step through the convolutions (of up
# to FRONT_END_FEATURES features; more cost more, by the multiply-adds of
# front_end_cost) or 1 / RECURRENT_STEP_COST of a padded
# step through the default recurrent layers (one layer of 24 units each
# way). Measured on the 2-core development machine with the default network
# (bench_selection.py, 2026-12-02): 0.79 to 1.3 units per microsecond on
# archive-sized sets (the machine's speed varies by 10-30% from one run to
# the next), so that the budget is under a minute of training at the slowest.
FIT_BUDGET = 45_000_000
RECURRENT_STEP_COST = 4
# a recurrent layer reading up to this many inputs costs RECURRENT_STEP_COST
# units a step (the sequential products with its state take the time); a
# wider input costs in proportion (its product, one for all steps, grows).
# Default fits without a front-end (2026-12-02, night; random data): 300
# series of 20 steps and 1,000 channels (2,000 inputs with their
# differences) took 69.0 s at 0.14 units per microsecond, 1,000 of 30 and
# 200 channels 51.7 s at 0.74, against about 1.5 for narrow inputs
RECURRENT_INPUT_WIDTH = 200
# inputs up to this wide cost one unit a step through the front-end
# (front_end_cost), and a wider one the further multiply-adds of its first
# block, FRONT_END_UNIT_MACS to a unit: those of two default blocks at 16
# features (16 * 64 * 7 / 2 + 64 * 64 * 7 / 4). Until 2026-12-02 a wider
# input's whole front-end cost n_features / FRONT_END_FEATURES units a
# step, as if every block read the features: default fits of 267 series
# of 144 steps and 963 channels (1,926 inputs with their differences), 50
# of 270 and 1,345, and 204 of 405 and 61 ran at 3.7 to 4.3 units per
# microsecond (12.8, 11.7 and 10.5 s, 10 to 67 epochs, one network)
# against about 1.5 for narrow inputs. Counting each block's
# multiply-adds relative to the same blocks at 16 features then left one
# block too dear and three too cheap (300 series of 100 steps and 64
# channels, one block: 4.85 units per microsecond, one network in 5.0 s;
# 50 of 270 and 1,345 channels, three blocks: 1.11)
FRONT_END_FEATURES = 16
FRONT_END_UNIT_MACS = 10_752
# a padded step of a ragged set (sequences of different lengths) costs this
# many units: the masks of the real steps (batch normalisation over them,
# the backward direction reversed within each length) make one 1.4 to 1.5
# times as slow as a step of equal-length sequences (2026-12-02: 96 series
# of 1,000 to 2,600 steps, 1 and 6 channels, 0.93 to 0.96 units per
# microsecond against 1.32 to 1.42 for 2,500 steps each). Since the masked
# batch normalisation sums over the padded batch where most of its steps
# are real (2026-12-02, late; the same fits): 1.50 to 1.59 against 1.55 to
# 1.73 (1.22 to 1.34 before, in the same hour), so a ragged step costs 1.45
# to 1.5 of an equal-length one
RAGGED_STEP_COST = 1.4
# max_epochs="auto" never trains fewer epochs than this, whatever the size
MIN_EPOCHS = 10
# search_first (the regressor): where the search at the networks' epochs
# does not fit in the budget beside one network, its fits train fewer
# epochs, as many as SEARCH_SHARE of the budget holds but at least
# MIN_EPOCHS, in proportionally smaller batches (search_batch_size: about
# the optimizer steps of a network of AUTO_EPOCHS epochs, up to
# SEARCH_STEPS), and the network the rest, where that is at least
# MIN_NETWORK_EPOCHS. Without it a long or large set never searched and
# never had the summary path: 200 noisy band spectra of 2,000 steps, RMSE
# 7.2 and 6.9 without the path, 4.2 and 0.41 with it (RidgeCV on the raw
# values 4.1 and 0.45). The long sets measured kept 39 to 47 epochs and
# gained; a larger set would train its network too little to pay for it
# (bench_budget's regression-long, 500 series of 1,000 steps, would have
# kept 11 of its 69; it keeps them, without the search)
SEARCH_SHARE = 0.5
MIN_NETWORK_EPOCHS = 30


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


def difference_lag(difference_lag, typical):
    """``difference_lag``, resolved for ``"auto"`` from the typical training
    length: ``DIFFERENCE_LAG`` steps, or ``1 / DIFFERENCE_SHARE`` of the
    typical series where that is more.

    >>> [difference_lag("auto", typical) for typical in (24, 150, 2000)]
    [4, 6, 80]
    >>> difference_lag(1, 2000)
    1
    """
    if not is_auto(difference_lag):
        return int(difference_lag)
    return int(max(DIFFERENCE_LAG, round(typical / DIFFERENCE_SHARE)))


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


def summary_path_points(typical):
    """The summary path's points that ``summary_points="auto"`` tries: every
    step of a typical training series (see :func:`typical_length`), at most
    ``MAX_SUMMARY_POINTS`` and at least 2. Fewer points than steps would
    interpolate: a ridge regression on 64 points of 100-step spectra has a
    2 to 4% larger error than on the 100 values themselves.

    >>> summary_path_points(100), summary_path_points(5000), summary_path_points(1)
    (100, 512, 2)
    """
    return int(min(max(typical, 2), MAX_SUMMARY_POINTS))


def search_grid(conv_dilations, input_differences, n_conv_layers, multiscale, text,
                summary_points=None, per_sequence_features=None, *, typical):
    """The candidates an inner cross-validation chooses among, for each
    parameter set to ``"auto"`` that has a choice here; the first value is
    the one kept on a tie, and where no search runs. ``typical`` is the
    typical training length (:func:`typical_length`; the summary path's
    points).

    >>> search_grid("auto", "auto", 2, (1, 2, 4), text=False, typical=150)
    {'conv_dilations': [(1,), (1, 2, 4)], 'input_differences': [0, 1, 2]}
    >>> search_grid("auto", 1, 0, (1, 2, 4), text=False, typical=150)
    {}
    """
    grid = {}
    if is_auto(conv_dilations) and n_conv_layers and multiscale != (1,):
        grid["conv_dilations"] = [(1,), multiscale]
    if is_auto(input_differences) and not text:
        grid["input_differences"] = [0, 1, 2]
    if is_auto(summary_points) and not text:
        grid["summary_points"] = [0, summary_path_points(typical)]
    if is_auto(per_sequence_features) and not text:
        grid["per_sequence_features"] = [False, True]
    return grid


def shortened_length(n_steps, n_layers, kernel_size, stride):
    """Steps left of ``n_steps`` after ``n_layers`` strided convolution blocks."""
    pad = kernel_size // 2
    for _ in range(n_layers):
        n_steps = (n_steps + 2 * pad - kernel_size) // stride + 1
    return n_steps


def front_end_cost(n_features, n_conv_layers, *, kernel_size=7, stride=2, channels=64):
    """Work units of one input step through the convolution front-end: 1 for
    up to ``FRONT_END_FEATURES`` features; a wider input adds its first
    block's further multiply-adds (the later blocks read ``channels``, not
    the features), ``FRONT_END_UNIT_MACS`` to a unit.

    >>> front_end_cost(1, 3), front_end_cost(16, 1), front_end_cost(64, 2)
    (1.0, 1.0, 2.0)
    >>> round(front_end_cost(1926, 2), 1)  # 963 channels and their differences
    40.8
    """
    if not n_conv_layers:
        return 0.0
    extra = max(0, n_features - FRONT_END_FEATURES) * channels * kernel_size / stride
    return 1.0 + extra / FRONT_END_UNIT_MACS


def epoch_work(n_series, padded_length, *, n_features=1, n_conv_layers=0,
               kernel_size=7, stride=2, num_hidden=24, num_layers=1,
               bidirectional=True, ragged=False, conv_channels=64):
    """Estimated work units of one epoch of one network (see ``FIT_BUDGET``):
    ``n_series`` sequences padded to ``padded_length`` steps, of different
    lengths where ``ragged`` (``RAGGED_STEP_COST``).

    >>> epoch_work(100, 40)  # no front-end: the recurrent layers read all steps
    16000
    >>> epoch_work(100, 400, n_conv_layers=3)  # the front-end, then 50 steps
    60000
    >>> epoch_work(100, 400, n_conv_layers=3, ragged=True)
    84000
    """
    recurrent = shortened_length(padded_length, n_conv_layers, kernel_size, stride)
    # the recurrent layers' cost grows with their size as their weights do,
    # and the first layer's with an input wider than RECURRENT_INPUT_WIDTH
    # (the features, or the front-end's channels)
    width = conv_channels if n_conv_layers else n_features
    layers = num_layers - 1 + max(1.0, width / RECURRENT_INPUT_WIDTH)
    size = layers * (2 if bidirectional else 1) / 2 * (num_hidden / 24) ** 2
    front = padded_length * front_end_cost(
        n_features, n_conv_layers, kernel_size=kernel_size, stride=stride,
        channels=conv_channels,
    )
    per_step = RAGGED_STEP_COST if ragged else 1.0
    return int(round(n_series * per_step * (front + RECURRENT_STEP_COST * size * recurrent)))


def fit_plan(max_epochs, n_networks, n_candidates, work, *, n_series, partial=False,
             search_first=False):
    """How much a fit trains, within the budget, for the parameters that
    are ``"auto"``.

    Parameters
    ----------
    max_epochs, n_networks : int or "auto"
    n_candidates : int
        Candidates of the inner search (0 for none).
    work : int
        Work units of one epoch of one network (:func:`epoch_work`).
    n_series : int
        Training sequences (the search needs ``2 * SEARCH_FOLDS``).
    partial : bool
        ``partial_fit``: one network, no search.
    search_first : bool
        Where the budget cannot hold both the search and the whole
        ensemble, run the search and train the networks that the rest of
        the budget holds (the regressor: its candidates, a summary path and
        per-sequence copies, change the error several-fold where they
        matter, while its ensembles gain little), instead of the other way
        round (the classifier).

    Returns
    -------
    plan : dict
        ``epochs``, ``n_networks``, ``search`` (whether the inner search
        runs), ``search_epochs`` (the epochs of each of its fits; 0 without
        it), ``work`` (the estimated work of the whole fit) and
        ``budget``: ``max_epochs="auto"`` trains ``AUTO_EPOCHS`` epochs, or
        as many as one network can within the budget (at least
        ``MIN_EPOCHS``); ``n_networks="auto"`` trains up to
        ``ENSEMBLE_SIZE`` networks, as many as the budget holds; the search
        runs when it fits in the budget beside them. The ensemble comes
        first (unless ``search_first``): on OSULeaf, 5 networks without the
        search scored 0.930 and the search with the one network left beside
        it 0.901. With ``search_first`` and ``max_epochs="auto"``, a search
        that does not fit beside one network trains fewer epochs (as many
        as ``SEARCH_SHARE`` of the budget holds, at least ``MIN_EPOCHS``)
        and the network the rest, where that is at least
        ``MIN_NETWORK_EPOCHS``.

    Examples
    --------
    >>> plan = fit_plan("auto", "auto", 2, 20_000, n_series=100)
    >>> plan["epochs"], plan["n_networks"], plan["search"]
    (80, 5, True)
    >>> plan = fit_plan("auto", "auto", 2, 100_000, n_series=200)
    >>> plan["epochs"], plan["n_networks"], plan["search"]
    (80, 5, False)
    >>> fit_plan("auto", "auto", 2, 200_000, n_series=200)["n_networks"]
    2
    >>> fit_plan("auto", "auto", 0, 1_000_000, n_series=500)["epochs"]
    45
    >>> plan = fit_plan("auto", "auto", 4, 60_000, n_series=200, search_first=True)
    >>> plan["n_networks"], plan["search"]
    (1, True)

    Longer series: the search's fits train fewer epochs than the network.

    >>> plan = fit_plan("auto", "auto", 3, 300_000, n_series=200, search_first=True)
    >>> plan["search"], plan["search_epochs"], plan["epochs"], plan["n_networks"]
    (True, 12, 78, 1)
    >>> plan = fit_plan("auto", "auto", 3, 450_000, n_series=200, search_first=True)
    >>> plan["search"], plan["search_epochs"], plan["epochs"], plan["n_networks"]
    (True, 10, 40, 1)
    >>> fit_plan("auto", "auto", 3, 650_000, n_series=500, search_first=True)["search"]
    False
    """
    epochs = max_epochs
    if is_auto(max_epochs):
        epochs = max(MIN_EPOCHS, min(AUTO_EPOCHS, FIT_BUDGET // max(work, 1)))
    one_network = epochs * work
    networks = n_networks
    if is_auto(n_networks):
        room = FIT_BUDGET // max(one_network, 1)
        networks = 1 if partial else int(max(1, min(ENSEMBLE_SIZE, room)))
    # each candidate: SEARCH_FOLDS fits on (SEARCH_FOLDS - 1) / SEARCH_FOLDS of the data
    search_epoch = n_candidates * (SEARCH_FOLDS - 1) * work
    search_epochs = epochs
    searchable = n_candidates > 0 and not partial and n_series >= 2 * SEARCH_FOLDS
    if (searchable and search_first and is_auto(max_epochs)
            and (search_epoch + work) * epochs > FIT_BUDGET):
        # shorter fits for the search, the rest for the network
        short = max(MIN_EPOCHS, int(SEARCH_SHARE * FIT_BUDGET // max(search_epoch, 1)))
        rest = (FIT_BUDGET - short * search_epoch) // max(work, 1)
        if rest >= MIN_NETWORK_EPOCHS:
            search_epochs, epochs = int(min(short, epochs)), int(min(epochs, rest))
            one_network = epochs * work
    search_work = search_epochs * search_epoch
    if searchable and search_first and is_auto(n_networks):
        # the networks that fit beside the search, where at least one does
        beside = (FIT_BUDGET - search_work) // max(one_network, 1)
        if beside >= 1:
            networks = int(min(networks, beside))
    search = searchable and search_work + networks * one_network <= FIT_BUDGET
    spent = search_work if search else 0
    return {
        "epochs": int(epochs),
        "n_networks": int(networks),
        "search": bool(search),
        "search_epochs": int(search_epochs) if search else 0,
        "work": int(spent + networks * one_network),
        "budget": FIT_BUDGET,
    }


# the search's shortened fits take smaller batches only until they make
# this many optimizer steps: those of an 80-epoch network on 200 series in
# batches of 64 (the pool's regression sets, whose searches decided well).
# Beyond it steps are plenty, and smaller batches only add each step's
# overhead: bit counting's 10,000 strings of 20 steps in batches of 8 made
# its default fit take 103 s instead of 21 s
SEARCH_STEPS = 320


def search_batch_size(batch_size, search_epochs, epochs, n_series):
    """The batch size of the search's fits on ``n_series`` sequences:
    smaller where they train fewer epochs than ``epochs`` (the caller's:
    ``AUTO_EPOCHS``), in proportion, so that they take about as many
    optimizer steps, but no smaller than makes ``SEARCH_STEPS`` steps. Ten
    epochs in batches of 64 are 30 steps on a fold of 133 series, too few
    for a network to learn where a bump sits (R^2 -0.06 against 0.998 in
    batches of 8, 133 series of 2,000 steps): a search judging such fits
    chose a summary path that left the final network 16 times the error.

    >>> search_batch_size(64, 80, 80, 133), search_batch_size(64, 10, 80, 133)
    (64, 8)
    >>> search_batch_size(64, 10, 80, 6667)  # 1,050 steps in batches of 64
    64
    >>> search_batch_size(4, 10, 80, 133)  # never larger than batch_size
    4
    """
    if search_epochs >= epochs:
        return batch_size
    proportional = round(batch_size * search_epochs / epochs)
    enough = -(-n_series * search_epochs // SEARCH_STEPS)  # SEARCH_STEPS steps
    return int(min(batch_size, max(2, proportional, enough)))


# crop_fraction="auto": training reads random windows of at least
# CROP_FRACTION of each sequence where the median class has at most
# FEW_PER_CLASS training sequences (the few-shot case, in which networks
# memorise their training series), whole sequences elsewhere
CROP_FRACTION = 0.7
FEW_PER_CLASS = 3


def crop_fraction(crop_fraction, y):
    """``crop_fraction``, resolved for ``"auto"`` from the encoded labels
    ``y``: ``CROP_FRACTION`` where the median class has at most
    ``FEW_PER_CLASS`` sequences, else 1 (whole sequences).

    >>> crop_fraction("auto", [0, 0, 1, 1, 2, 2]), crop_fraction("auto", [0] * 4 + [1] * 4)
    (0.7, 1.0)
    >>> crop_fraction(0.5, [0, 1])
    0.5
    """
    if not is_auto(crop_fraction):
        return float(crop_fraction)
    counts = np.bincount(np.asarray(y, dtype=int))
    few = np.median(counts[counts > 0]) <= FEW_PER_CLASS
    return CROP_FRACTION if few else 1.0


def describe_plan(plan, crop_fraction=None):
    """The fit plan (and the training windows, where the estimator has
    them) in one line, as a verbose fit prints it.

    >>> plan = fit_plan("auto", "auto", 2, 20_000, n_series=100)
    >>> print(describe_plan(plan, crop_fraction=0.7))
    80 epochs, 5 networks, inner search: yes, training windows: at least 0.7 of
    each series; estimated work 14.4 M units of the 45.0 M budget
    >>> print(describe_plan(fit_plan("auto", "auto", 3, 450_000, n_series=200,
    ...                              search_first=True)))
    40 epochs, 1 network, inner search: yes (10 epochs a fit); estimated work 45.0 M
    units of the 45.0 M budget
    """
    parts = [
        f"{plan['epochs']} epochs",
        f"{plan['n_networks']} network{'s' if plan['n_networks'] > 1 else ''}",
        f"inner search: {'yes' if plan['search'] else 'no'}",
    ]
    if plan["search"] and plan["search_epochs"] != plan["epochs"]:
        parts[-1] += f" ({plan['search_epochs']} epochs a fit)"
    if crop_fraction is not None:
        parts.append(
            "training windows: whole series" if crop_fraction >= 1
            else f"training windows: at least {crop_fraction:g} of each series"
        )
    return (f"{', '.join(parts)}; estimated work {plan['work'] / 1e6:.1f} M units "
            f"of the {plan['budget'] / 1e6:.1f} M budget")
