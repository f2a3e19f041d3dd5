"""Real archive data: sklstm's defaults against aeon's MiniRocket, 1NN-DTW and Rocket.

The UCR/UEA classification sets and TSER regression sets below ship inside the
``aeon`` package (``pip install -e ".[aeon]"``; no download). Run alone (no other
torch process on the machine)::

    .venv/bin/python benchmarks/bench_archive.py

Prints, for each data set, the test accuracy (classification) or RMSE
(regression) on the standard train/test split and the fit time of
``SequenceClassifier(random_state=0)`` / ``SequenceRegressor(random_state=0)``
and of the peers measured in the same run, then the mean accuracies.

Any other data set that aeon bundles (or downloads) can be named, for example
the sets the defaults were not chosen on::

    .venv/bin/python benchmarks/bench_archive.py --datasets ACSF1 PickupGestureWiimoteZ UnitTest

Choosing settings uses the training splits only::

    .venv/bin/python benchmarks/bench_archive.py --cv 5 --set '{"lr": 0.003}'

scores sklstm with the given parameters, and the peers, by stratified 5-fold
cross-validation on each training split (no test data is read; ``--no-peers``
scores sklstm alone). On training splits of a few dozen series one series
moves such a score by several hundredths; ``--repeats 4`` repeats the
cross-validation with new folds and averages all of them.

One seed's test accuracy moves by a series or two with the networks'
starting weights, and MiniRocket's with its random kernels::

    .venv/bin/python benchmarks/bench_archive.py --seeds 10 --datasets GunPoint \
        ItalyPowerDemand ArrowHead BasicMotions OSULeaf

fits sklstm and each peer that has a ``random_state`` with seeds 0 to 9
(1NN-DTW has none and is fitted once), reports each set's mean over the
seeds and, over the five sets named in issue 29, each seed's mean, their
spread and the paired difference between sklstm and MiniRocket.
"""

import argparse
import json
import time
import warnings

import numpy as np
from aeon.classification.convolution_based import MiniRocketClassifier
from aeon.classification.distance_based import KNeighborsTimeSeriesClassifier
from aeon.datasets import load_classification, load_regression
from aeon.regression.convolution_based import RocketRegressor
from sklearn.base import clone
from sklearn.linear_model import RidgeCV
from sklearn.metrics import root_mean_squared_error
from sklearn.model_selection import GridSearchCV, RepeatedKFold, RepeatedStratifiedKFold
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

from sklstm import SequenceClassifier, SequenceRegressor
from sklstm.preprocessing import channels_last

CLASSIFICATION = [
    "GunPoint", "ItalyPowerDemand", "ArrowHead", "BasicMotions", "OSULeaf",
    "JapaneseVowels",
]
REGRESSION = ["Covid3Month", "CardanoSentiment"]
# the sets whose mean the issue compares with MiniRocket's
EQUAL_LENGTH = CLASSIFICATION[:5]


def load(name, split):
    loader = load_regression if name in REGRESSION else load_classification
    X, y = loader(name, split=split)
    if name in REGRESSION:
        y = y.astype(float)
    return X, y


def _select(X, idx):
    return X[idx] if isinstance(X, np.ndarray) else [X[i] for i in idx]


def timed_fit_score(model, X, y, X_test, y_test, regression):
    start = time.perf_counter()
    model.fit(X, y)
    seconds = time.perf_counter() - start
    pred = model.predict(X_test)
    if regression:
        return root_mean_squared_error(y_test, pred), seconds
    return float(np.mean(pred == y_test)), seconds


def peers(name, regression):
    if regression:
        return {
            "RocketRegressor": RocketRegressor(random_state=0, n_jobs=1),
            # a linear model on the raw values (equal-length series)
            "RidgeCV": ridge_on_raw_values(),
        }
    return {
        "1NN-DTW": KNeighborsTimeSeriesClassifier(distance="dtw", n_neighbors=1),
        "MiniRocket": MiniRocketClassifier(random_state=0, n_jobs=1),
    }


def ridge_on_raw_values():
    """``RidgeCV`` on the raw values of each series, with or without each
    value standardised first, as a 5-fold cross-validation of the training
    data chooses: without it, a fixed grid of penalties cannot suit values
    of every magnitude (Covid3Month's are thousandths: RMSE 0.268 against
    0.043 standardised); with it, the penalty weighs every step alike,
    which loses where some steps matter more (band-spectra 1.519 against
    1.494)."""
    pipe = Pipeline([
        ("flatten", FunctionTransformer(_flatten)),
        ("scale", "passthrough"),
        ("ridge", RidgeCV(alphas=np.logspace(-3, 3, 13))),
    ])
    return GridSearchCV(
        pipe, {"scale": ["passthrough", StandardScaler()]}, cv=5,
        scoring="neg_root_mean_squared_error",
    )


def _flatten(X):
    """aeon's (n, channels, steps) as one row of values per series."""
    return np.asarray(X).reshape(len(X), -1)


def sklstm_model(regression, params):
    cls = SequenceRegressor if regression else SequenceClassifier
    return cls(**{"random_state": 0, **params})


def evaluations(name, n_splits=0, n_repeats=1):
    """Yield ``(X_train, y_train, X_eval, y_eval)`` in aeon's layout: the
    standard train/test split, or with ``n_splits`` the folds of a
    (repeated) k-fold cross-validation of the training split alone."""
    X, y = load(name, "train")
    if not n_splits:
        yield (X, y, *load(name, "test"))
        return
    # with n_repeats=1, the same folds as (Stratified)KFold(shuffle=True)
    splitter = (RepeatedKFold if name in REGRESSION else RepeatedStratifiedKFold)(
        n_splits=n_splits, n_repeats=n_repeats, random_state=0
    )
    for train, valid in splitter.split(np.zeros(len(y)), y):
        yield _select(X, train), y[train], _select(X, valid), y[valid]


