"""Ctrl+C during a fit's inner search: the search stops as a whole, at
once, and the estimator keeps what it had (a real SIGINT, raised from the
thread that trains, as the kernel may deliver Ctrl+C to any thread)."""

import signal
import time

import numpy as np
import pytest
import torch
from sklearn.exceptions import NotFittedError

from sklstm import SequenceClassifier, SequenceRegressor
from sklstm._net import _SequenceNet
from sklstm._threads import map_in_threads, stop_requested, stoppable

pytestmark = pytest.mark.usefixtures("sigint_raises_keyboard_interrupt")

rng = np.random.RandomState(0)
X = rng.normal(size=(60, 16, 2)).astype(np.float32)
Y = (X[:, :, 0].sum(axis=1) > 0).astype(int)
# input_differences="auto": an inner search of 3 candidates x 3 folds
PARAMS = dict(max_epochs=30, n_networks=1, num_hidden=8, batch_size=16, random_state=0,
              input_differences="auto")


@pytest.fixture
def fits(monkeypatch):
    """Record the epochs of every fit that trains, and raise SIGINT in the
    second epoch of the first one (from its own thread)."""
    epochs = []
    original = _SequenceNet.on_batch_end

    def on_batch_end(net, *args, **kwargs):
        second_epoch = len(net.history) == 2 and len(net.history[-1]["batches"]) == 1
        if second_epoch and not epochs:
            epochs.append("interrupted")
            signal.raise_signal(signal.SIGINT)
        return original(net, *args, **kwargs)

    def on_train_end(net, *args, **kwargs):
        epochs.append(len(net.history))

    monkeypatch.setattr(_SequenceNet, "on_batch_end", on_batch_end)
    monkeypatch.setattr(_SequenceNet, "on_train_end", on_train_end)
    return epochs


@pytest.mark.parametrize(
    "n_threads", [1, 2], ids=["fits in this thread", "fits side by side"]
)
@pytest.mark.parametrize("Estimator", [SequenceClassifier, SequenceRegressor])
def test_ctrl_c_stops_the_whole_search_of_an_unfitted_estimator(
    Estimator, n_threads, fits
):
    y = Y if Estimator is SequenceClassifier else X[:, :, 1].sum(axis=1)
    est = Estimator(**PARAMS)
    before = torch.get_num_threads()
    torch.set_num_threads(n_threads)
    try:
        with pytest.raises(KeyboardInterrupt):
            est.fit(X, y)
    finally:
        torch.set_num_threads(before)
    # the fits running at the interrupt ended soon after it (in its second
    # epoch, or a few later in the other thread; not after 30), and no other
    # fit of the search began
    assert fits[0] == "interrupted"
    assert 1 <= len(fits[1:]) <= n_threads
    assert all(epochs <= 10 for epochs in fits[1:])
    # nothing half-learned is left: the estimator is not fitted
    assert not [name for name in vars(est) if name.endswith("_")]
    with pytest.raises(NotFittedError):
        est.predict(X)
    # Ctrl+C raises again, and the estimator fits again, to the model an
    # uninterrupted fit makes
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    assert stop_requested() is False
    fits.append("no interrupt in the next fits")
    short = {**PARAMS, "max_epochs": 2}
    np.testing.assert_array_equal(
        Estimator(**short).fit(X, y).predict(X),
        est.set_params(**short).fit(X, y).predict(X),
    )


def test_a_fitted_estimator_keeps_its_model_when_a_refit_is_stopped(fits):
    fits.append("no interrupt in the first fit")
    clf = SequenceClassifier(**{**PARAMS, "input_differences": 1}).fit(X[:, :8], Y)
    learned = {k: v for k, v in vars(clf).items() if k.endswith("_")}
    proba = clf.predict_proba(X[:, :8])
    # a refit on other data, with a search, stopped by Ctrl+C in it
    fits.clear()
    clf.set_params(input_differences="auto")
    X_other = np.concatenate([X, X[:, ::-1]], axis=2)  # 4 features
    with pytest.raises(KeyboardInterrupt):
        clf.fit(X_other, Y[::-1])
    assert fits[0] == "interrupted"
    # the very objects of the first fit, and no others
    assert [k for k in vars(clf) if k.endswith("_")] == list(learned)
    assert all(getattr(clf, k) is v for k, v in learned.items())
    assert clf.n_features_in_ == 2 and clf.input_differences_ == 1
    np.testing.assert_array_equal(clf.predict_proba(X[:, :8]), proba)
    assert clf.input_differences == "auto"  # the parameter set by the user stays


def test_ctrl_c_while_the_network_trains_still_returns_the_network(fits):
    # no search (input_differences given): Ctrl+C ends the training, and fit
    # returns a usable model, as skorch does
    clf = SequenceClassifier(**{**PARAMS, "input_differences": 1}).fit(X, Y)
    assert fits == ["interrupted", 2]
    assert clf.n_iter_ == 2
    assert clf.predict(X).shape == (60,)


def test_a_stoppable_block_stops_the_work_of_its_threads():
    seen = []

    def work(item):
        if item == 0:
            signal.raise_signal(signal.SIGINT)  # from a worker thread
        for _ in range(2000):  # until the stop is seen, at most 20 s
            if stop_requested():
                seen.append(item)
                return item
            time.sleep(0.01)
        return None

    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        with pytest.raises(KeyboardInterrupt), stoppable():
            map_in_threads(work, [0, 1], n_workers=2)
    finally:
        torch.set_num_threads(before)
    assert sorted(seen) == [0, 1]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    assert stop_requested() is False


def test_a_stoppable_block_within_another_stops_with_it():
    with pytest.raises(KeyboardInterrupt), stoppable():
        with stoppable():
            signal.raise_signal(signal.SIGINT)
            assert stop_requested()
        pytest.fail("the inner block did not raise")  # pragma: no cover
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    assert stop_requested() is False
