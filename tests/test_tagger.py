import numpy as np
import pytest
import torch
from sklearn.model_selection import cross_val_predict

from sklstm import SequenceClassifier, SequenceTagger
from sklstm.datasets import make_echo, make_parity

FAST = dict(num_hidden=8, max_epochs=3, batch_size=16, random_state=0)


def test_learns_running_parity():
    X, y = make_parity(n_samples=400, n_steps=8, random_state=0)
    tagger = SequenceTagger(num_hidden=16, max_epochs=40, lr=0.02, random_state=0)
    tagger.fit(X, y)
    X_new, y_new = make_parity(n_samples=100, n_steps=8, random_state=1)
    assert tagger.score(X_new, y_new) > 0.95
    assert tagger.predict(X_new).shape == (100, 8)
    proba = tagger.predict_proba(X_new)
    assert proba.shape == (100, 8, 2)
    np.testing.assert_allclose(proba.sum(axis=-1), 1, rtol=1e-5)


def test_log_proba_per_step_ragged():
    rng = np.random.RandomState(0)
    X = [rng.normal(size=(n, 1)) for n in (3, 7, 5, 2) * 5]
    y = [(x[:, 0] > 0).astype(int) for x in X]
    tagger = SequenceTagger(**FAST).fit(X, y)
    log_proba, proba = tagger.predict_log_proba(X), tagger.predict_proba(X)
    assert [a.shape for a in log_proba] == [(len(x), 2) for x in X]
    for a, b in zip(log_proba, proba):
        assert np.isfinite(a).all()
        np.testing.assert_allclose(np.exp(a), b, rtol=1e-6, atol=1e-12)


def test_echo_with_bptt_and_carried_state():
    X, y = make_echo(n_steps=20_000, echo_step=3, random_state=0)
    tagger = SequenceTagger(
        num_hidden=8, bptt=15, batch_size=32, lr=0.05, max_epochs=5, random_state=0
    ).fit(X, y)
    assert tagger.net_.stateful
    X_new, y_new = make_echo(n_steps=5_000, echo_step=3, random_state=1)
    pred = tagger.predict(X_new)
    assert pred.shape == (1, 5_000)
    np.testing.assert_array_equal(pred[0, 3:], y_new[0, 3:])


def test_bptt_reads_ragged_sequences_as_one_stream():
    # the echo of the stream that the sequences make one after another, as
    # bptt reads them (its state carried from one sequence into the next)
    X, y = make_echo(n_steps=20_000, echo_step=2, random_state=0)
    cuts = np.cumsum(np.random.RandomState(0).randint(5, 40, size=1_000))
    cuts = cuts[cuts < 20_000]
    X_seqs, y_seqs = np.split(X[0], cuts), np.split(y[0], cuts)
    tagger = SequenceTagger(
        num_hidden=8, bptt=15, batch_size=32, lr=0.05, max_epochs=5, random_state=0
    ).fit(X_seqs, y_seqs)
    pred = tagger.predict(X_seqs[:5])
    assert [len(p) for p in pred] == [len(x) for x in X_seqs[:5]]
    # predicted alone, a sequence's first steps have no echo to read
    assert np.mean([(p[2:] == t[2:]).mean() for p, t in zip(pred, y_seqs[:5])]) == 1.0


