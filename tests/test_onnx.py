"""sklstm.to_onnx: ONNX Runtime against predict / predict_proba."""

import json

import numpy as np
import pytest
import torch

import sklstm
from sklstm import (
    SequenceClassifier,
    SequenceLanguageModel,
    SequenceRegressor,
    SequenceTagger,
)
from sklstm._data import pad_sequences

pytest.importorskip("onnx", reason="sklstm.to_onnx needs onnx")
ort = pytest.importorskip("onnxruntime", reason="the tests run the export in onnxruntime")

rng = np.random.RandomState(0)
RAGGED = [rng.normal(size=(n, 2)).astype(np.float32) * 20 + 5 for n in rng.randint(2, 90, 40)]
EQUAL = np.stack([x[:2].repeat(20, axis=0) for x in RAGGED])  # (40, 40, 2)
TEXT = ["the cat sat", "a dog ran off", "the bird flew", "a cat", "dog"] * 6
SMALL = dict(num_hidden=8, max_epochs=3, batch_size=8, random_state=0)
# classifiers and regressors: one network and no inner search (ensembles
# are exported in test_ensemble.py, the search has its own tests)
ONE = {**SMALL, "n_networks": 1, "conv_dilations": (1,)}


def _session(est, tmp_path):
    path = sklstm.to_onnx(est, tmp_path / "model.onnx")
    return ort.InferenceSession(path)


def _padded(X):
    if isinstance(X, np.ndarray):
        return X, np.full(len(X), X.shape[1], dtype=np.int64)
    return pad_sequences(X, np.float32)


CLASSIFIERS = [
    ("bidirectional max (defaults)", {}),
    ("last, one direction", dict(bidirectional=False, pooling="last")),
    ("last, bidirectional GRU", dict(cell="gru", pooling="last")),
    ("mean, two layers", dict(pooling="mean", num_layers=2)),
    ("attention, conv front-end", dict(pooling="attention", conv_layers=2)),
    ("conv front-end, its channels' means to the head",
     dict(conv_layers=1, conv_pooling="mean")),
    ("conv front-end, its channels' maxima to the head",
     dict(conv_layers=2, conv_pooling="max")),
    ("conv front-end, dilated first block, even kernel",
     dict(conv_layers=2, conv_kernel_size=4, conv_dilations=[1, 2, 8])),
    ("first and second differences, conv front-end",
     dict(conv_layers=2, input_differences=2)),
    ("per-sequence copies and differences, conv front-end",
     dict(conv_layers=2, input_differences=1, per_sequence_features=True)),
    ("per-sequence copies, no front-end (input scaling folded)",
     dict(per_sequence_features=True)),
    ("plain RNN, no standardisation", dict(cell="rnn", standardize=False)),
]


@pytest.mark.parametrize("name, params", CLASSIFIERS, ids=[c[0] for c in CLASSIFIERS])
def test_classifier_matches_predict_proba(name, params, tmp_path):
    y = np.array(["low", "mid", "high"])[np.arange(len(RAGGED)) % 3]
    clf = SequenceClassifier(**{**ONE, **params}).fit(RAGGED, y)
    session = _session(clf, tmp_path)
    # ragged sequences, and equal lengths (which predict_proba runs without
    # lengths, the export with them)
    for X in (RAGGED, EQUAL):
        X_pad, lengths = _padded(X)
        proba, label = session.run(None, {"X": X_pad, "lengths": lengths})
        np.testing.assert_allclose(proba, clf.predict_proba(X), atol=1e-5)
        assert (label == clf.predict(X)).all()
    meta = session.get_modelmeta().custom_metadata_map
    assert json.loads(meta["classes"]) == clf.classes_.tolist()
    assert meta["sklstm_class"] == "SequenceClassifier"


@pytest.mark.parametrize("labels", [np.array([3, 7, 9]), np.array([1.0, 2.0, 4.0])])
def test_numeric_labels_come_back_as_labels(labels, tmp_path):
    y = labels[np.arange(len(RAGGED)) % 3]
    clf = SequenceClassifier(**ONE).fit(RAGGED, y)
    X_pad, lengths = _padded(RAGGED)
    _, label = _session(clf, tmp_path).run(None, {"X": X_pad, "lengths": lengths})
    assert label.dtype.kind == labels.dtype.kind
    np.testing.assert_array_equal(label, clf.predict(RAGGED))


