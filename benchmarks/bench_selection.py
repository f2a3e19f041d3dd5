"""Choosing defaults that generalise: leave-one-dataset-out over a pool of sets.

The pool is every classification and regression set that aeon bundles (no
download) plus synthetic stress sets from :mod:`sklstm.datasets`, each made to
probe one failure mode. Run alone (no other torch process on the machine)::

    .venv/bin/python benchmarks/bench_selection.py \\
        --candidates '{"defaults": {}, "no search": {"conv_dilations": [1]}}'

1. **Selection scores.** Each candidate setting (sklstm parameters, as JSON)
   is cross-validated on the *training* split of every set of the pool
   (``--cv`` folds; no test data is read). With ``--seeds N`` each fold's
   score is the mean of N fits (``random_state`` 0 to N - 1): on small
   sets the networks' starting weights move a fold by a series or two.
2. **Leave one data set out.** For each set, the candidate with the best
   mean rank over the *other* sets is chosen, and its score on the left-out
   set is reported: how a setting chosen this way does on a set that took
   no part in choosing it. On each set, two candidates tie unless their
   paired fold-by-fold differences say one is better beyond the folds'
   noise (:func:`noise_ranks`), so that a difference of 0.3% weighs no
   more than it is worth against one of a factor of four. A protocol that
   picks a different candidate for every left-out set is fitting noise.
3. With ``--test``: the candidate chosen on the whole pool (with one
   candidate: that one, without steps 1 and 2), fitted on each
   standard training split and scored on the test split, beside 1NN-DTW and
   MiniRocket (RocketRegressor for regression), with each set's ranks and the
   average ranks (``--cd-plot FILE`` draws aeon's critical-difference
   diagram of them).

The fit time of every sklstm fit is printed: a default fit must stay within
60 s on the 2-core development machine.
"""

import argparse
import json
import time
import warnings

import numpy as np
from sklearn.base import clone
from sklearn.model_selection import KFold, StratifiedKFold

from bench_archive import peers, sklstm_model, timed_fit_score
from sklstm.datasets import (
    make_band_spectra,
    make_bump_position,
    make_few_shot,
    make_hidden_pattern,
    make_informative_channel,
    make_ragged_lengths,
    make_scatter_spectra,
)
from sklstm.preprocessing import channels_last

AEON_CLASSIFICATION = [
    "ACSF1", "ArrowHead", "BasicMotions", "GunPoint", "ItalyPowerDemand",
    "JapaneseVowels", "OSULeaf", "PickupGestureWiimoteZ", "UnitTest",
]
AEON_REGRESSION = ["Covid3Month", "CardanoSentiment"]


def _split(X, y, n_train):
    return X[:n_train], y[:n_train], X[n_train:], y[n_train:]


# name -> (make train+test data from a draw number (0: the pool's own; others,
# fresh data of the same kind), number of training series, regression?)
SYNTHETIC = {
    "few-shot": (
        lambda draw: make_few_shot(30, 4, 400, random_state=0 + draw), 60, False
    ),
    # added after crop_fraction="auto" was fixed, to judge it out of sample
    "few-shot-long": (
        lambda draw: make_few_shot(20, 6, 1000, noise=0.5, random_state=1 + draw),
        60, False,
    ),
    "ragged": (
        lambda draw: make_ragged_lengths(400, 5, 30, 300, random_state=0 + draw),
        200, False,
    ),
    "hidden-pattern": (
        lambda draw: make_hidden_pattern(300, 800, 20, 2, random_state=0 + draw),
        150, False,
    ),
    "one-channel": (
        lambda draw: make_informative_channel(
            300, 100, 20, 3, random_state=0 + draw
        )[:2],
        150, False,
    ),
    "bump-position": (
        lambda draw: make_bump_position(400, 100, random_state=0 + draw), 200, True
    ),
    "band-spectra": (
        lambda draw: make_band_spectra(300, 100, random_state=0 + draw), 200, True
    ),
    # added after summary_points="auto" was chosen, to judge it out of sample
    "scatter-spectra": (
        lambda draw: make_scatter_spectra(300, 100, random_state=0 + draw),
        200, True,
    ),
    # added on 2026-12-03 after difference_lag="auto" was chosen on other
    # draws, so that the protocol sees long series in regression (1,000
    # steps: the fit budget shortens the search and leaves one network)
    "scatter-spectra-long": (
        lambda draw: make_scatter_spectra(300, 1000, random_state=10 + draw),
        200, True,
    ),
}
POOL = AEON_CLASSIFICATION + AEON_REGRESSION + list(SYNTHETIC)


