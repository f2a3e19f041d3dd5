"""The fit budget on shapes beyond the selection pool, and the masked batch
normalisation's two computations.

Run alone (no other torch process on the machine)::

    .venv/bin/python benchmarks/bench_budget.py
    .venv/bin/python benchmarks/bench_budget.py --shapes wide-short ragged-long
    .venv/bin/python benchmarks/bench_budget.py --norm

1. **Shapes** (the default). A default fit (``SequenceClassifier(random_state=0)``,
   or ``SequenceRegressor`` where the shape says so) of random data of each
   archive-sized shape that the pool does not cover: many channels, short
   series of many channels, long ragged recordings, many series. The
   labels are random, so only the fit counts: its time (issue 29: at most
   60 s on the 2-core development machine), its plan, and the units of
   work per microsecond that the cost model's estimate comes to. A shape
   whose rate is far above the others' is counted too dearly (it trains
   less than the budget holds); one far below, too cheaply (it may overrun
   the minute). Each fit runs in a fresh process.
2. ``--norm``: one batch normalisation of a ragged batch (64 channels),
   its ReLU and mask, forward and backward, by both computations of
   :class:`sklstm.nn._conv._MaskedBatchNorm1d` (the real steps gathered,
   or sums over the padded batch weighted by the mask), at one and two
   torch threads, for several shares of real steps; it prints the ratio of
   the sums' time to the gathered steps' (below 1: the sums are faster).
   The layer uses the sums from ``_SUMS_FROM_REAL_SHARE`` of real steps.
"""

import argparse
import json
import subprocess
import sys
import time

# name -> (estimator, number of series, steps (or the range of a ragged
# set's lengths), channels)
SHAPES = {
    "wide": ("classifier", 267, 144, 963),
    "wider": ("classifier", 50, 270, 1345),
    "wide-long": ("classifier", 204, 405, 61),
    "wide-short": ("classifier", 300, 20, 1000),
    "many-short": ("classifier", 1000, 30, 200),
    "ragged-long": ("classifier", 300, (1000, 2600), 6),
    "many-ragged": ("classifier", 1000, (60, 600), 1),
    "regression-long": ("regressor", 500, 1000, 1),
    "regression-wide": ("regressor", 300, 200, 30),
}


def fit_once(name):
    """Fit the default estimator on random data of shape ``name``; returns a
    dict of its fit time and plan."""
    import warnings

    import numpy as np

    from sklstm import SequenceClassifier, SequenceRegressor

    kind, n, steps, channels = SHAPES[name]
    rng = np.random.default_rng(0)
    if isinstance(steps, tuple):
        lengths = rng.integers(steps[0], steps[1] + 1, n)
        X = [rng.normal(size=(L, channels)).cumsum(0) / 10 for L in lengths]
    else:
        X = (rng.normal(size=(n, steps, channels)).cumsum(1) / 10).astype(np.float32)
    if kind == "regressor":
        y, model = rng.normal(size=n), SequenceRegressor(random_state=0)
    else:
        y, model = rng.integers(0, 5, n), SequenceClassifier(random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        start = time.perf_counter()
        model.fit(X, y)
        seconds = time.perf_counter() - start
    return {"seconds": seconds, "plan": model.fit_plan_}


def run_shapes(names):
    print(f"{'shape':<16} {'fit s':>6}  {'units/us':>8}  plan")
    slowest = 0.0
    for name in names:
        out = subprocess.run(
            [sys.executable, __file__, "--child", name],
            capture_output=True, text=True, check=True,
        ).stdout.strip().splitlines()[-1]
        result = json.loads(out)
        plan, seconds = result["plan"], result["seconds"]
        slowest = max(slowest, seconds)
        rate = plan["work"] / seconds / 1e6
        networks = plan["n_networks"]
        print(f"{name:<16} {seconds:>6.1f}  {rate:>8.2f}  {plan['epochs']} epochs, "
              f"{networks} network{'s' * (networks != 1)}, "
              f"search {'yes' if plan['search'] else 'no'}", flush=True)
    print(f"longest fit {slowest:.1f} s ({'within' if slowest <= 60 else 'OVER'} the minute)")


def run_norm(repeats):
    import torch

    from sklstm.nn._conv import _MaskedBatchNorm1d

    print("batch x steps   real share  threads  gathered ms  sums ms  ratio")
    for batch, n_steps in ((50, 180), (64, 1300)):
        for low in (0.0, 0.4, 0.8):
            gen = torch.Generator().manual_seed(0)
            lengths = torch.randint(max(1, int(n_steps * low)), n_steps + 1, (batch,),
                                    generator=gen)
            lengths[0] = n_steps
            mask = torch.arange(n_steps) < lengths[:, None]
            X = torch.randn(batch, 64, n_steps, generator=gen, requires_grad=True)
            grad = torch.randn(batch, 64, n_steps, generator=gen)
            share = float(mask.float().mean())
            for threads in (1, 2):
                torch.set_num_threads(threads)
                times = []
                for method in ("_gathered", "_summed"):
                    norm = _MaskedBatchNorm1d(64).train()

                    def step():
                        out = getattr(norm, method)(X, mask)
                        ((torch.relu(out) * mask[:, None, :]) * grad).sum().backward()

                    for _ in range(3):
                        step()
                    n = repeats if n_steps < 500 else max(1, repeats // 4)
                    start = time.perf_counter()
                    for _ in range(n):
                        step()
                    times.append((time.perf_counter() - start) / n * 1000)
                print(f"{batch:>4} x {n_steps:<6}  {share:>10.2f}  {threads:>7}  "
                      f"{times[0]:>11.2f}  {times[1]:>7.2f}  {times[1] / times[0]:>5.2f}",
                      flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shapes", nargs="*", default=list(SHAPES), choices=list(SHAPES))
    parser.add_argument("--norm", action="store_true")
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(fit_once(args.child)))
    elif args.norm:
        run_norm(args.repeats)
    else:
        run_shapes(args.shapes)


if __name__ == "__main__":
    main()
