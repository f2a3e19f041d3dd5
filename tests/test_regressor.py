import pickle

import numpy as np
import pytest

from sklstm import SequenceClassifier, SequenceRegressor
from sklstm.datasets import make_bit_counting, make_sine

# one network and no inner search: ensembles and the search have their own tests
FAST = dict(num_hidden=8, max_epochs=3, batch_size=16, random_state=0, n_networks=1,
            conv_dilations=(1,), summary_points=0, per_sequence_features=False)
NO_SEARCH = dict(summary_points=0, per_sequence_features=False)


def test_sine_next_value():
    X, y = make_sine(n_samples=600, window=20, random_state=0)
    reg = SequenceRegressor(num_hidden=16, max_epochs=30, random_state=0, n_networks=1,
                            **NO_SEARCH)
    reg.fit(X, y)
    X_new, y_new = make_sine(n_samples=200, window=20, random_state=1)
    assert reg.score(X_new, y_new) > 0.95
    assert reg.predict(X_new).shape == (200,)
    assert reg.predict(X_new).dtype == np.float64


def test_multi_output_and_normalize_y():
    X, y = make_bit_counting(n_bits=6, random_state=0)
    Y = np.column_stack([y * 100.0, -y])
    reg = SequenceRegressor(
        num_hidden=16, max_epochs=60, batch_size=8, random_state=0, n_networks=1,
        **NO_SEARCH,
    ).fit(X, Y)
    pred = reg.predict(X)
    assert pred.shape == (64, 2)
    np.testing.assert_allclose(pred[:, 0] / 100, -pred[:, 1], atol=0.3)
    assert reg.score(X, Y) > 0.95
    raw = SequenceRegressor(normalize_y=False, **FAST).fit(X, Y)
    assert raw.score(X, Y) < reg.score(X, Y)


def test_ragged_and_text_inputs():
    X = [np.arange(n, dtype=float) for n in (2, 5, 3, 4) * 10]
    y = [len(x) for x in X]
    reg = SequenceRegressor(num_hidden=8, max_epochs=40, lr=0.03, random_state=0).fit(X, y)
    assert reg.score(X, y) > 0.9
    texts = ["good", "very good", "bad", "very bad"] * 10
    scores = [1.0, 2.0, -1.0, -2.0] * 10
    reg = SequenceRegressor(num_hidden=8, max_epochs=40, lr=0.03, random_state=0).fit(texts, scores)
    assert reg.score(texts, scores) > 0.9
    assert reg.predict(["very unknownword"]).shape == (1,)


def test_pickle_round_trip():
    X, y = make_sine(n_samples=100, window=10, random_state=0)
    reg = SequenceRegressor(**FAST).fit(X, y)
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(reg)).predict(X), reg.predict(X))


@pytest.mark.parametrize(
    "y, match",
    [
        (np.array([1.0, np.nan, 2.0, 3.0]), "Input y contains NaN"),
        (np.array([1.0, np.inf, 2.0, 3.0]), "Input y contains infinity"),
        (np.zeros((4, 2, 2)), "Found array with dim 3"),
        ([[1.0, 2.0], [1.0], [0.0], [2.0]], "y holds rows of different lengths"),
        (np.zeros(3), "inconsistent numbers of samples"),
        (None, "requires y to be passed"),
        (np.array(["a", "b", "a", "b"]), "not numbers .*for class labels, use SequenceClassifier"),
        (np.array([1.0, "b", 2.0, 3.0], dtype=object), "not numbers .*use SequenceClassifier"),
    ],
)
def test_bad_targets(y, match):
    with pytest.raises(ValueError, match=match):
        SequenceRegressor(**FAST).fit(np.zeros((4, 5)), y)


def test_skorch_scoring_callback_scores_the_networks_targets():
    # scikit-learn's scorer names in skorch's EpochScoring, against the
    # targets the networks train on (standardised: R^2 is the same)
    from skorch.callbacks import EpochScoring

    X, y = make_sine(n_samples=100, window=10, random_state=0)
    reg = SequenceRegressor(
        num_hidden=8, max_epochs=10, random_state=0, n_networks=2,
        summary_points=0, per_sequence_features=False,  # the network alone
        callbacks=[EpochScoring("r2", on_train=True, use_caching=False, name="train_r2")],
    ).fit(X, y)
    assert reg.net_.history[-1]["train_r2"] == pytest.approx(reg.score(X, y), abs=1e-6)


def test_long_frame_of_steps_is_named():
    # sktime's "pd-multiindex" (a row per step) with a target per series
    pd = pytest.importorskip("pandas")
    index = pd.MultiIndex.from_product([range(4), range(5)], names=["instance", "time"])
    long = pd.DataFrame({"u": np.arange(20.0)}, index=index)
    with pytest.raises(ValueError, match=r"X has 20 rows but y has 4 targets.*channels_last"):
        SequenceRegressor(**FAST).fit(long, [1.0, 2.0, 3.0, 4.0])


def test_classifier_on_text_with_unknown_words():
    texts = ["good film", "great fun", "bad film", "awful plot"] * 10
    labels = ["pos", "pos", "neg", "neg"] * 10
    clf = SequenceClassifier(
        num_hidden=8, embedding_dim=6, max_epochs=30, lr=0.05, random_state=0, n_networks=1
    )
    clf.fit(texts, labels)
    assert clf.score(texts, labels) == 1.0
    assert clf.net_.module_.inputs.embedding_dim == 6
    assert clf.vocabulary_.tokens_[0] == "<unk>"
    assert clf.predict(["great zzz", [["a"]][0]]).shape == (2,)
    with pytest.raises(TypeError, match="Item 1 of X is int"):
        clf.predict(["good", 3])