def is_regression(name):
    return name in AEON_REGRESSION or (name in SYNTHETIC and SYNTHETIC[name][2])


def _aeon_layout(X):
    """sklstm's layout as aeon's: (n, channels, steps), or a list of (channels, T)."""
    if isinstance(X, list):
        return [np.atleast_2d(x) if x.ndim == 1 else x.T for x in X]
    return X[:, None, :] if X.ndim == 2 else X.transpose(0, 2, 1)


def load(name, draw=0):
    """``(X_train, y_train, X_test, y_test)`` in aeon's layout; a synthetic
    set drawn anew where ``draw`` is not 0 (an archive set is what it is)."""
    if name in SYNTHETIC:
        make, n_train, _ = SYNTHETIC[name]
        X, y = make(draw)
        return _split(_aeon_layout(X), y, n_train)
    from aeon.datasets import load_classification, load_regression

    loader = load_regression if name in AEON_REGRESSION else load_classification
    X, y = loader(name, split="train")
    X_test, y_test = loader(name, split="test")
    if name in AEON_REGRESSION:
        y, y_test = y.astype(float), y_test.astype(float)
    return X, y, X_test, y_test


def _select(X, idx):
    return X[idx] if isinstance(X, np.ndarray) else [X[i] for i in idx]


def cv_score(name, params, n_splits, draw=0, n_seeds=1):
    """Scores of sklstm with ``params`` on each of ``n_splits`` folds of the
    training split (accuracy, or minus RMSE: higher is better; the same
    folds for every candidate), the mean fit time, and the plans of the
    folds' fits (:func:`describe_plan`; compare them with the full split's,
    which ``--test`` prints: the plan depends on the data's size). With
    ``n_seeds`` above 1, each fold's score is the mean of fits with
    ``random_state`` 0 to ``n_seeds - 1`` (unless ``params`` sets it): on
    the small sets one draw of the networks' starting weights moves a
    fold's accuracy by a series or two."""
    X, y, _, _ = load(name, draw)
    regression = is_regression(name)
    splitter = (KFold if regression else StratifiedKFold)(
        n_splits, shuffle=True, random_state=0
    )
    if not regression and np.bincount(np.unique(y, return_inverse=True)[1]).min() < n_splits:
        splitter = KFold(n_splits, shuffle=True, random_state=0)
    scores, seconds, plans = [], [], []
    seeds = [None] if "random_state" in params else range(n_seeds)
    for train, valid in splitter.split(np.zeros(len(y)), y):
        fold = []
        for seed in seeds:
            model = sklstm_model(regression, params if seed is None
                                 else {**params, "random_state": seed})
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                score, s = timed_fit_score(
                    model, channels_last(_select(X, train)), y[train],
                    channels_last(_select(X, valid)), y[valid], regression,
                )
            fold.append(-score if regression else score)
            seconds.append(s)
            plans.append(describe_plan(model))
        scores.append(np.mean(fold))
    return np.asarray(scores, dtype=float), float(np.mean(seconds)), sorted(set(plans))


def ranks(scores):
    """Rank of each candidate (1 = best; ties share the mean rank), per set:
    ``scores`` is ``(n_sets, n_candidates)``, higher better."""
    from scipy.stats import rankdata

    return np.vstack([rankdata(-row) for row in scores])


# two candidates tie on a set unless the mean of their paired fold-by-fold
# differences is more than this many standard errors of it away from 0
NOISE_SE = 2.0


