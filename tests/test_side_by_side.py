"""The networks of an ensemble trained side by side, one thread each
(``sklstm._threads``, ``NetworkEnsemble.map_networks``)."""

import threading
import time

import numpy as np
import pytest
import torch

import sklstm.nn._ensemble
from sklstm import SequenceClassifier, SequenceRegressor
from sklstm._net import _SequenceNet
from sklstm._threads import map_in_threads, worker_count
from sklstm.nn import NetworkEnsemble, RecurrentNetwork


@pytest.fixture
def two_workers(monkeypatch):
    """Two threads for the ensembles, whatever this machine's core count."""
    monkeypatch.setattr(sklstm.nn._ensemble, "worker_count", lambda n, device: 2)


@pytest.fixture
def one_worker(monkeypatch):
    """The networks one after another, in this thread."""
    monkeypatch.setattr(sklstm.nn._ensemble, "worker_count", lambda n, device: 1)


def test_map_in_threads_keeps_order_modes_and_raises():
    main = threading.get_ident()
    seen = []

    def probe(item):
        seen.append(threading.get_ident())
        return item, torch.is_grad_enabled(), torch.is_inference_mode_enabled()

    with torch.no_grad():
        results = map_in_threads(probe, range(6), n_workers=2)
    assert [r[0] for r in results] == list(range(6))
    assert not any(r[1] for r in results)  # the caller's gradient mode
    assert main not in seen  # in the workers
    with torch.inference_mode():
        assert all(r[2] for r in map_in_threads(probe, range(3), n_workers=2))

    def fail(item):
        if item == 2:
            raise ValueError("item 2 is bad")
        return item

    with pytest.raises(ValueError, match="item 2 is bad"):
        map_in_threads(fail, range(4), n_workers=2)

    # an error returns once the other items running have finished (an
    # interrupted fit leaves no network training in the background)
    finished = []

    def slow_or_fail(item):
        if item == 0:
            raise ValueError("item 0 is bad")
        time.sleep(0.3)
        finished.append(item)

    with pytest.raises(ValueError, match="item 0 is bad"):
        map_in_threads(slow_or_fail, [0, 1], n_workers=2)
    assert finished == [1]
    # one worker: here, in this thread
    seen.clear()
    map_in_threads(probe, range(3), n_workers=1)
    assert set(seen) == {main}


def test_each_worker_runs_torch_on_its_share_of_the_threads():
    before = torch.get_num_threads()
    torch.set_num_threads(4)
    try:
        counts = map_in_threads(lambda _: torch.get_num_threads(), range(4), n_workers=2)
        assert counts == [2, 2, 2, 2]
        assert torch.get_num_threads() == 4  # this thread's own is unchanged
        assert worker_count(10) == 4 and worker_count(3) == 3 and worker_count(0) == 1
        assert worker_count(10, "cuda") == 1
    finally:
        torch.set_num_threads(before)


def test_networks_side_by_side_compute_what_they_compute_alone(two_workers):
    """Forward and backward passes of each network in a thread of its own
    give each network the outputs and gradients it gets alone (one thread,
    the same arithmetic: equal to the bit)."""
    torch.manual_seed(0)
    ensemble = NetworkEnsemble(3, n_features=1, n_outputs=3, bidirectional=True,
                               conv_layers=2, pooling="max", input_differences=1)
    X, y = torch.randn(8, 60, 1), torch.randint(3, (8,))
    lengths = torch.tensor([60, 12, 33, 60, 5, 41, 59, 20])
    loss = torch.nn.functional.cross_entropy
    alone = []
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        for network in ensemble.networks:
            lone = RecurrentNetwork(n_features=1, n_outputs=3, bidirectional=True,
                                    conv_layers=2, pooling="max", input_differences=1)
            lone.load_state_dict(network.state_dict())
            loss(lone.train()(X, lengths), y).backward()
            alone.append([p.grad for p in lone.parameters()])
            lone.eval()
            alone[-1].append(lone(X, lengths))
    finally:
        torch.set_num_threads(before)
    ensemble.train()
    threads = set()

    def step(network):
        threads.add(threading.get_ident())
        loss(network(X, lengths), y).backward()

    ensemble.map_networks(step)
    assert threading.get_ident() not in threads  # in the workers
    ensemble.eval()
    outputs = ensemble.map_networks(lambda network: network(X, lengths))
    for network, output, expected in zip(ensemble.networks, outputs, alone):
        grads = [p.grad for p in network.parameters()]
        for grad, lone_grad in zip(grads, expected[:-1]):
            torch.testing.assert_close(grad, lone_grad, rtol=1e-5, atol=1e-7)
        torch.testing.assert_close(output, expected[-1], rtol=1e-5, atol=1e-7)


def _data(n=40, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 30, 2)).astype(np.float32)
    y = (X[:, :, 0].sum(1) > 0).astype(int)
    return X, y


FAST = dict(num_hidden=8, max_epochs=4, batch_size=16, n_networks=3,
            conv_dilations=(1,), random_state=0)


