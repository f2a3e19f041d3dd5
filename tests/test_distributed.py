"""Hyperparameter search on a Dask cluster through joblib's dask backend."""

import joblib
import numpy as np
import pytest
import torch
from sklearn.model_selection import GridSearchCV, RandomizedSearchCV, cross_validate

from sklstm import SequenceClassifier

distributed = pytest.importorskip(
    "distributed", reason="dask.distributed is not installed (pip install sklstm[distributed])"
)

# one network and no inner search: the searches here are dask's
FAST = dict(num_hidden=8, max_epochs=5, batch_size=16, random_state=0, n_networks=1,
            conv_dilations=(1,))
GRID = {"pooling": ["max", "last"], "cell": ["lstm", "gru"]}


@pytest.fixture(scope="module")
def client():
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
        dashboard_address=None,
    ) as cluster, distributed.Client(cluster) as client:
        yield client


@pytest.fixture(scope="module")
def data():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(60, 10, 2))
    return X, (X[:, :, 0].sum(axis=1) > 0).astype(int)


def test_workers_use_their_thread_budget(client):
    threads = client.run(torch.get_num_threads)
    assert len(threads) == 2 and set(threads.values()) == {1}


@pytest.mark.parametrize("Search", [GridSearchCV, RandomizedSearchCV])
def test_search_on_the_cluster_matches_the_local_run(client, data, Search):
    X, y = data
    kwargs = {"n_iter": 3, "random_state": 0} if Search is RandomizedSearchCV else {}
    local = Search(SequenceClassifier(**FAST), GRID, cv=2, **kwargs).fit(X, y)
    with joblib.parallel_config(backend="dask"):
        remote = Search(SequenceClassifier(**FAST), GRID, cv=2, n_jobs=-1, **kwargs)
        remote.fit(X, y)
    np.testing.assert_array_equal(
        remote.cv_results_["mean_test_score"], local.cv_results_["mean_test_score"]
    )
    assert remote.best_params_ == local.best_params_
    # fitted on a worker (one torch thread) and here (this process's
    # threads): the same model, to the last bit
    np.testing.assert_array_equal(
        remote.best_estimator_.predict_proba(X), local.best_estimator_.predict_proba(X)
    )


def test_estimators_come_back_from_the_workers(client, data):
    X, y = data
    local = cross_validate(SequenceClassifier(**FAST), X, y, cv=2, return_estimator=True)
    with joblib.parallel_config(backend="dask"):
        remote = cross_validate(
            SequenceClassifier(**FAST), X, y, cv=2, n_jobs=-1, return_estimator=True
        )
    for est_remote, est_local in zip(remote["estimator"], local["estimator"]):
        assert est_remote.n_iter_ == 5
        np.testing.assert_array_equal(est_remote.predict_proba(X), est_local.predict_proba(X))


def _dask_ml_search_classes():
    """dask-ml's incremental searches, where they run with this dask."""
    dask_ml_selection = pytest.importorskip(
        "dask_ml.model_selection", reason="dask-ml is not installed (pip install dask-ml)"
    )
    import dask

    if tuple(int(v) for v in dask.__version__.split(".")[:2]) >= (2025, 3):
        pytest.skip(
            f"dask-ml's incremental searches fail with dask {dask.__version__} "
            "before they reach the estimator (dask/dask-ml#1016); they run with "
            "dask and distributed 2025.2"
        )
    return dask_ml_selection.IncrementalSearchCV, dask_ml_selection.HyperbandSearchCV


def test_dask_ml_incremental_searches_drive_partial_fit(client):
    IncrementalSearchCV, HyperbandSearchCV = _dask_ml_search_classes()
    import dask.array as da

    rng = np.random.RandomState(0)
    # 2-D: dask-ml's validation split handles two-dimensional X only
    X = rng.normal(size=(200, 10)).astype(np.float32)
    y = (X.sum(axis=1) > 0).astype(int)
    Xd, yd = da.from_array(X, chunks=(50, 10)), da.from_array(y, chunks=50)
    est = SequenceClassifier(num_hidden=8, random_state=0)
    for search in (
        IncrementalSearchCV(est, {"cell": ["lstm", "gru"]}, n_initial_parameters=2,
                            max_iter=3, random_state=0),
        HyperbandSearchCV(est, {"cell": ["lstm", "gru"]}, max_iter=3, random_state=0),
    ):
        search.fit(Xd, yd, classes=[0, 1])
        assert set(search.cv_results_["param_cell"]) <= {"lstm", "gru"}
        best = search.best_estimator_
        # trained by partial_fit calls on the workers, one chunk each
        assert best.n_iter_ >= 1 and list(best.classes_) == [0, 1]
        assert best.predict(X).shape == (200,)
        assert 0.5 < search.best_score_ <= 1.0