def _seeded(model, seed):
    """A fresh copy of ``model`` with ``random_state=seed``, or ``None``
    for seeds after the first where it has no ``random_state`` (the same
    fit again)."""
    if "random_state" in model.get_params():
        return clone(model).set_params(random_state=seed)
    return clone(model) if seed == 0 else None


def run(names, params, with_peers, n_splits=0, n_repeats=1, n_seeds=1):
    """Score sklstm (and the peers) on each data set: on the test split, or
    averaged over the folds of ``evaluations``, and over ``n_seeds`` seeds
    (each row's ``"<model> seeds"``: the mean of each seed's folds)."""
    rows = []
    for name in names:
        regression = name in REGRESSION
        models = {"sklstm": (sklstm_model(regression, params), channels_last)}
        if with_peers:
            models.update({k: (m, None) for k, m in peers(name, regression).items()})
        scores = {label: [[] for _ in range(n_seeds)] for label in models}
        seconds = {label: [] for label in models}
        for X, y, X_eval, y_eval in evaluations(name, n_splits, n_repeats):
            for label, (model, convert) in models.items():
                Xa, Xb = (convert(X), convert(X_eval)) if convert else (X, X_eval)
                for seed in range(n_seeds):
                    seeded = _seeded(model, seed)
                    if seeded is None:
                        scores[label][seed].append(scores[label][0][-1])
                        continue
                    try:
                        with warnings.catch_warnings():
                            warnings.simplefilter("ignore")
                            score, s = timed_fit_score(
                                seeded, Xa, y, Xb, y_eval, regression
                            )
                    except Exception as exc:  # a peer that cannot read this data set
                        if label == "sklstm":
                            raise
                        print(f"  {label} on {name}: {type(exc).__name__}: {exc}"[:200])
                        score, s = float("nan"), float("nan")
                    scores[label][seed].append(score)
                    seconds[label].append(s)
        row = {"data set": name}
        for label in models:
            per_seed = [float(np.mean(folds)) for folds in scores[label]]
            row[label] = float(np.mean(per_seed))
            row[f"{label} s"] = float(np.mean(seconds[label]))
            row[f"{label} seeds"] = per_seed
        print("  " + ", ".join(f"{k}: {_fmt(v)}" for k, v in row.items()
                               if not k.endswith(" seeds")), flush=True)
        rows.append(row)
    return rows


def _labels(row):
    """The models of a row of :func:`run`."""
    return [k for k in row if k != "data set" and not k.endswith((" s", " seeds"))]


def print_table(kind, rows):
    labels = _labels(rows[0])
    print(f"| data set ({kind}) | "
          + " | ".join(f"{k} | {k} fit s" for k in labels) + " |")
    print("|---" * (1 + 2 * len(labels)) + "|")
    for row in rows:
        cells = [_fmt(row[k]) for k in labels]
        times = [f"{row[k + ' s']:.1f}" for k in labels]
        print(f"| {row['data set']} | "
              + " | ".join(f"{c} | {t}" for c, t in zip(cells, times)) + " |")


def _fmt(v):
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="*", default=CLASSIFICATION + REGRESSION)
    parser.add_argument("--set", default="{}", help="sklstm parameters, as JSON")
    parser.add_argument("--cv", type=int, default=0,
                        help="k-fold cross-validation on the training splits")
    parser.add_argument("--repeats", type=int, default=1,
                        help="repeat the cross-validation with new folds (less "
                        "noise on small training splits)")
    parser.add_argument("--no-peers", action="store_true")
    parser.add_argument("--seeds", type=int, default=1,
                        help="fit with random_state 0 to N - 1 and average")
    args = parser.parse_args()
    params = json.loads(args.set)
    print(f"sklstm parameters: {params or 'defaults'}"
          + (f"; {args.cv}-fold CV on the training splits" if args.cv else "")
          + (f", {args.repeats} times" if args.cv and args.repeats > 1 else "")
          + (f"; seeds 0 to {args.seeds - 1}" if args.seeds > 1 else ""))
    rows = run(args.datasets, params, not args.no_peers, args.cv, args.repeats,
               args.seeds)
    print()
    for kind, regression in (("accuracy", False), ("RMSE", True)):
        group_rows = [r for r in rows if (r["data set"] in REGRESSION) == regression]
        if group_rows:
            print_table(kind, group_rows)
    equal = [r for r in rows if r["data set"] in EQUAL_LENGTH]
    if equal:
        labels = _labels(equal[0])
        means = {k: np.mean([r[k] for r in equal]) for k in labels}
        print("mean accuracy over " + ", ".join(r["data set"] for r in equal) + ": "
              + ", ".join(f"{k} {v:.3f}" for k, v in means.items()))
        if args.seeds > 1:
            print_seeds(equal, labels)


def print_seeds(rows, labels):
    """Each seed's mean over ``rows``, their spread, and the paired
    difference of sklstm's from MiniRocket's (seed by seed)."""
    per_seed = {k: np.mean([r[f"{k} seeds"] for r in rows], axis=0) for k in labels}
    for k, means in per_seed.items():
        print(f"{k}: each seed's mean {np.round(means, 4).tolist()}; mean "
              f"{means.mean():.4f}, sd {means.std(ddof=1):.4f}, "
              f"{means.min():.4f} to {means.max():.4f}")
    if "MiniRocket" in per_seed:
        diff = per_seed["sklstm"] - per_seed["MiniRocket"]
        print(f"sklstm - MiniRocket, paired by seed: {diff.mean():+.4f} "
              f"(standard error {diff.std(ddof=1) / np.sqrt(len(diff)):.4f})")


if __name__ == "__main__":
    main()