@pytest.mark.parametrize("Estimator", [SequenceClassifier, SequenceRegressor])
def test_fits_side_by_side_as_one_after_another(Estimator, monkeypatch):
    """A fit whose networks train side by side predicts as one whose
    networks train one after another, at the same thread count per network."""
    X, y = _data()
    steps = []
    side_by_side = _SequenceNet._train_networks_side_by_side

    def counted(net, *args, **kwargs):
        steps.append(1)
        return side_by_side(net, *args, **kwargs)

    monkeypatch.setattr(_SequenceNet, "_train_networks_side_by_side", counted)
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        monkeypatch.setattr(sklstm.nn._ensemble, "worker_count", lambda n, device: 1)
        alone = Estimator(**FAST).fit(X, y)
        assert not steps  # one after another
        monkeypatch.setattr(sklstm.nn._ensemble, "worker_count", lambda n, device: 2)
        side = Estimator(**FAST).fit(X, y)
        assert len(steps) == FAST["max_epochs"] * 3  # 40 series, batches of 16
        again = Estimator(**FAST).fit(X, y)  # reproducible
    finally:
        torch.set_num_threads(before)
    predict = "predict_proba" if Estimator is SequenceClassifier else "predict"
    expected = getattr(alone, predict)(X)
    np.testing.assert_allclose(getattr(side, predict)(X), expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(getattr(again, predict)(X), getattr(side, predict)(X))
    np.testing.assert_allclose(
        side.history_["train_loss"], alone.history_["train_loss"], rtol=1e-5
    )


def test_networks_that_draw_random_numbers_train_one_after_another(two_workers):
    """Dropout or training windows draw from torch's global generator: in
    threads, in no fixed order. Such ensembles keep one thread."""
    assert NetworkEnsemble(2, n_features=1).trains_side_by_side
    for params in ({"dropout": 0.2}, {"crop_fraction": 0.7}, {"weight_dropout": 0.3},
                   {"num_layers": 2, "dropout": 0.1, "locked_dropout": True}):
        ensemble = NetworkEnsemble(2, n_features=1, **params)
        assert not ensemble.trains_side_by_side, params
    X, y = _data()
    first, second = (
        SequenceClassifier(**FAST, dropout=0.3).fit(X, y).predict_proba(X)
        for _ in range(2)
    )
    np.testing.assert_array_equal(first, second)


def test_one_worker_trains_one_network_after_another(one_worker):
    assert not NetworkEnsemble(2, n_features=1).trains_side_by_side


@pytest.mark.parametrize("n_workers", [1, 2])
def test_inner_search_computes_what_grid_search_computes(n_workers):
    """The inner search's fits side by side: the candidates, folds, scores
    and choice of scikit-learn's GridSearchCV, sample weights to the fits."""
    from sklearn import config_context
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import accuracy_score, make_scorer
    from sklearn.model_selection import GridSearchCV, StratifiedKFold

    from sklstm._search import best_beyond_noise, inner_search

    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 4))
    y = (X[:, 0] + 0.5 * rng.normal(size=60) > 0).astype(int)
    weight = np.where(y == 1, 2.0, 1.0)
    grid = {"C": [0.01, 1.0], "fit_intercept": [True, False]}
    cv = StratifiedKFold(3, shuffle=True, random_state=0)
    results = inner_search(LogisticRegression(), grid, X, y, cv=cv,
                           sample_weight=weight, n_workers=n_workers)
    # the weights to the fits and to the scores, routed explicitly (without
    # routing, scikit-learn before 1.7 scores the folds unweighted)
    with config_context(enable_metadata_routing=True):
        reference = GridSearchCV(
            LogisticRegression().set_fit_request(sample_weight=True), grid, cv=cv,
            refit=False,
            scoring=make_scorer(accuracy_score).set_score_request(sample_weight=True),
        )
        reference.fit(X, y, sample_weight=weight)
    assert results["params"] == list(reference.cv_results_["params"])
    np.testing.assert_allclose(results["mean_test_score"],
                               reference.cv_results_["mean_test_score"])
    np.testing.assert_allclose(results["std_test_score"],
                               reference.cv_results_["std_test_score"])
    np.testing.assert_allclose(
        results["split_test_scores"],
        np.array([reference.cv_results_[f"split{k}_test_score"] for k in range(3)]).T,
    )
    assert results["best_params"] == reference.best_params_
    # with the regressor's rule, the best mean where it beats the simplest
    # candidate beyond the folds' noise
    careful = inner_search(LogisticRegression(), grid, X, y, cv=cv,
                           sample_weight=weight, n_workers=n_workers, noise_se=2)
    assert careful["best_params"] == careful["params"][
        best_beyond_noise(careful["split_test_scores"], 2)
    ]


def test_search_fits_side_by_side_are_reproducible():
    """Two fits whose inner search runs side by side choose and predict alike."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(36, 120, 1)).astype(np.float32)
    y = np.arange(36) % 2
    X[y == 1, 30:60, 0] += 1.5
    fits = [
        SequenceClassifier(num_hidden=4, max_epochs=3, n_networks=2, random_state=0).fit(X, y)
        for _ in range(2)
    ]
    assert fits[0].auto_search_ is not None
    np.testing.assert_array_equal(fits[0].auto_search_["mean_test_score"],
                                  fits[1].auto_search_["mean_test_score"])
    np.testing.assert_array_equal(fits[0].predict_proba(X), fits[1].predict_proba(X))


def _map_twice_in_child(queue):
    queue.put(map_in_threads(lambda x: x + 1, [1, 2], n_workers=2))


def test_a_forked_child_makes_its_own_threads():
    """A pool made before a fork has no threads in the child, though it
    counts them as idle: the child makes a new pool instead of waiting
    for them for ever."""
    import multiprocessing

    # the parent's pool, both of its threads started and now idle
    map_in_threads(lambda x: time.sleep(0.2), [1, 2], n_workers=2)
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    child = context.Process(target=_map_twice_in_child, args=(queue,))
    child.start()
    child.join(timeout=30)
    assert child.exitcode == 0
    assert queue.get(timeout=5) == [2, 3]