def test_outputs_do_not_depend_on_padding_or_batch(tmp_path):
    y = np.arange(len(RAGGED)) % 2
    clf = SequenceClassifier(conv_layers=2, **ONE).fit(RAGGED, y)
    session = _session(clf, tmp_path)
    X_pad, lengths = _padded(RAGGED)
    proba, _ = session.run(None, {"X": X_pad, "lengths": lengths})
    # more padding, with garbage in it, and each sequence alone
    wider = np.concatenate([X_pad, np.full((len(X_pad), 13, 2), 1e3, np.float32)], 1)
    for i, n in enumerate(lengths):
        wider[i, n:] = 1e3
    proba_wide, _ = session.run(None, {"X": wider, "lengths": lengths})
    np.testing.assert_allclose(proba_wide, proba, atol=1e-6)
    for i in (0, 7):
        alone, _ = session.run(None, {"X": RAGGED[i][None], "lengths": lengths[i : i + 1]})
        np.testing.assert_allclose(alone[0], proba[i], atol=1e-6)


@pytest.mark.parametrize("two_outputs", [False, True])
def test_regressor_predicts_in_original_units(two_outputs, tmp_path):
    y = np.array([x.mean() * 100 + 1000 for x in RAGGED])
    if two_outputs:
        y = np.column_stack([y, -y / 10])
    reg = SequenceRegressor(**ONE).fit(RAGGED, y)
    X_pad, lengths = _padded(RAGGED)
    (pred,) = _session(reg, tmp_path).run(None, {"X": X_pad, "lengths": lengths})
    assert pred.shape == y.shape
    np.testing.assert_allclose(pred, reg.predict(RAGGED), rtol=1e-5)


def test_regressor_with_a_summary_path(tmp_path):
    # the path resamples each ragged series by its own length in the graph
    y = np.array([x[:, 0].sum() for x in RAGGED])
    reg = SequenceRegressor(**ONE, summary_points=30).fit(RAGGED, y)
    assert reg.net_.module_.summary is not None
    X_pad, lengths = _padded(RAGGED)
    (pred,) = _session(reg, tmp_path).run(None, {"X": X_pad, "lengths": lengths})
    np.testing.assert_allclose(pred, reg.predict(RAGGED), rtol=1e-5, atol=1e-5)


def test_summary_path_graph_holds_every_length(tmp_path):
    # fitted on series of exactly summary_points steps (in torch, the path
    # then reads the steps as they are) and traced on 8 steps (no series
    # longer than the points): the graph still resamples and averages
    # whatever lengths it is given
    X = np.stack([x[:2].repeat(5, axis=0) for x in RAGGED])  # (40, 10, 2)
    y = X[:, :, 0].sum(axis=1)
    reg = SequenceRegressor(**ONE, summary_points=10).fit(X, y)
    session = _session(reg, tmp_path)
    (pred,) = session.run(None, dict(zip(["X", "lengths"], _padded(X))))
    np.testing.assert_allclose(pred, reg.predict(X), rtol=1e-5, atol=1e-5)
    longer = [x for x in RAGGED if len(x) > 10]
    (pred,) = session.run(None, dict(zip(["X", "lengths"], _padded(longer))))
    np.testing.assert_allclose(pred, reg.predict(longer), rtol=1e-5, atol=1e-5)


