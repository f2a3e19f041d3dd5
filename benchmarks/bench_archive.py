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

scores sklstm with the given parameters by stratified 5-fold cross-validation
on each training split (no test data is read, no peer is run). On training
splits of a few dozen series one series moves such a score by several
hundredths; ``--repeats 4`` repeats the cross-validation with new folds and
averages all of them.
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
from sklearn.metrics import root_mean_squared_error
from sklearn.model_selection import RepeatedKFold, RepeatedStratifiedKFold

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
        return {"RocketRegressor": RocketRegressor(random_state=0, n_jobs=1)}
    return {
        "1NN-DTW": KNeighborsTimeSeriesClassifier(distance="dtw", n_neighbors=1),
        "MiniRocket": MiniRocketClassifier(random_state=0, n_jobs=1),
    }


def sklstm_model(regression, params):
    cls = SequenceRegressor if regression else SequenceClassifier
    return cls(**{"random_state": 0, **params})


def run_test(names, params, with_peers):
    rows = []
    for name in names:
        regression = name in REGRESSION
        X, y = load(name, "train")
        X_test, y_test = load(name, "test")
        row = {"data set": name}
        models = {"sklstm": (sklstm_model(regression, params), channels_last)}
        if with_peers:
            models.update({k: (m, None) for k, m in peers(name, regression).items()})
        for label, (model, convert) in models.items():
            Xa, Xb = (convert(X), convert(X_test)) if convert else (X, X_test)
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    score, seconds = timed_fit_score(
                        model, Xa, y, Xb, y_test, regression
                    )
            except Exception as exc:  # a peer that cannot read this data set
                print(f"  {label} on {name}: {type(exc).__name__}: {exc}"[:200])
                score, seconds = float("nan"), float("nan")
            row[label] = score
            row[f"{label} s"] = seconds
        print("  " + ", ".join(f"{k}: {_fmt(v)}" for k, v in row.items()), flush=True)
        rows.append(row)
    return rows


def run_cv(names, params, n_splits, n_repeats=1):
    rows = []
    for name in names:
        regression = name in REGRESSION
        X, y = load(name, "train")
        X = channels_last(X)
        # with n_repeats=1, the same folds as (Stratified)KFold(shuffle=True)
        splitter = (RepeatedKFold if regression else RepeatedStratifiedKFold)(
            n_splits=n_splits, n_repeats=n_repeats, random_state=0
        )
        scores, seconds = [], []
        for train, valid in splitter.split(np.zeros(len(y)), y):
            model = clone(sklstm_model(regression, params))
            score, s = timed_fit_score(
                model, _select(X, train), y[train], _select(X, valid), y[valid],
                regression,
            )
            scores.append(score)
            seconds.append(s)
        row = {"data set": name, "sklstm": float(np.mean(scores)),
               "sklstm s": float(np.mean(seconds))}
        print("  " + ", ".join(f"{k}: {_fmt(v)}" for k, v in row.items()), flush=True)
        rows.append(row)
    return rows


def print_table(kind, rows):
    labels = [k for k in rows[0] if k != "data set" and not k.endswith(" s")]
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
    args = parser.parse_args()
    params = json.loads(args.set)
    print(f"sklstm parameters: {params or 'defaults'}"
          + (f"; {args.cv}-fold CV on the training splits" if args.cv else "")
          + (f", {args.repeats} times" if args.cv and args.repeats > 1 else ""))
    if args.cv:
        rows = run_cv(args.datasets, params, args.cv, args.repeats)
    else:
        rows = run_test(args.datasets, params, with_peers=not args.no_peers)
    print()
    for kind, regression in (("accuracy", False), ("RMSE", True)):
        group_rows = [r for r in rows if (r["data set"] in REGRESSION) == regression]
        if group_rows:
            print_table(kind, group_rows)
    equal = [r for r in rows if r["data set"] in EQUAL_LENGTH]
    if equal:
        labels = [k for k in equal[0] if k != "data set" and not k.endswith(" s")]
        means = {k: np.mean([r[k] for r in equal]) for k in labels}
        print("mean accuracy over " + ", ".join(r["data set"] for r in equal) + ": "
              + ", ".join(f"{k} {v:.3f}" for k, v in means.items()))


if __name__ == "__main__":
    main()
