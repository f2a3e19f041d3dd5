"""Default fits of two versions of sklstm, in the same run.

Issue 30 asks for default fits of the named archive sets at most 0.4 of the
time they took when it was filed (commit ``250fa50``, 2026-11-26), at the
same accuracy. Times on this shared machine drift by tens of percent within
minutes, so both versions are timed in one run, alternating set by set:
each fit runs in a fresh process whose ``sklstm`` is imported from a
checkout of the version (``git worktree``), after a one-epoch warm-up fit
(torch imports its compiler stack at a process's first optimizer, about a
second, the same for both). Run alone (no other torch process on the
machine)::

    .venv/bin/python benchmarks/bench_commits.py --rounds 2

Prints each set's fit time and test accuracy with both versions, their
ratio, and the totals. ``--before`` and ``--after`` name other commits
(``--after`` defaults to this checkout as it is, uncommitted changes
included); ``--datasets`` names other sets; ``--vary-seed`` fits round
``r`` with ``random_state=r``, so that the accuracies are means over seeds
(one seed's test accuracy moves by a series or two with any rounding).
"""

import argparse
import contextlib
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from bench_archive import CLASSIFICATION

ROOT = Path(__file__).resolve().parent.parent
FILED = "250fa50"  # the commit on main when issue 30 was filed

CHILD = """
import json, sys, time
import numpy as np
import sklstm
from sklstm import SequenceClassifier
from sklstm.preprocessing import channels_last
sys.path.insert(0, {benchmarks!r})
from bench_archive import load

rng = np.random.RandomState(0)
SequenceClassifier(max_epochs=1, n_networks=1, conv_dilations=(1,)).fit(
    rng.randn(8, 10, 1), np.arange(8) % 2)  # warm-up: imports, first allocations
X, y = load({name!r}, "train")
X_test, y_test = load({name!r}, "test")
X, X_test = channels_last(X), channels_last(X_test)
start = time.perf_counter()
clf = SequenceClassifier(random_state={seed}).fit(X, y)
seconds = time.perf_counter() - start
print(json.dumps({{"fit": seconds, "accuracy": clf.score(X_test, y_test),
                  "source": sklstm.__file__}}))
"""


@contextlib.contextmanager
def checkout(rev):
    """A detached worktree of ``rev``, or this checkout for None."""
    if rev is None:
        yield ROOT
        return
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "tree"
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", "-q",
                        str(path), rev], check=True)
        try:
            yield path
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force",
                            str(path)], check=True)


def fit_in_process(tree, name, seed=0):
    """One default fit of ``name`` by the ``sklstm`` of ``tree``, in a new
    process, with ``random_state=seed``."""
    env = dict(os.environ, PYTHONPATH=str(tree))
    code = CHILD.format(benchmarks=str(ROOT / "benchmarks"), name=name, seed=int(seed))
    out = subprocess.run([sys.executable, "-c", code], env=env, cwd=tempfile.gettempdir(),
                         capture_output=True, text=True, check=True).stdout
    result = json.loads(out.strip().splitlines()[-1])
    if not Path(result["source"]).is_relative_to(tree):
        raise RuntimeError(f"imported {result['source']}, not the sklstm of {tree}")
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", default=FILED)
    parser.add_argument("--after", default=None, help="a commit; default: this checkout")
    parser.add_argument("--datasets", nargs="*", default=CLASSIFICATION)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--vary-seed", action="store_true",
                        help="round r fits with random_state=r (accuracy over seeds)")
    args = parser.parse_args()
    after_name = args.after or "this checkout"
    with checkout(args.before) as before, checkout(args.after) as after:
        trees = {args.before: before, after_name: after}
        rows = []
        for name in args.datasets:
            runs = {label: [] for label in trees}
            for round_ in range(args.rounds):
                # alternate which version goes first, so that drift falls on both
                order = list(trees.items())[:: 1 if round_ % 2 == 0 else -1]
                for label, tree in order:
                    seed = round_ if args.vary_seed else 0
                    runs[label].append(fit_in_process(tree, name, seed))
            fit = {k: sum(r["fit"] for r in v) / len(v) for k, v in runs.items()}
            acc = {k: sum(r["accuracy"] for r in v) / len(v) for k, v in runs.items()}
            rows.append((name, fit[args.before], fit[after_name], acc[args.before],
                         acc[after_name]))
            print(f"{name:<18} fit {fit[args.before]:6.1f} s -> {fit[after_name]:6.1f} s "
                  f"(ratio {fit[after_name] / fit[args.before]:.2f}), accuracy "
                  f"{acc[args.before]:.3f} -> {acc[after_name]:.3f}", flush=True)
    total_before = sum(r[1] for r in rows)
    total_after = sum(r[2] for r in rows)
    mean = lambda i: sum(r[i] for r in rows) / len(rows)  # noqa: E731
    print(f"{'all':<18} fit {total_before:6.1f} s -> {total_after:6.1f} s "
          f"(ratio {total_after / total_before:.2f}), mean accuracy "
          f"{mean(3):.3f} -> {mean(4):.3f}")


if __name__ == "__main__":
    main()
