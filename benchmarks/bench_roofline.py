"""A roofline for the default network: how much of the machine's matrix
throughput sklstm's training and prediction reach.

Run alone (no other torch process on the machine)::

    .venv/bin/python benchmarks/bench_roofline.py [--epochs 3]

For two tasks, the default :class:`~sklstm.SequenceClassifier` on the bit
counting tutorial (10,000 strings of 20 bits; 1,038,576 predicted) and on
GunPoint (aeon's bundled copy: 50 series of 150 steps), it prints:

1. the floating-point operations of one training epoch and of one
   prediction pass, counted by :class:`torch.utils.flop_counter.FlopCounterMode`
   on one batch (forward and backward) with oneDNN's fused recurrent kernel
   switched off, so that the recurrent layers run as the matrix products
   that the counter sees (the elementwise gate arithmetic is not counted,
   as in every roofline);
2. the rate sklstm reaches: those operations over the measured epoch time
   (the median of ``history_["dur"]``) and prediction time;
3. the machine's sustained ``torch.mm`` rate at the network's own shapes
   (the recurrent step's product, batch by units by gates) and at a large
   square shape, and the fraction of each that sklstm reaches.
"""

import argparse
import time

import numpy as np
import torch
from _baselines import synchronize
from torch.utils.flop_counter import FlopCounterMode

from sklstm import SequenceClassifier
from sklstm.datasets import make_bit_counting


def counted_flops(module, X, lengths=None, *, backward):
    """Floating-point operations of ``module`` on one batch (forward, and
    with ``backward`` the backward pass of a sum of its outputs).

    With one torch thread, so that an ensemble evaluates its networks in
    this thread, where the counter sees them (it counts this thread's
    operations only; with two, the networks predict side by side)."""
    module.train(backward)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        # the fused kernels of oneDNN and cuDNN are invisible to the counter
        with torch.backends.mkldnn.flags(enabled=False), \
                torch.backends.cudnn.flags(enabled=False), \
                FlopCounterMode(display=False) as count:
            out = module(X, lengths)
            if backward:
                out.float().sum().backward()
    finally:
        torch.set_num_threads(threads)
    module.zero_grad(set_to_none=True)
    module.eval()
    return count.get_total_flops()


def mm_rate(m, k, n, seconds=1.0, device="cpu", dtype=torch.float32):
    """Sustained GFLOP/s of ``torch.mm`` of (m, k) by (k, n) on ``device``."""
    a = torch.randn(m, k, device=device, dtype=dtype)
    b = torch.randn(k, n, device=device, dtype=dtype)
    for _ in range(10):
        torch.mm(a, b)
    synchronize(device)
    calls, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        for _ in range(20):
            torch.mm(a, b)
        synchronize(device)
        calls += 20
    return 2 * m * k * n * calls / (time.perf_counter() - start) / 1e9


def task(name, clf, X, y, X_test, epochs):
    """Fit ``clf`` for ``epochs`` epochs, time an epoch and a prediction
    pass, and count their operations."""
    clf.set_params(max_epochs=epochs).fit(X, y)
    epoch_s = float(np.median(clf.history_["dur"]))
    start = time.perf_counter()
    clf.predict(X_test)
    predict_s = time.perf_counter() - start
    module = clf.net_.module_
    batch = np.asarray(X[: clf.batch_size], dtype=np.float32)
    batch = torch.from_numpy(batch if batch.ndim == 3 else batch[:, :, None])
    batch = batch.to(next(module.parameters()).device)
    per_sequence_train = counted_flops(module, batch, backward=True) / len(batch)
    per_sequence_predict = counted_flops(module, batch, backward=False) / len(batch)
    train_flops = per_sequence_train * len(X)
    predict_flops = per_sequence_predict * len(X_test)
    return {
        "task": name,
        "epoch GFLOP": train_flops / 1e9,
        "epoch s": epoch_s,
        "train GFLOP/s": train_flops / epoch_s / 1e9,
        "predict GFLOP": predict_flops / 1e9,
        "predict s": predict_s,
        "predict GFLOP/s": predict_flops / predict_s / 1e9,
        "networks": getattr(clf, "n_networks_", 1),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3)
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"CPU capability {torch.backends.cpu.get_cpu_capability()}")
    rows = []
    X, y = make_bit_counting(n_bits=20, random_state=0)
    rows.append(task("bit counting", SequenceClassifier(n_networks=1, random_state=0),
                     X[:10_000], y[:10_000], X[10_000:], args.epochs))
    from aeon.datasets import load_classification

    from sklstm.preprocessing import channels_last

    X, y = load_classification("GunPoint", split="train")
    X_test, _ = load_classification("GunPoint", split="test")
    rows.append(task("GunPoint", SequenceClassifier(random_state=0),
                     channels_last(X), y, channels_last(X_test), args.epochs))
    small = mm_rate(64, 24, 96)  # the recurrent step: batch x units by gates
    small_eval = mm_rate(1024, 24, 96)  # the same in prediction batches
    large = mm_rate(2048, 2048, 2048)
    print(f"torch.mm: {small:.1f} GFLOP/s at 64x24x96, {small_eval:.1f} at "
          f"1024x24x96, {large:.1f} at 2048x2048x2048")
    for row in rows:
        print(
            f"{row['task']} ({row['networks']} network(s)): epoch "
            f"{row['epoch GFLOP']:.2f} GFLOP in {row['epoch s']:.2f} s = "
            f"{row['train GFLOP/s']:.2f} GFLOP/s ({row['train GFLOP/s'] / small:.1%} "
            f"of mm at the step's shape, {row['train GFLOP/s'] / large:.1%} of large mm); "
            f"predict {row['predict GFLOP']:.2f} GFLOP in {row['predict s']:.2f} s = "
            f"{row['predict GFLOP/s']:.2f} GFLOP/s ({row['predict GFLOP/s'] / small_eval:.1%} "
            f"at the step's shape, {row['predict GFLOP/s'] / large:.1%} of large mm)"
        )


if __name__ == "__main__":
    main()
