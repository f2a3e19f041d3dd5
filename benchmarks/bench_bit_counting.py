"""Bit counting: quality of SequenceClassifier and its overhead over plain PyTorch.

Run alone (no other torch process on the machine)::

    .venv/bin/python benchmarks/bench_bit_counting.py [--quick]

Prints:

1. held-out errors of the documented settings, trained on the tutorial's
   10,000 strings and evaluated on the other 1,038,576, with the fit time;
2. ``fit`` time per epoch versus a hand-written PyTorch loop training the same
   module with the same batch size, optimizer and schedule (ratio);
3. ``predict`` time on the 1,038,576 strings versus a plain
   ``torch.inference_mode()`` loop with the same batch size (ratio), and the
   peak memory of a fresh process that loads the saved model and predicts.

Each comparison alternates the two after a warm-up and reports medians.
"""

import argparse
import os
import pickle
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch
from _baselines import compare, plain_fit

from sklstm import SequenceClassifier
from sklstm.datasets import make_bit_counting

# the tutorial's framing, 21 classes: the classifier's defaults with 80
# epochs (make demo, examples/plot_bit_counting.py, models the count with
# SequenceRegressor since 2026-12-02; see docs/benchmarks.rst)
SETTINGS = dict(cell="lstm", num_hidden=24, max_epochs=80, random_state=0)


def plain_pytorch_predict(module, X, batch_size, device="cpu"):
    """The classes ``module`` (on ``device``) predicts for the strings ``X``,
    in batches moved to the device one at a time, as sklstm moves them."""
    module.eval()
    Xt = torch.from_numpy(X.astype(np.float32)[:, :, None])
    out = []
    with torch.inference_mode():
        for start in range(0, len(Xt), batch_size):
            batch = Xt[start : start + batch_size].to(device)
            out.append(module(batch).argmax(1).cpu())
    return torch.cat(out).numpy()


def peak_memory_of_predict(clf, X):
    """Peak RSS (MB, VmHWM) of a fresh process that unpickles clf and predicts X."""
    with tempfile.TemporaryDirectory() as tmp:
        np.save(os.path.join(tmp, "X.npy"), X)
        with open(os.path.join(tmp, "clf.pkl"), "wb") as f:
            pickle.dump(clf, f)
        code = (
            "import pickle, numpy as np\n"
            "def hwm():\n"
            "    for line in open('/proc/self/status'):\n"
            "        if line.startswith('VmHWM'):\n"
            "            return int(line.split()[1]) / 1024\n"
            f"X = np.load({os.path.join(tmp, 'X.npy')!r})\n"
            f"clf = pickle.load(open({os.path.join(tmp, 'clf.pkl')!r}, 'rb'))\n"
            "before = hwm()\n"
            "clf.predict(X)\n"
            "print(before, hwm())\n"
        )
        out = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        )
    before, after = map(float, out.stdout.split())
    return before, after


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="skip the full fit")
    parser.add_argument("--epochs", type=int, default=5, help="epochs per timed fit")
    parser.add_argument("--repeats", type=int, default=5, help="timed pairs")
    args = parser.parse_args()

    X, y = make_bit_counting(n_bits=20, random_state=0)
    X_train, y_train, X_test, y_test = X[:10_000], y[:10_000], X[10_000:], y[10_000:]
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")

    if not args.quick:
        clf = SequenceClassifier(**SETTINGS)
        t0 = time.perf_counter()
        clf.fit(X_train, y_train)
        fit_s = time.perf_counter() - t0
        wrong = int((clf.predict(X_test) != y_test).sum())
        print(
            f"quality: {wrong} of {len(y_test)} held-out strings wrong "
            f"({100 * wrong / len(y_test):.4f}%), fit {fit_s:.1f} s "
            f"({clf.n_iter_} epochs)"
        )

    # fit overhead: same module, batch size, optimizer and schedule
    # (one network, as the full fit trains: a plain loop trains one module)
    est = SequenceClassifier(**{**SETTINGS, "max_epochs": args.epochs, "n_networks": 1})
    compare(
        f"fit per epoch (batch {est.batch_size})",
        lambda: est.fit(X_train, y_train),
        lambda: plain_fit(
            # the estimator's module and its label codes
            X_train, np.searchsorted(est.classes_, y_train),
            module_params=est.net_.get_params_for("module"),
            epochs=args.epochs,
            batch_size=est.batch_size, lr=est.lr,
            loss_fn=torch.nn.CrossEntropyLoss(),
        ),
        repeats=args.repeats,
        per=args.epochs,
    )

    # predict overhead on the 1,038,576 held-out strings
    pbs = est.net_.iterator_valid__batch_size
    pred_plain = plain_pytorch_predict(est.net_.module_, X_test, pbs)
    assert (est.classes_[pred_plain] == est.predict(X_test)).all()
    compare(
        f"predict {len(X_test)} strings (batch {pbs})",
        lambda: est.predict(X_test),
        lambda: plain_pytorch_predict(est.net_.module_, X_test, pbs),
        repeats=args.repeats,
        per=1,
    )
    before, after = peak_memory_of_predict(est, X_test)
    print(f"peak RSS of a fresh process predicting: {after:.0f} MB "
          f"({before:.0f} MB after loading data and model)")


if __name__ == "__main__":
    main()