def noise_ranks(fold_scores):
    """Ranks as :func:`ranks`, but two candidates whose scores on a set
    differ by no more than the folds' noise tie there: ``fold_scores`` is
    ``(n_sets, n_candidates, n_folds)``, the same folds for every candidate.
    A candidate's rank is 1, plus 1 for each candidate better beyond the
    noise, plus 1/2 for each tied with it (with every difference beyond the
    noise, or exact ties, these are :func:`ranks`).

    >>> folds = np.array([[[0.270, 0.280, 0.274], [0.271, 0.282, 0.273]],
    ...                   [[1.0, 1.2, 1.1], [5.0, 5.5, 6.0]]])
    >>> noise_ranks(-folds)  # RMSE: a tie in the noise, then a clear win
    array([[1.5, 1.5],
           [1. , 2. ]])
    """
    fold_scores = np.asarray(fold_scores, dtype=float)
    n_sets, n_cand, n_folds = fold_scores.shape
    out = np.ones((n_sets, n_cand))
    for s in range(n_sets):
        for i in range(n_cand):
            for j in range(n_cand):
                if i == j:
                    continue
                diff = fold_scores[s, j] - fold_scores[s, i]
                se = diff.std(ddof=1) / np.sqrt(n_folds) if n_folds > 1 else 0.0
                mean = diff.mean()
                if mean == 0 or abs(mean) <= NOISE_SE * se:
                    out[s, i] += 0.5  # tied with j
                elif mean > 0:
                    out[s, i] += 1  # j is better beyond the noise
    return out


def leave_one_out(names, candidates, fold_scores):
    """For each set, the candidate with the best mean rank over the others
    (:func:`noise_ranks`; the first on a tie), and its mean CV score on the
    left-out set."""
    r = noise_ranks(fold_scores)
    scores = np.asarray(fold_scores).mean(axis=2)
    rows = []
    for i, name in enumerate(names):
        others = np.delete(r, i, axis=0).mean(axis=0)
        chosen = int(np.argmin(others))
        rows.append((name, candidates[chosen], scores[i, chosen], scores[i].max()))
    return rows


def describe_plan(model):
    """A fitted sklstm estimator's plan: its networks and whether the inner
    search ran."""
    searched = "yes" if model.fit_plan_["search"] else "no"
    return f"{model.n_networks_} networks, search {searched}"


def describe_fit(model):
    """What a fitted sklstm estimator's plan was (:func:`describe_plan`),
    with the inner search's choice (the protocol's folds are smaller than
    the full split, and the plan depends on the data's size)."""
    text = f"sklstm plan: {describe_plan(model)}"
    if model.auto_search_ is not None:
        text += f", chose {model.auto_search_['best_params']}"
    return text


