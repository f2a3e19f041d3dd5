"""Scaling out: a grid search on a local Dask cluster against n_jobs=1, and
one network trained by two processes (``--data-parallel``).

Needs the ``distributed`` extra (``pip install -e ".[distributed]"``). Run alone
(no other torch process on the machine)::

    .venv/bin/python benchmarks/bench_scaling.py
    .venv/bin/python benchmarks/bench_scaling.py --data-parallel

Prints the wall time of ``GridSearchCV(SequenceClassifier(...), grid, cv=3)``
over 8 candidates run with ``n_jobs=1`` in this process and on a
``LocalCluster(n_workers=2, threads_per_worker=1, processes=True)`` through
``joblib.parallel_config(backend="dask")``, their ratio, and whether the
cross-validated scores are identical. The cluster's start-up (workers
started, sklstm imported in each) is not timed.

Each search runs in a fresh process (a cluster started after another one in
the same process ran markedly slower), ``--rounds`` times each, alternating,
and the medians are compared. The cluster runs with Dask's defaults, and
with the two settings the Scaling out page recommends for workers that
train torch models: no
``MALLOC_TRIM_THRESHOLD_=65536`` in the workers' environment (it makes glibc
hand memory back to the system so eagerly that torch's many small
allocations slow training down by a third or more) and no statistical
profiler sampling the training thread every 10 ms.

``--data-parallel`` trains one ``SequenceClassifier`` on a fixed task (2,000
sequences of 50 steps, 10 epochs, seeds 0, 1 and 2) three ways: one
process with batches of 64, one with batches of 32, and two processes under ``torchrun`` (gloo,
Accelerate, one torch thread each) with batches of 32 each, a global batch
of 64. It prints the final training loss, the median epoch time and the
held-out accuracy of each (needs the ``accelerate`` extra).
"""

import argparse
import json
import subprocess
import sys
import time

import dask
import joblib
import numpy as np
import torch
from distributed import Client, LocalCluster
from sklearn.model_selection import GridSearchCV

from sklstm import SequenceClassifier

# Dask settings for workers that train torch models (see the docstring)
TORCH_WORKERS = {
    "distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None,
    "distributed.worker.profile.enabled": False,
}

GRID = {"pooling": ["max", "last"], "cell": ["lstm", "gru"], "num_hidden": [16, 32]}


def make_data(n=400, steps=40, seed=0):
    rng = np.random.RandomState(seed)
    X = rng.normal(size=(n, steps, 3))
    return X, (X[:, : steps // 2, 0].sum(axis=1) > X[:, steps // 2 :, 1].sum(axis=1)) * 1


SEEDS = (0, 1, 2)


def data_parallel_fits(batch_size, accelerator=None):
    """Fit the data-parallel task once per seed; return a one-line summary."""
    X, y = make_data(n=2500, steps=50, seed=1)
    losses, epochs, scores = [], [], []
    for seed in SEEDS:
        clf = SequenceClassifier(max_epochs=10, batch_size=batch_size, random_state=seed,
                                 accelerator=accelerator).fit(X[:2000], y[:2000])
        losses.append(clf.history_["train_loss"].iloc[-1])
        epochs.append(clf.history_["dur"].median())
        scores.append(clf.score(X[2000:], y[2000:]))
    return (f"final train loss {np.mean(losses):.3f} +- {np.std(losses):.3f} "
            f"({', '.join(f'{v:.3f}' for v in losses)}), "
            f"median epoch {np.median(epochs):.2f} s, "
            f"held-out accuracy {np.mean(scores):.3f}")


def data_parallel():
    import os
    import socket

    if os.environ.get("WORLD_SIZE"):  # a rank under torchrun
        from accelerate import Accelerator

        accelerator = Accelerator(cpu=True)
        summary = data_parallel_fits(32, accelerator)
        if accelerator.is_main_process:
            print(f"2 processes x 1 thread, batches of 32 each: {summary}", flush=True)
        return
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads here; "
          f"seeds {SEEDS}")
    for batch_size in (64, 32):
        print(f"1 process, batches of {batch_size}: {data_parallel_fits(batch_size)}",
              flush=True)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2",
                    f"--master_port={port}", __file__, "--data-parallel"], check=True)


RUNS = {
    "n_jobs=1": None,
    "Dask, 2 workers x 1 thread, tuned for torch": TORCH_WORKERS,
    "Dask, 2 workers x 1 thread, Dask defaults": {},
}


def run_search(name, epochs):
    """One search, in this (fresh) process; prints its time and scores as JSON."""
    X, y = make_data()
    est = SequenceClassifier(max_epochs=epochs, random_state=0)
    environ = RUNS[name]
    if environ is None:
        start = time.perf_counter()
        search = GridSearchCV(est, GRID, cv=3, n_jobs=1).fit(X, y)
        seconds = time.perf_counter() - start
    else:
        with dask.config.set(environ):
            search, seconds = search_on_cluster(est, X, y)
    print(json.dumps({"seconds": seconds,
                      "scores": search.cv_results_["mean_test_score"].tolist(),
                      "best": str(search.best_params_)}))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--data-parallel", action="store_true")
    parser.add_argument("--run", choices=sorted(RUNS), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.data_parallel:
        return data_parallel()
    if args.run:
        return run_search(args.run, args.epochs)
    X, _ = make_data()
    n_candidates = int(np.prod([len(v) for v in GRID.values()]))
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads here; "
          f"{n_candidates} candidates x 3 folds, {len(X)} sequences of {X.shape[1]} "
          f"steps, {args.epochs} epochs; each search in a fresh process, "
          f"{args.rounds} rounds")
    results = {name: [] for name in RUNS}
    for _ in range(args.rounds):
        for name in RUNS:
            done = subprocess.run(
                [sys.executable, __file__, "--run", name, "--epochs", str(args.epochs)],
                capture_output=True, text=True, check=True,
            )
            result = json.loads(done.stdout.strip().splitlines()[-1])
            results[name].append(result)
            print(f"{name}: {result['seconds']:.1f} s", flush=True)
    local = results["n_jobs=1"]
    local_s = np.median([r["seconds"] for r in local])
    for name, runs in results.items():
        if RUNS[name] is None:
            continue
        seconds = np.median([r["seconds"] for r in runs])
        same = all(r["scores"] == local[0]["scores"] for r in runs + local)
        print(f"{name}: median {seconds:.1f} s against {local_s:.1f} s, ratio "
              f"{seconds / local_s:.3f} (goal <= 0.65); identical scores: {same}; "
              f"best {runs[0]['best']}")


def search_on_cluster(est, X, y):
    """The grid search on a fresh 2-worker LocalCluster: (search, seconds)."""
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      host="127.0.0.1", dashboard_address=None) as cluster, \
            Client(cluster) as client:
        # start-up, not timed: workers up, with torch, skorch and sklstm imported
        client.run(lambda: __import__("sklstm").SequenceClassifier().get_params())
        start = time.perf_counter()
        with joblib.parallel_config(backend="dask"):
            remote = GridSearchCV(est, GRID, cv=3, n_jobs=-1).fit(X, y)
        return remote, time.perf_counter() - start



if __name__ == "__main__":
    main()
