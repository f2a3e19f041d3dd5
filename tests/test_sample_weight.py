"""sample_weight in fit, and the bad inputs that real data brings."""

import numpy as np
import pytest
import torch

from sklstm import SequenceClassifier, SequenceRegressor, SequenceTagger

FAST = dict(num_hidden=8, max_epochs=40, batch_size=16, lr=0.03, random_state=0)


def _conflicting(n=40):
    """Identical sequences with both labels: only the weights can decide."""
    rng = np.random.RandomState(0)
    X = np.repeat(rng.normal(size=(1, 6, 2)), n, axis=0)
    y = np.arange(n) % 2
    return X, y


def test_classifier_follows_the_weights():
    X, y = _conflicting()
    for heavy in (0, 1):
        w = np.where(y == heavy, 9.0, 1.0)
        clf = SequenceClassifier(**FAST).fit(X, y, sample_weight=w)
        assert (clf.predict(X) == heavy).all()
        # the weighted mean of the labels: probability 0.9 for the heavy class
        np.testing.assert_allclose(clf.predict_proba(X[:1])[0, heavy], 0.9, atol=0.05)


def test_regressor_learns_the_weighted_mean():
    X, y = _conflicting()
    # the summary path on (its ridge weighs too), without the inner search
    reg = SequenceRegressor(**FAST, summary_points=4, per_sequence_features=False)
    reg.fit(X, y.astype(float), sample_weight=np.where(y, 3.0, 1.0))
    np.testing.assert_allclose(reg.predict(X[:1]), 0.75, atol=0.05)


def test_tagger_weighs_every_step_of_a_sequence():
    X, y = _conflicting()
    Y = np.repeat(y[:, None], 6, axis=1)
    tagger = SequenceTagger(**FAST).fit(X, Y, sample_weight=np.where(y, 1.0, 9.0))
    assert (tagger.predict(X) == 0).all()
    with pytest.raises(ValueError, match="not available with bptt"):
        SequenceTagger(bptt=3, **FAST).fit(X, Y, sample_weight=np.where(y, 1.0, 9.0))


def test_weighted_loss_is_a_weighted_mean():
    X, y = _conflicting(8)
    w = np.array([1, 2, 3, 4, 5, 6, 7, 8], dtype=float)
    clf = SequenceClassifier(max_epochs=1, class_weight="balanced", num_hidden=4, n_networks=1)
    clf.fit(X, y, sample_weight=w)
    net = clf.net_
    logits = torch.randn(8, 2)
    target = torch.as_tensor(y)
    loss = net.get_loss(logits, target, X={"sample_weight": torch.as_tensor(w)})
    each = torch.nn.functional.cross_entropy(logits, target, reduction="none")
    expected = (each * torch.as_tensor(w)).sum() / torch.as_tensor(w).sum()
    torch.testing.assert_close(loss, expected.float())


def test_uniform_weights_change_nothing():
    X, y = _conflicting(20)
    X = X + np.random.RandomState(1).normal(size=X.shape)
    a = SequenceClassifier(**FAST).fit(X, y).predict_proba(X)
    b = SequenceClassifier(**FAST).fit(X, y, sample_weight=np.full(20, 3.0)).predict_proba(X)
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize(
    "w, error, match",
    [
        (np.ones(3), ValueError, "sample_weight.shape"),
        (-np.ones(20), ValueError, "Negative values in data"),
        (np.zeros(20), ValueError, "at least one non-zero"),
        (np.full(20, np.nan), ValueError, "NaN"),
    ],
)
def test_bad_sample_weight(w, error, match):
    X, y = _conflicting(20)
    with pytest.raises(error, match=match):
        SequenceClassifier(**FAST).fit(X, y, sample_weight=w)


def test_tagger_score_weighs_each_sequence_steps():
    rng = np.random.RandomState(0)
    X = [rng.normal(size=(n, 2)) for n in (3, 5, 4)]
    y = [(x[:, 0] > 0).astype(int) for x in X]
    tagger = SequenceTagger(num_hidden=4, max_epochs=2, random_state=0).fit(X, y)
    hits = [p == t for p, t in zip(tagger.predict(X), y)]
    w = np.array([2.0, 0.0, 1.0])
    expected = (2 * hits[0].sum() + hits[2].sum()) / (2 * 3 + 4)
    assert tagger.score(X, y, sample_weight=w) == pytest.approx(expected)
    # uniform weights: the plain accuracy over steps
    assert tagger.score(X, y, sample_weight=np.full(3, 5.0)) == pytest.approx(tagger.score(X, y))
    with pytest.raises(ValueError, match="sample_weight.shape"):
        tagger.score(X, y, sample_weight=np.ones(2))
    with pytest.raises(ValueError, match="Negative values"):
        tagger.score(X, y, sample_weight=-np.ones(3))


def test_none_inside_a_ragged_list():
    with pytest.raises(ValueError, match="Sequence 1 of X is None"):
        SequenceClassifier(**FAST).fit([np.ones((3, 2)), None, np.ones((2, 2))], [0, 1, 0])
    with pytest.raises(ValueError, match="Sequence 0 of X is None"):
        SequenceClassifier(**FAST).fit([None, None], [0, 1])


def test_four_dimensional_input():
    with pytest.raises(ValueError, match=r"X has 4 dimensions.*n_timesteps, n_features"):
        SequenceRegressor(**FAST).fit(np.ones((4, 3, 2, 2)), [0.0, 1.0, 0.0, 1.0])


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_device_that_is_not_there():
    X, y = _conflicting(8)
    with pytest.raises(ValueError, match=r"cannot use 'cuda'.*device='cpu'"):
        SequenceClassifier(device="cuda", **FAST).fit(X, y)
    with pytest.raises(ValueError, match="not a device torch knows"):
        SequenceClassifier(device="gpu", **FAST).fit(X, y)