def test_scores(names, params, cd_plot=None, with_peers=True, draw=0):
    """The chosen setting against the peers on each test split."""
    table = []
    for name in names:
        regression = is_regression(name)
        X, y, X_test, y_test = load(name, draw)
        row = {}
        models = {"sklstm": (sklstm_model(regression, params), channels_last)}
        if with_peers:
            models.update({k: (m, None) for k, m in peers(name, regression).items()})
        plan = ""
        for label, (model, convert) in models.items():
            Xa, Xb = (convert(X), convert(X_test)) if convert else (X, X_test)
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    fitted = clone(model)
                    score, s = timed_fit_score(fitted, Xa, y, Xb, y_test, regression)
                if label == "sklstm":
                    plan = describe_fit(fitted)
            except Exception as exc:  # a peer that cannot read this set (ragged)
                if label == "sklstm":
                    raise
                print(f"  {label} on {name}: {type(exc).__name__}"[:100])
                score, s = float("nan"), float("nan")
            row[label] = (score, s)
        print(f"  {name}: " + ", ".join(
            f"{k} {v[0]:.4g} ({v[1]:.1f} s)" for k, v in row.items()) + f"; {plan}",
            flush=True)
        table.append((name, row))
    labels = ["sklstm", "1NN-DTW", "MiniRocket"]
    classification = [(n, r) for n, r in table if not is_regression(n) and
                      all(np.isfinite(r.get(k, (np.nan,))[0]) for k in labels)]
    if classification:
        acc = np.array([[r[k][0] for k in labels] for _, r in classification])
        avg = ranks(acc).mean(axis=0)
        print("average ranks over " + ", ".join(n for n, _ in classification) + ": "
              + ", ".join(f"{k} {v:.2f}" for k, v in zip(labels, avg)))
        if cd_plot:
            from aeon.visualisation import plot_critical_difference

            fig, _ = plot_critical_difference(acc, labels)
            fig.savefig(cd_plot, bbox_inches="tight")
            print(f"critical-difference diagram: {cd_plot}")
    return table


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--candidates", default='{"defaults": {}}',
                        help="name -> sklstm parameters, as JSON")
    parser.add_argument("--datasets", nargs="*", default=POOL)
    parser.add_argument("--cv", type=int, default=3)
    parser.add_argument("--seeds", type=int, default=1,
                        help="fits per fold, random_state 0 to SEEDS - 1, their "
                        "scores averaged (the networks' starting weights are "
                        "noise too)")
    parser.add_argument("--test", action="store_true",
                        help="score the setting chosen on the whole pool on the test splits")
    parser.add_argument("--cd-plot", default=None)
    parser.add_argument("--no-peers", action="store_true",
                        help="with --test: sklstm alone (1NN-DTW is slow on long series)")
    parser.add_argument("--draw", type=int, default=0,
                        help="draw the synthetic sets anew with this number (0: the "
                        "pool's own draw), to judge a setting on data no choice saw")
    args = parser.parse_args()
    candidates = json.loads(args.candidates)
    names = list(candidates)
    if len(names) == 1 and args.test:  # nothing to choose: the test splits alone
        print(f"test splits, {names[0]} against the peers:")
        test_scores(args.datasets, candidates[names[0]], args.cd_plot, not args.no_peers,
                    args.draw)
        return
    print(f"pool: {', '.join(args.datasets)}; candidates: {names}; {args.cv}-fold CV"
          + (f", {args.seeds} seeds a fold" if args.seeds > 1 else ""))
    folds = np.zeros((len(args.datasets), len(names), args.cv))
    for i, name in enumerate(args.datasets):
        cells = []
        for j, cand in enumerate(names):
            start = time.perf_counter()
            folds[i, j], fit_s, plans = cv_score(
                name, candidates[cand], args.cv, args.draw, args.seeds
            )
            cells.append(f"{cand} {folds[i, j].mean():.4f} (folds "
                         + " ".join(f"{v:.4f}" for v in folds[i, j])
                         + f"; fit {fit_s:.1f} s, {time.perf_counter() - start:.0f} s in all; "
                         + f"plan {' / '.join(plans)})")
        print(f"  {name}: " + "; ".join(cells), flush=True)
    rank = noise_ranks(folds)
    print(f"\nranks (ties within {NOISE_SE:g} standard errors of the paired fold "
          "differences), per set: " + "; ".join(
              f"{n} " + "/".join(f"{v:g}" for v in row) for n, row in zip(args.datasets, rank)))
    print("mean rank of each candidate over the pool: " + ", ".join(
        f"{n} {v:.2f}" for n, v in zip(names, rank.mean(axis=0))))
    print("\nleave one data set out (chosen on the others -> its CV score here, "
          "the best candidate's score here):")
    lodo = leave_one_out(args.datasets, names, folds)
    for name, chosen, score, best in lodo:
        print(f"  {name}: {chosen} {score:.4f} (best {best:.4f})")
    picks = {chosen for _, chosen, _, _ in lodo}
    print(f"candidates chosen: {sorted(picks)} (one means a stable choice)")
    if args.test:
        overall = names[int(np.argmin(rank.mean(axis=0)))]
        print(f"\ntest splits, {overall} (chosen on the whole pool) against the peers:")
        test_scores(args.datasets, candidates[overall], args.cd_plot, not args.no_peers,
                    args.draw)


if __name__ == "__main__":
    main()
