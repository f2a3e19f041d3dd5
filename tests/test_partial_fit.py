"""partial_fit: streaming one pass per call, and searches over epochs."""

import numpy as np
import pytest
from sklearn.experimental import enable_halving_search_cv  # noqa: F401
from sklearn.model_selection import HalvingGridSearchCV

from sklstm import SequenceClassifier, SequenceRegressor, SequenceTagger

FAST = dict(num_hidden=8, batch_size=16, lr=0.01, random_state=0)


def _chunks(n_chunks=4, size=40, seed=0):
    rng = np.random.RandomState(seed)
    for _ in range(n_chunks):
        X = rng.normal(size=(size, 12, 2))
        yield X, (X[:, :, 0].sum(axis=1) > 0).astype(int)


def test_classifier_streams_chunks():
    clf = SequenceClassifier(**FAST)
    with pytest.raises(ValueError, match="classes must be passed on the first call"):
        clf.partial_fit(*next(_chunks()))
    for epoch in range(15):
        for X, y in _chunks():
            clf.partial_fit(X, y, classes=[0, 1])
    assert clf.n_iter_ == 15 * 4  # one epoch per call
    assert len(clf.history_) == 60
    assert clf.classes_.tolist() == [0, 1]
    X_new, y_new = next(_chunks(seed=1))
    assert clf.score(X_new, y_new) > 0.85
    # the learning rate is the constant lr: no schedule across calls
    assert clf.net_.optimizer_.param_groups[0]["lr"] == FAST["lr"]
    assert "lr_schedule" not in dict(clf.net_.callbacks_)
    with pytest.raises(ValueError, match=r"y holds classes \[2\] that are not in"):
        clf.partial_fit(X_new, np.full(len(X_new), 2))


def test_partial_fit_continues_fit_and_keeps_the_layout():
    X, y = next(_chunks())
    clf = SequenceClassifier(max_epochs=2, **FAST).fit(X, y)
    module = clf.net_.module_
    clf.partial_fit(X, y)  # classes known from fit
    assert clf.n_iter_ == 3 and clf.net_.module_ is module
    with pytest.raises(ValueError, match="3 features per step"):
        clf.partial_fit(np.ones((4, 12, 3)), [0, 1, 0, 1])
    # a new fit starts again
    assert clf.fit(X, y).n_iter_ == 2


def test_regressor_and_tagger_stream_chunks():
    reg = SequenceRegressor(**FAST)
    tagger = SequenceTagger(**FAST)
    for _ in range(10):
        for X, y in _chunks():
            reg.partial_fit(X, X[:, :, 0].sum(axis=1))
            tagger.partial_fit(X, (np.cumsum(X[:, :, 0], axis=1) > 0) * 1, classes=[0, 1])
    assert reg.n_iter_ == tagger.n_iter_ == 40
    X_new, _ = next(_chunks(seed=1))
    assert reg.score(X_new, X_new[:, :, 0].sum(axis=1)) > 0.8
    assert tagger.score(X_new, (np.cumsum(X_new[:, :, 0], axis=1) > 0) * 1) > 0.8


def test_halving_search_over_epochs():
    X, y = next(_chunks(size=60))
    search = HalvingGridSearchCV(
        SequenceClassifier(**FAST),
        {"pooling": ["max", "last"], "num_hidden": [4, 8]},
        resource="max_epochs", min_resources=2, max_resources=8, factor=2, cv=2,
        random_state=0,
    ).fit(X, y)
    assert sorted(set(search.cv_results_["param_max_epochs"])) == [2, 4, 8]
    assert search.best_estimator_.n_iter_ == search.best_params_["max_epochs"]


def test_partial_fit_keeps_the_optimizer_state_and_a_constant_rate():
    X = np.random.RandomState(0).normal(size=(24, 5, 2)).astype(np.float32)
    y = np.arange(24) % 2
    clf = SequenceClassifier(num_hidden=4, batch_size=8, lr=0.01, random_state=0)
    clf.partial_fit(X, y, classes=[0, 1])
    clf.partial_fit(X, y)
    optimizer = clf.net_.optimizer_
    # Adam's moments carried across calls: 3 batches per call, 2 calls
    assert int(optimizer.state_dict()["state"][0]["step"]) == 6
    assert optimizer.param_groups[0]["lr"] == 0.01
    assert "lr_schedule" not in dict(clf.net_.callbacks_)
