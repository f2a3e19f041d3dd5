"""Networks trained side by side against one network after another.

A default fit of an archive-sized set trains up to six single networks in
its inner search (two candidates, three folds) and then an ensemble of up
to five networks (``n_networks="auto"``). Side by side, the search's fits
run in threads of their own, one core each (``sklstm._search``), and so do
each ensemble network's forward and backward passes
(``NetworkEnsemble.map_networks``); before, the networks ran one after
another, each on all cores. Run alone (no other torch process on the
machine)::

    .venv/bin/python benchmarks/bench_side_by_side.py

Prints, for each named archive set, the default fit's time and test
accuracy both ways, measured in the same run (the two ways alternate, so
that the machine's drift falls on both), and their ratio; then one
training step of the default network's ensemble at a few shapes, both
ways. ``--datasets`` names others; ``--steps-only`` skips the fits;
``--rounds 2`` fits each set twice each way and averages.
"""

import argparse
import contextlib
import time
from unittest import mock

import numpy as np
import torch

import sklstm._numeric_input
import sklstm.nn._ensemble
from sklstm import SequenceClassifier
from sklstm.nn import NetworkEnsemble
from sklstm.preprocessing import channels_last

from bench_archive import CLASSIFICATION, load


@contextlib.contextmanager
def one_after_another():
    """The networks of every ensemble and the inner search's fits one after
    another, on all cores (the way before networks trained side by side)."""
    one = lambda n, device: 1  # noqa: E731
    with mock.patch.object(sklstm.nn._ensemble, "worker_count", one), \
            mock.patch.object(sklstm._numeric_input, "worker_count", one):
        yield


WAYS = {"one after another": one_after_another, "side by side": contextlib.nullcontext}


def fit_both_ways(name, rounds=1):
    X, y = load(name, "train")
    X_test, y_test = load(name, "test")
    X, X_test = channels_last(X), channels_last(X_test)
    rows = {way: [] for way in WAYS}
    for _ in range(rounds):
        for way, context in WAYS.items():
            with context():
                clf = SequenceClassifier(random_state=0)
                start = time.perf_counter()
                clf.fit(X, y)
                fit = time.perf_counter() - start
                start = time.perf_counter()
                accuracy = float(np.mean(clf.predict(X_test) == y_test))
                predict = time.perf_counter() - start
            rows[way].append((fit, predict, accuracy, clf.fit_plan_["n_networks"]))
    return {way: np.mean(values, axis=0) for way, values in rows.items()}


def step_both_ways(batch, length, conv_layers, n_networks=5, repeats=20):
    """Milliseconds of one training step (forward, loss, backward) of a
    default-shaped ensemble, both ways."""
    torch.manual_seed(0)
    ensemble = NetworkEnsemble(
        n_networks, n_features=1, n_outputs=3, bidirectional=True,
        conv_layers=conv_layers, pooling="max", input_differences=1, difference_lag=4,
    ).train()
    X, y = torch.randn(batch, length, 1), torch.randint(3, (batch,))

    def step():
        def one(network):
            torch.nn.functional.cross_entropy(network(X), y).backward()
        ensemble.map_networks(one)

    times = {}
    for way, context in WAYS.items():
        with context():
            for _ in range(3):
                step()
            start = time.perf_counter()
            for _ in range(repeats):
                step()
            times[way] = (time.perf_counter() - start) / repeats * 1e3
    return times


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="*", default=CLASSIFICATION)
    parser.add_argument("--steps-only", action="store_true")
    parser.add_argument("--rounds", type=int, default=1,
                        help="fits of each set each way (times averaged)")
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} intra-op threads, "
          f"CPU capability {torch.backends.cpu.get_cpu_capability()}")
    print("\none training step of 5 default networks (ms)")
    print(f"{'batch x steps, conv blocks':28} {'one after another':>18} "
          f"{'side by side':>13} {'ratio':>6}")
    for batch, length, conv in ((64, 20, 0), (50, 150, 2), (64, 427, 3), (64, 1460, 5)):
        t = step_both_ways(batch, length, conv)
        before, after = t["one after another"], t["side by side"]
        print(f"{f'{batch} x {length}, {conv}':28} {before:18.1f} {after:13.1f} "
              f"{after / before:6.2f}")
    if args.steps_only:
        return
    print("\ndefault fits (SequenceClassifier(random_state=0)), standard splits")
    print(f"{'data set':18} {'networks':>8} {'fit before':>10} {'fit after':>10} "
          f"{'ratio':>6} {'acc before':>10} {'acc after':>10} {'predict ratio':>13}")
    totals = np.zeros(2)
    accuracies = []
    for name in args.datasets:
        r = fit_both_ways(name, args.rounds)
        before, after = r["one after another"], r["side by side"]
        totals += before[0], after[0]
        accuracies.append((before[2], after[2]))
        print(f"{name:18} {int(after[3]):8d} {before[0]:10.1f} {after[0]:10.1f} "
              f"{after[0] / before[0]:6.2f} {before[2]:10.3f} {after[2]:10.3f} "
              f"{after[1] / before[1]:13.2f}", flush=True)
    accuracies = np.array(accuracies)
    print(f"{'all':18} {'':8} {totals[0]:10.1f} {totals[1]:10.1f} "
          f"{totals[1] / totals[0]:6.2f} {accuracies[:, 0].mean():10.3f} "
          f"{accuracies[:, 1].mean():10.3f}")


if __name__ == "__main__":
    main()
