"""Scaling out: a grid search on a local Dask cluster against n_jobs=1.

Needs the ``distributed`` extra (``pip install -e ".[distributed]"``). Run alone
(no other torch process on the machine)::

    .venv/bin/python benchmarks/bench_scaling.py

Prints the wall time of ``GridSearchCV(SequenceClassifier(...), grid, cv=3)``
over 8 candidates run with ``n_jobs=1`` in this process and on a
``LocalCluster(n_workers=2, threads_per_worker=1, processes=True)`` through
``joblib.parallel_config(backend="dask")``, their ratio, and whether the
cross-validated scores are identical. The cluster's start-up (workers
started, sklstm imported in each) is not timed.

The cluster runs twice: with Dask's defaults, and with the two settings the
Scaling out page recommends for workers that train torch models: no
``MALLOC_TRIM_THRESHOLD_=65536`` in the workers' environment (it makes glibc
hand memory back to the system so eagerly that torch's many small
allocations slow training down by a third or more) and no statistical
profiler sampling the training thread every 10 ms.
"""

import argparse

import dask
import time

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


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=15)
    args = parser.parse_args()
    X, y = make_data()
    est = SequenceClassifier(max_epochs=args.epochs, random_state=0)
    n_candidates = int(np.prod([len(v) for v in GRID.values()]))
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads here; "
          f"{n_candidates} candidates x 3 folds, {len(X)} sequences of {X.shape[1]} steps")

    start = time.perf_counter()
    local = GridSearchCV(est, GRID, cv=3, n_jobs=1).fit(X, y)
    local_s = time.perf_counter() - start
    print(f"n_jobs=1: {local_s:.1f} s", flush=True)

    for label, environ in [
        ("Dask defaults", {}),
        ("tuned for torch", TORCH_WORKERS),
    ]:
        with dask.config.set(environ):
            remote, remote_s = search_on_cluster(est, X, y)
        same = np.array_equal(
            local.cv_results_["mean_test_score"], remote.cv_results_["mean_test_score"]
        )
        print(f"Dask, 2 workers x 1 thread, {label}: {remote_s:.1f} s, ratio "
              f"{remote_s / local_s:.3f} (goal <= 0.65); identical scores: {same}; "
              f"best {remote.best_params_} at {remote.best_score_:.3f}", flush=True)


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