def test_regressor_with_slopes_over_a_share_of_long_series(tmp_path):
    # difference_lag="auto" on series longer than 112 steps: the per-sequence
    # copies' slopes and the differences over the learned lag, in the graph
    X = np.cumsum(np.random.RandomState(1).normal(size=(30, 300, 1)), axis=1)
    X = X.astype(np.float32)
    y = X[:, -1, 0] - X[:, 0, 0]
    reg = SequenceRegressor(**ONE, input_differences=1, per_sequence_features=True,
                            summary_points=20).fit(X, y)
    assert reg.difference_lag_ == 12
    (pred,) = _session(reg, tmp_path).run(
        None, {"X": X, "lengths": np.full(len(X), 300, dtype=np.int64)}
    )
    np.testing.assert_allclose(pred, reg.predict(X), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("params", [{}, dict(conv_layers=1, bidirectional=True)])
def test_tagger_per_step_probabilities(params, tmp_path):
    y = [np.where(x[:, 0] > 5, "up", "down") for x in RAGGED]
    tagger = SequenceTagger(**SMALL, **params).fit(RAGGED, y)
    X_pad, lengths = _padded(RAGGED)
    proba, labels = _session(tagger, tmp_path).run(
        None, {"X": X_pad, "lengths": lengths}
    )
    assert proba.shape == (len(RAGGED), lengths.max(), 2)
    for i, (p, lab) in enumerate(zip(tagger.predict_proba(RAGGED), tagger.predict(RAGGED))):
        n = lengths[i]
        np.testing.assert_allclose(proba[i, :n], p, atol=1e-5)
        assert (labels[i, :n] == lab).all()
        assert (proba[i, n:] == 0).all()


def test_text_classifier_takes_token_ids(tmp_path):
    y = np.arange(len(TEXT)) % 2
    clf = SequenceClassifier(**ONE).fit(TEXT, y)
    session = _session(clf, tmp_path)
    tokens = json.loads(session.get_modelmeta().custom_metadata_map["tokens"])
    assert tokens == list(clf.vocabulary_.tokens_)
    index = {t: i for i, t in enumerate(tokens)}
    new = ["the cat ran", "a zebra flew off"]  # "zebra" is unknown: id 0
    ids = [[index.get(w, 0) for w in s.split()] for s in new]
    X_ids, lengths = pad_sequences([np.array(i) for i in ids], np.int64)
    proba, label = session.run(None, {"X": X_ids, "lengths": lengths})
    np.testing.assert_allclose(proba, clf.predict_proba(new), atol=1e-5)
    assert (label == clf.predict(new)).all()


@pytest.mark.parametrize(
    "params",
    [
        {},
        dict(cell="gru"),
        dict(softmax_cutoff=4, tie_weights=True),
        # one recurrent module per layer (locked dropout between them)
        dict(locked_dropout=True, weight_dropout=0.5, embedding_dropout=0.1,
             optimizer="nt-asgd", lr=1.0, averaging_patience=1),
    ],
)
def test_language_model_next_word_and_state(params, tmp_path):
    lm = SequenceLanguageModel(num_hidden=8, max_epochs=2, batch_size=4, random_state=0, **params)
    lm.fit(TEXT)
    session = _session(lm, tmp_path)
    names = [i.name for i in session.get_inputs()]
    tokens = np.array([[1, 2, 3, 4, 5, 6], [1, 5, 2, 2, 3, 1]])
    zeros = np.zeros((2, 2, 8), np.float32)
    feeds = {"tokens": tokens, **{name: zeros for name in names[1:]}}
    log_proba, *state = session.run(None, feeds)
    module = lm.net_.module_.eval()
    with torch.inference_mode():
        ref, ref_state = module(torch.from_numpy(tokens), return_state=True)
        if lm.softmax_cutoff is None:
            ref = torch.log_softmax(ref, -1)
    np.testing.assert_allclose(log_proba, ref.numpy(), atol=1e-5)
    ref_state = ref_state if isinstance(ref_state, tuple) else (ref_state,)
    for got, want in zip(state, ref_state):
        np.testing.assert_allclose(got, want.numpy(), atol=1e-5)
    # carrying the state: two halves give the same as the whole
    first, *carried = session.run(None, {**feeds, "tokens": tokens[:, :3]})
    second, *_ = session.run(
        None, {"tokens": tokens[:, 3:], **dict(zip(names[1:], carried))}
    )
    np.testing.assert_allclose(np.concatenate([first, second], 1), log_proba, atol=1e-5)
    # and the next word after a context is predict_proba's
    context_proba = np.exp(log_proba[:, -1])
    np.testing.assert_allclose(context_proba.sum(-1), 1, rtol=1e-5)


def test_to_onnx_refuses_what_it_cannot_export(tmp_path):
    from sklearn.exceptions import NotFittedError

    from sklstm.preprocessing import SequenceScaler

    with pytest.raises(NotFittedError):
        sklstm.to_onnx(SequenceClassifier(), tmp_path / "m.onnx")
    with pytest.raises(TypeError, match="not SequenceScaler"):
        sklstm.to_onnx(SequenceScaler().fit(RAGGED), tmp_path / "m.onnx")
    assert not (tmp_path / "m.onnx").exists()


def test_to_onnx_names_a_path_it_cannot_write_before_exporting(tmp_path, monkeypatch):
    clf = SequenceClassifier(**ONE).fit(RAGGED, np.arange(40) % 2)
    monkeypatch.setattr(torch.onnx, "export", lambda *a, **k: pytest.fail("exported"))
    with pytest.raises(FileNotFoundError, match="no folder .*missing.*os.makedirs"):
        sklstm.to_onnx(clf, tmp_path / "missing" / "m.onnx")
    with pytest.raises(IsADirectoryError, match="is a folder"):
        sklstm.to_onnx(clf, tmp_path)


def test_export_leaves_the_estimator_untouched(tmp_path):
    clf = SequenceClassifier(**ONE).fit(RAGGED, np.arange(40) % 2)
    before = clf.predict_proba(RAGGED)
    sklstm.to_onnx(clf, tmp_path / "m.onnx")
    assert clf.net_.module_.batch_invariant_eval
    np.testing.assert_array_equal(clf.predict_proba(RAGGED), before)


@pytest.mark.parametrize("conv_layers, folded", [(0, True), (1, False)])
def test_input_scaling_folded_into_the_first_recurrent_layer(conv_layers, folded, tmp_path):
    import onnx

    X = [x * 1000 - 300 for x in RAGGED]  # far from standardised
    clf = SequenceClassifier(**{**ONE, "n_networks": 2}, conv_layers=conv_layers).fit(
        X, np.arange(40) % 2
    )
    path = sklstm.to_onnx(clf, tmp_path / "m.onnx")
    ops = [node.op_type for node in onnx.load(path).graph.node]
    # without a front-end the scaling lives in the recurrent weights; a
    # convolution pads with zeros in scaled units, so there it stays apart
    assert ("Div" not in ops) == folded
    session = ort.InferenceSession(path)
    X_pad, lengths = _padded(X)
    proba, _ = session.run(None, {"X": X_pad, "lengths": lengths})
    np.testing.assert_allclose(proba, clf.predict_proba(X), atol=1e-5)
    assert all(net.inputs.scaler is not None for net in clf.net_.module_.networks)


@pytest.mark.parametrize("params", [{}, dict(cell="gru", num_layers=2), dict(pooling="mean")])
def test_one_transpose_from_each_bidirectional_output(params, tmp_path):
    import onnx

    clf = SequenceClassifier(**{**ONE, "n_networks": 2, **params}).fit(
        RAGGED, np.arange(40) % 2
    )
    path = sklstm.to_onnx(clf, tmp_path / "m.onnx")
    graph = onnx.load(path).graph
    users = {}
    for node in graph.node:
        for name in node.input:
            users.setdefault(name, []).append(node)
    recurrent = [n for n in graph.node if n.op_type in ("LSTM", "GRU")]
    assert len(recurrent) == 2 * clf.num_layers
    for node in recurrent:
        # (time, 2, batch, hidden) -> (batch, time, 2, hidden) in one step
        # (or, between layers, -> (time, batch, 2, hidden)), then a reshape:
        # no second transpose
        (first,) = users[node.output[0]]
        assert first.op_type == "Transpose"
        assert list(first.attribute[0].ints) in ([2, 0, 1, 3], [0, 2, 1, 3])
        (reshape,) = users[first.output[0]]
        assert reshape.op_type == "Reshape"
        assert all(u.op_type != "Transpose" for u in users[reshape.output[0]])
    session = ort.InferenceSession(path)
    X_pad, lengths = _padded(RAGGED)
    proba, _ = session.run(None, {"X": X_pad, "lengths": lengths})
    np.testing.assert_allclose(proba, clf.predict_proba(RAGGED), atol=1e-5)