def test_ragged_in_ragged_out_string_labels():
    rng = np.random.RandomState(0)
    X = [rng.randint(0, 2, size=n) for n in (3, 7, 5, 2) * 10]
    y = [np.where(x == 1, "one", "zero") for x in X]
    tagger = SequenceTagger(num_hidden=8, max_epochs=30, lr=0.05, random_state=0)
    tagger.fit(X, y)
    np.testing.assert_array_equal(tagger.classes_, ["one", "zero"])
    pred = tagger.predict(X[:4])
    assert pred.shape == (4,) and pred.dtype == object
    assert [len(p) for p in pred] == [3, 7, 5, 2]
    proba = tagger.predict_proba(X[:4])
    assert [p.shape for p in proba] == [(3, 2), (7, 2), (5, 2), (2, 2)]
    assert tagger.score(X, y) == 1.0
    # ragged out is ragged in: the predictions fit and score as labels
    assert tagger.score(X[:4], pred) == 1.0
    # scikit-learn's tools index and join them as any array
    oof = cross_val_predict(SequenceTagger(num_hidden=8, max_epochs=30, lr=0.05,
                                           random_state=0), X, y, cv=2)
    assert [len(p) for p in oof] == [len(x) for x in X]
    assert np.mean(np.concatenate(list(oof)) == np.concatenate(y)) > 0.9


@pytest.mark.parametrize("bidirectional", [False, True])
def test_padding_never_counts(bidirectional):
    rng = np.random.RandomState(0)
    X = [rng.normal(size=(n, 2)) for n in (3, 9, 4, 6) * 5]
    y = [(x[:, 0] > 0).astype(int) for x in X]
    tagger = SequenceTagger(bidirectional=bidirectional, **FAST).fit(X, y)
    alone = tagger.predict_proba([X[0]])[0]
    with_longer = tagger.predict_proba([X[0], np.ones((30, 2))])[0]
    np.testing.assert_allclose(with_longer, alone, rtol=1e-5, atol=1e-6)
    # the score counts real steps only: one wrong step of 3 + 9 steps
    y_bad = [y[0].copy(), y[1]]
    y_bad[0][0] = 1 - tagger.predict([X[0]])[0][0]
    expected = (np.concatenate(tagger.predict(X[:2])) == np.concatenate(y_bad)).mean()
    assert tagger.score(X[:2], y_bad) == pytest.approx(expected)


def test_label_smoothing_scores_real_steps_only():
    rng = np.random.RandomState(0)
    X = [rng.normal(size=(n, 2)) for n in (3, 9, 4, 6) * 5]
    y = [(x[:, 0] > 0).astype(int) for x in X]
    tagger = SequenceTagger(label_smoothing=0.2, **FAST).fit(X, y)
    assert tagger.net_.criterion_.label_smoothing == 0.2
    # padded steps (label -100) take no part in the smoothed loss
    logits = torch.randn(2, 5, 2, generator=torch.Generator().manual_seed(0))
    y_true = torch.tensor([[0, 1, 1, -100, -100], [1, 0, 0, 1, 1]])
    real = y_true.reshape(-1) != -100
    expected = torch.nn.functional.cross_entropy(
        logits.reshape(-1, 2)[real], y_true.reshape(-1)[real], label_smoothing=0.2
    )
    torch.testing.assert_close(tagger.net_.get_loss(logits, y_true), expected)


def test_bidirectional_uses_future_steps():
    # label at step t is the input at step t + 1: only a backward pass can know
    rng = np.random.RandomState(0)
    X = rng.randint(0, 2, size=(300, 6))
    y = np.concatenate([X[:, 1:], np.zeros((300, 1), int)], axis=1)
    bi = SequenceTagger(bidirectional=True, num_hidden=8, max_epochs=30, lr=0.03, random_state=0)
    uni = SequenceTagger(bidirectional=False, num_hidden=8, max_epochs=30, lr=0.03, random_state=0)
    assert bi.fit(X, y).score(X, y) > 0.98
    assert uni.fit(X, y).score(X, y) < 0.8


def test_text_tagging_with_unknown_words():
    sents = ["the cat sat", "a dog ran home", "the dog sat", "a cat ran"] * 10
    tags = [["DET", "NOUN", "VERB"], ["DET", "NOUN", "VERB", "NOUN"],
            ["DET", "NOUN", "VERB"], ["DET", "NOUN", "VERB"]] * 10
    tagger = SequenceTagger(num_hidden=16, max_epochs=40, lr=0.05, random_state=0)
    tagger.fit(sents, tags)
    assert "n_features_in_" not in vars(tagger)
    assert tagger.score(sents, tags) == 1.0
    pred = tagger.predict(["the zebra sat", ["a", "cat"]])
    assert [len(p) for p in pred] == [3, 2]
    assert pred[0][0] == "DET" and pred[0][2] == "VERB"


