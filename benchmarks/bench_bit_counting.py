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
"""

import argparse
import os
import pickle
import resource
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch

from sklstm import SequenceClassifier
from sklstm.datasets import make_bit_counting
from sklstm.modules import RecurrentNetwork

# the settings documented in examples/plot_bit_counting.py (the defaults)
SETTINGS = dict(cell="lstm", num_hidden=24, random_state=0)


def plain_pytorch_fit(X, y, n_classes, epochs, batch_size, lr, seed):
    """The hand-written loop: same module, Adam, one-cycle schedule, shuffling."""
    torch.manual_seed(seed)
    module = RecurrentNetwork(n_features=1, n_outputs=n_classes, num_hidden=24)
    opt = torch.optim.Adam(module.parameters(), lr=lr)
    steps = epochs * -(-len(X) // batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps)
    loss_fn = torch.nn.CrossEntropyLoss()
    Xt = torch.from_numpy(X.astype(np.float32)[:, :, None])
    yt = torch.from_numpy(y)
    module.train()
    for _ in range(epochs):
        perm = torch.randperm(len(Xt))
        for start in range(0, len(Xt), batch_size):
            idx = perm[start : start + batch_size]
            opt.zero_grad()
            loss = loss_fn(module(Xt[idx]), yt[idx])
            loss.backward()
            opt.step()
            sched.step()
    return module


def plain_pytorch_predict(module, X, batch_size):
    module.eval()
    Xt = torch.from_numpy(X.astype(np.float32)[:, :, None])
    out = []
    with torch.inference_mode():
        for start in range(0, len(Xt), batch_size):
            out.append(module(Xt[start : start + batch_size]).argmax(1))
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

    # fit overhead: warm both up, then alternate them; this shared machine's
    # speed drifts, so report the median of the per-pair ratios
    est = SequenceClassifier(**{**SETTINGS, "max_epochs": 1}).fit(X_train, y_train)
    plain_pytorch_fit(X_train, y_train, 21, 1, est.batch_size, est.lr, 0)
    est.set_params(max_epochs=args.epochs)
    ratios, t_est, t_plain = [], [], []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        est.fit(X_train, y_train)
        t_est.append((time.perf_counter() - t0) / args.epochs)
        t0 = time.perf_counter()
        plain_pytorch_fit(
            X_train, y_train, 21, args.epochs, est.batch_size, est.lr, 0
        )
        t_plain.append((time.perf_counter() - t0) / args.epochs)
        ratios.append(t_est[-1] / t_plain[-1])
    print(
        f"fit per epoch (batch {est.batch_size}, {args.repeats} pairs): sklstm "
        f"median {np.median(t_est):.3f} s, plain PyTorch median "
        f"{np.median(t_plain):.3f} s, median ratio {np.median(ratios):.3f}"
    )

    # predict overhead on the 1,038,576 held-out strings
    pbs = est.net_.iterator_valid__batch_size
    p_est, p_plain, p_ratios = [], [], []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        pred = est.predict(X_test)
        p_est.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        pred_plain = plain_pytorch_predict(est.net_.module_, X_test, pbs)
        p_plain.append(time.perf_counter() - t0)
        p_ratios.append(p_est[-1] / p_plain[-1])
    assert (est.classes_[pred_plain] == pred).all()
    print(
        f"predict {len(X_test)} strings (batch {pbs}): sklstm median "
        f"{np.median(p_est):.2f} s, plain PyTorch median {np.median(p_plain):.2f} s, "
        f"median ratio {np.median(p_ratios):.3f}"
    )
    before, after = peak_memory_of_predict(est, X_test)
    print(f"peak RSS of a fresh process predicting: {after:.0f} MB "
          f"({before:.0f} MB after loading data and model)")
    print(f"this process peak RSS: "
          f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


if __name__ == "__main__":
    main()