@pytest.mark.parametrize(
    "y, match",
    [
        (np.zeros((4, 5, 2)), "y has 3 dimension"),
        (np.zeros(4), "y has 1 dimension"),
        (np.zeros((4, 6)), "Sequence 0 has 5 steps but 6 labels"),
        (np.zeros((3, 5)), "X holds 4 sequences but y holds labels for 3"),
        (np.where(np.eye(4, 5) > 0, None, "N"), "y holds 4 missing labels"),
        (np.where(np.eye(4, 5) > 0, np.nan, 1.0), "y holds 4 missing labels"),
        (np.where(np.eye(4, 5) > 0, np.array("N", dtype=object), 1),
         r"y mixes text and other labels \(such as 'N' and 1\)"),
    ],
)
def test_bad_y(y, match):
    with pytest.raises((ValueError, TypeError), match=match):
        SequenceTagger(**FAST).fit(np.zeros((4, 5)), y)


def test_bad_ragged_y_and_unknown_labels_at_score():
    X = [np.ones(3), np.ones(5)]
    with pytest.raises(ValueError, match="Sequence 1 has 5 steps but 4 labels"):
        SequenceTagger(**FAST).fit(X, [np.zeros(3), np.zeros(4)])
    tagger = SequenceTagger(**FAST).fit(X, [np.zeros(3), np.ones(5)])
    with pytest.raises(ValueError, match=r"labels \[7.0\] that were not seen in fit"):
        tagger.score(X, [np.zeros(3), np.full(5, 7)])
    with pytest.raises(ValueError, match="early_stopping is not available with bptt"):
        SequenceTagger(bptt=5, early_stopping=True).fit(X, [np.zeros(3), np.ones(5)])
    with pytest.raises(ValueError, match="conv_layers is not available with bptt"):
        SequenceTagger(bptt=5, conv_layers=1).fit(X, [np.zeros(3), np.ones(5)])
    with pytest.raises(ValueError, match="Labels of sequence 0 have 2 dimensions"):
        SequenceTagger(**FAST).fit(X, [np.zeros((3, 2)), np.zeros((5, 2))])


def test_any_length_at_predict_and_feature_check():
    X, y = make_parity(n_samples=50, n_steps=6, random_state=0)
    tagger = SequenceTagger(**FAST).fit(X, y)
    assert tagger.n_features_in_ == 1
    assert tagger.predict(np.zeros((2, 11))).shape == (2, 11)
    with pytest.raises(ValueError, match="X has 2 features per step"):
        tagger.predict(np.zeros((2, 11, 2)))


def test_text_and_numeric_input_are_not_mixed():
    clf = SequenceClassifier(**FAST).fit(["a b", "b c d", "a"], [0, 1, 0])
    with pytest.raises(ValueError, match="fitted on text, but X holds numeric"):
        clf.predict(np.zeros((2, 3)))
    clf = SequenceClassifier(**FAST).fit(np.zeros((3, 2)), [0, 1, 0])
    with pytest.raises(ValueError, match="fitted on numeric sequences, but X holds text"):
        clf.predict(["a b"])


def test_object_labels_of_equal_length_sequences_stay_2d():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(12, 5, 2))
    y = np.where(X[:, :, 0] > 0, "up", "down").astype(object)
    tagger = SequenceTagger(**FAST).fit(X, y)
    pred = tagger.predict(X)
    assert pred.shape == (12, 5)
    assert tagger.score(X, y) == np.mean(pred == y)
    assert tagger.score(X, pred) == 1.0
