"""Convolutional front-end, pooling, input standardisation and training length."""

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.model_selection import ParameterGrid

import sklstm._auto
import sklstm._numeric_input
from sklstm import SequenceClassifier, SequenceRegressor, SequenceTagger
from sklstm.nn import (
    ConvBlock,
    ConvFrontEnd,
    Differences,
    DilatedConvs,
    LinearHead,
    NumericInput,
    Pooling,
    RecurrentNetwork,
    SequenceStandardize,
    TokenEmbedding,
    TwoLevelSoftmaxHead,
    low_precision_supported,
)

FAST = dict(num_hidden=8, max_epochs=2, batch_size=16, random_state=0)
# the regressor's searched parts set, both on: every path of its network
# checked, without the inner search's fits
BOTH_PATHS = dict(summary_points=4, per_sequence_features=True)


@pytest.fixture(scope="module")
def ragged():
    """2-feature sequences of 5 to 79 steps; label: sign of the first feature's sum."""
    rng = np.random.RandomState(0)
    X = [rng.normal(size=(rng.randint(5, 80), 2)) for _ in range(60)]
    y = np.array([int(x[:, 0].sum() > 0) for x in X])
    return X, y


def _assert_padding_and_batch_invariant(predict, X):
    """A sequence's prediction is the same alone, padded among longer
    sequences, and in a batch with others."""
    short, other = X[0][:7], X[1][:3]
    long_ = np.ones((90, X[0].shape[1]))
    alone = np.concatenate([predict([s]) for s in (short, other)])
    batched = predict([short, long_, other])
    np.testing.assert_allclose(batched[[0, 2]], alone, rtol=1e-5, atol=1e-6)
    # the padded batch with a different long sequence gives the same result
    batched2 = predict([short, 5 * long_, other, long_[:40]])
    np.testing.assert_allclose(batched2[[0, 2]], alone, rtol=1e-5, atol=1e-6)


def _assert_tagger_padding_invariant(tagger, X):
    """The tagger's labels for a sequence: one per step, the same alone and
    padded in a batch with a longer sequence."""
    short, other = X[0][:7], X[1][:3]
    alone = [tagger.predict_proba([s])[0] for s in (short, other)]
    batched = tagger.predict_proba([short, np.ones((90, X[0].shape[1])), other])
    assert [len(p) for p in batched] == [7, 90, 3]
    np.testing.assert_allclose(batched[0], alone[0], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(batched[2], alone[1], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("pooling", ["last", "mean", "max", "attention"])
@pytest.mark.parametrize("conv_layers", [0, 2])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_padding_never_changes_a_prediction(ragged, pooling, conv_layers, bidirectional):
    X, y = ragged
    params = dict(pooling=pooling, conv_layers=conv_layers, bidirectional=bidirectional)
    params.update(conv_channels=8, n_networks=1, conv_dilations=(1,), **FAST)
    clf = SequenceClassifier(**params).fit(X, y)
    _assert_padding_and_batch_invariant(clf.predict_proba, X)
    reg = SequenceRegressor(**params, **BOTH_PATHS).fit(X, y.astype(float))
    _assert_padding_and_batch_invariant(lambda X: reg.predict(X)[:, None], X)


@pytest.mark.parametrize("conv_pooling", ["mean", "max"])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_conv_pooling_never_depends_on_padding(ragged, conv_pooling, bidirectional):
    X, y = ragged
    params = dict(conv_layers=2, conv_channels=8, conv_pooling=conv_pooling,
                  bidirectional=bidirectional, n_networks=1, conv_dilations=(1,))
    clf = SequenceClassifier(**params, **FAST).fit(X, y)
    assert clf.net_.module_.readout.conv_pool is not None
    _assert_padding_and_batch_invariant(clf.predict_proba, X)
    reg = SequenceRegressor(**params, **FAST, **BOTH_PATHS).fit(X, y.astype(float))
    _assert_padding_and_batch_invariant(lambda X: reg.predict(X)[:, None], X)


@pytest.mark.parametrize("conv_pooling", ["mean", "max"])
def test_conv_pooling_feeds_the_pooled_front_end_to_the_head(conv_pooling):
    torch.manual_seed(0)
    net = RecurrentNetwork(
        n_features=2, n_outputs=3, num_hidden=4, bidirectional=True, conv_layers=2,
        conv_channels=5, pooling="max", conv_pooling=conv_pooling,
        batch_invariant_eval=False,
    ).eval()
    assert net.head.in_features == 2 * 4 + 5
    X, lengths = torch.randn(3, 30, 2), torch.tensor([30, 17, 4])
    features, conv_lengths = net.frontend(X, lengths)
    recurrent, _ = net.rnn(features, conv_lengths)
    expected = net.head(torch.cat([
        net.readout.pool(recurrent, conv_lengths),
        # the front-end's channels pooled over each sequence's real steps
        torch.stack([
            getattr(f[:n], "amax" if conv_pooling == "max" else "mean")(dim=0)
            for f, n in zip(features, conv_lengths)
        ]),
    ], dim=-1))
    torch.testing.assert_close(net(X, lengths), expected)


def test_conv_pooling_needs_a_front_end_and_one_output_per_sequence(ragged):
    assert RecurrentNetwork(conv_layers=0, conv_pooling="max").readout.conv_pool is None
    per_step = RecurrentNetwork(per_step=True, conv_layers=1, conv_stride=1,
                                conv_pooling="max")
    assert per_step.readout is None and per_step.head.in_features == 24
    with pytest.raises(ValueError, match="conv_pooling must be one of"):
        RecurrentNetwork(conv_layers=1, conv_pooling="last")
    # off by default; set, it needs a front-end (short sequences get none)
    X, y = ragged
    clf = SequenceClassifier(n_networks=1, conv_layers=1, **FAST).fit(X, y)
    assert clf.net_.module_.readout.conv_pool is None
    reg = SequenceRegressor(n_networks=1, conv_layers=1, **FAST, **BOTH_PATHS)
    reg.fit(X, y * 1.0)
    assert reg.net_.module_.readout.conv_pool is None
    short = [x[:20] for x in X]
    clf = SequenceClassifier(n_networks=1, conv_pooling="max", **FAST).fit(short, y)
    assert clf.n_conv_layers_ == 0 and clf.net_.module_.readout.conv_pool is None
    clf = SequenceClassifier(n_networks=1, conv_layers=1, conv_pooling="max", **FAST)
    assert clf.fit(X, y).net_.module_.readout.conv_pool.mode == "max"


@pytest.mark.parametrize("bidirectional", [False, True])
def test_tagger_front_end_keeps_one_label_per_step(ragged, bidirectional):
    X, _ = ragged
    y = [(x[:, 0] > 0).astype(int) for x in X]
    tagger = SequenceTagger(
        conv_layers=2, conv_channels=8, bidirectional=bidirectional, **FAST
    ).fit(X, y)
    assert tagger.n_conv_layers_ == 2
    pred = tagger.predict_proba(X[:3])
    assert [len(p) for p in pred] == [len(x) for x in X[:3]]
    _assert_tagger_padding_invariant(tagger, X)


@pytest.mark.parametrize("kernel_size", [7, 4])
@pytest.mark.parametrize("conv_dilations", ["multiscale", [1, 3, 9], [5]])
def test_dilated_front_end_never_depends_on_padding(ragged, conv_dilations, kernel_size):
    X, y = ragged
    params = dict(conv_layers=2, conv_channels=9, conv_kernel_size=kernel_size,
                  conv_dilations=conv_dilations, **FAST)
    clf = SequenceClassifier(n_networks=1, **params).fit(X, y)
    expected = (1, 2, 4) if conv_dilations == "multiscale" else tuple(conv_dilations)
    if kernel_size == 4 and conv_dilations == "multiscale":
        expected = (1, 2, 4, 8)  # a shorter kernel spans fewer steps
    assert clf.conv_dilations_ == expected
    _assert_padding_and_batch_invariant(clf.predict_proba, X)
    reg = SequenceRegressor(n_networks=1, **params, **BOTH_PATHS).fit(X, y.astype(float))
    _assert_padding_and_batch_invariant(lambda X: reg.predict(X)[:, None], X)
    tags = [(x[:, 0] > 0).astype(int) for x in X]
    if kernel_size % 2 == 0:
        with pytest.raises(ValueError, match="per_step outputs need an odd conv_kernel"):
            SequenceTagger(**params).fit(X, tags)
        return
    _assert_tagger_padding_invariant(SequenceTagger(**params).fit(X, tags), X)


def test_dilated_convs_are_parallel_convolutions_side_by_side():
    torch.manual_seed(0)
    convs = DilatedConvs(2, 7, kernel_size=4, stride=2, dilations=(1, 2, 8))
    assert [(b.out_channels, b.dilation[0], b.padding[0]) for b in convs.branches] == [
        (3, 1, 2), (2, 2, 4), (2, 8, 16)
    ]
    X = torch.randn(3, 2, 40)
    out = convs(X)
    # each branch is an ordinary dilated convolution; the even kernel makes
    # the wider ones a step longer, cut to the shortest (the first)
    first = torch.nn.functional.conv1d(X, convs.branches[0].weight, stride=2, padding=2)
    last = torch.nn.functional.conv1d(
        X, convs.branches[2].weight, stride=2, padding=16, dilation=8
    )
    assert first.shape[-1] == 21 and last.shape[-1] == 24 and out.shape == (3, 7, 21)
    torch.testing.assert_close(out[:, :3], first)
    torch.testing.assert_close(out[:, 5:], last[..., :21])
    assert convs.output_lengths(torch.tensor([40, 9])).tolist() == [21, 5]
    # a block with one dilation keeps its plain convolution (and its weights' names)
    assert isinstance(ConvBlock(1, 4, 7, 2, dilations=(3,)).conv, torch.nn.Conv1d)
    with pytest.raises(ValueError, match="between 1 and channels=2 dilations"):
        DilatedConvs(1, 2, 7, 2, dilations=(1, 2, 4))


def test_multiscale_dilations_span_at_most_the_median_sequence():
    rng = np.random.RandomState(0)
    y = np.arange(8) % 2
    fast = dict(num_hidden=4, max_epochs=1, n_networks=1, random_state=0)

    def dilations(X, **params):
        clf = SequenceClassifier(**fast, conv_dilations="multiscale", **params)
        return clf.fit(X, y).conv_dilations_

    # a kernel of 7 spread by d spans 6 d + 1 steps
    assert dilations(rng.normal(size=(8, 251))) == (1, 2, 4, 8, 16, 32)
    assert dilations(rng.normal(size=(8, 193))) == (1, 2, 4, 8, 16, 32)
    assert dilations(rng.normal(size=(8, 192))) == (1, 2, 4, 8, 16)
    assert dilations(rng.normal(size=(8, 12))) == (1,)
    # at most one branch per channel; the median length of ragged data
    assert dilations(rng.normal(size=(8, 251)), conv_channels=3) == (1, 2, 4)
    ragged = [rng.normal(size=(n, 1)) for n in [20, 30, 30, 30, 400, 400, 400, 30]]
    assert dilations(ragged, conv_layers=1) == (1, 2, 4)
    # the first block of the front-end gets them; [1] is one plain convolution
    clf = SequenceClassifier(**fast, conv_dilations=[1]).fit(rng.normal(size=(8, 100)), y)
    assert clf.conv_dilations_ == (1,)
    assert isinstance(clf.net_.module_.frontend.blocks[0].conv, torch.nn.Conv1d)
    clf = SequenceClassifier(**fast, conv_dilations="multiscale")
    clf.fit(rng.normal(size=(8, 200)), y)
    assert clf.n_conv_layers_ == 2
    first = clf.net_.module_.frontend.blocks[0].conv
    assert [b.dilation[0] for b in first.branches] == [1, 2, 4, 8, 16, 32]
    assert isinstance(clf.net_.module_.frontend.blocks[1].conv, torch.nn.Conv1d)
    # explicit dilations are kept as given
    clf = SequenceClassifier(**fast, conv_dilations=np.array([1, 4])).fit(
        rng.normal(size=(8, 100)), y
    )
    assert clf.conv_dilations_ == (1, 4)


@pytest.mark.parametrize("conv_dilations", [[], [0, 1], [1.5], [[1, 2]], list(range(1, 66))])
def test_invalid_dilations_say_what_is_expected(ragged, conv_dilations):
    X, y = ragged
    with pytest.raises(ValueError, match="conv_dilations must be 'multiscale', 'auto'"):
        SequenceClassifier(conv_dilations=conv_dilations, **FAST).fit(X, y)


def _fake_search(monkeypatch, cv_scores):
    """Replace the inner search by one whose candidates score
    ``cv_scores(estimator, X, y, cv, params).mean()``: a stand-in that
    names the fits the search would make."""

    def inner_search(estimator, grid, X, y, *, cv, sample_weight=None, verbose=0,
                     n_workers=1, noise_se=0.0, log_error=False, sequential=False):
        params = list(ParameterGrid(grid))
        fit_params = {} if sample_weight is None else {"sample_weight": sample_weight}
        means = np.array([
            cv_scores(clone(estimator).set_params(**p), X, y, cv=cv, params=fit_params).mean()
            for p in params
        ])
        best = params[int(np.argmax(means))]
        return {"params": params, "mean_test_score": means,
                "std_test_score": 0 * means, "best_params": best}

    monkeypatch.setattr(sklstm._numeric_input, "inner_search", inner_search)


def _long_series(n=36, n_steps=120, seed=0):
    rng = np.random.RandomState(seed)
    X = rng.normal(size=(n, n_steps, 1))
    y = np.arange(n) % 2
    X[y == 1, 30:60, 0] += 1.5  # the class: a raised stretch at a fixed place
    return X, y


def test_auto_dilations_keep_the_better_of_plain_and_multiscale(monkeypatch):
    X, y = _long_series()
    fast = dict(num_hidden=4, max_epochs=3, random_state=0)
    # the choice follows the cross-validated scores; a tie keeps the plain one
    calls, weights = [], []

    def scores(better):
        def fake_cross_val_score(estimator, X, y, cv, params):
            calls.append((estimator.conv_dilations, estimator.n_networks, cv.n_splits))
            weights.append(params.get("sample_weight"))
            plain = estimator.conv_dilations == (1,)
            return np.array([0.5, 0.6, 0.7]) + (0.1 if (plain == (better == "plain")) else 0)
        return fake_cross_val_score

    multiscale = (1, 2, 4, 8, 16)  # a kernel of 7 spread by 16 spans 97 steps
    for better, chosen in [("plain", (1,)), ("multiscale", multiscale)]:
        _fake_search(monkeypatch, scores(better))
        clf = SequenceClassifier(**fast).fit(X, y)
        assert clf.conv_dilations == "auto" and clf.conv_dilations_ == chosen
        first = clf.net_.module_.networks[0].frontend.blocks[0].conv
        n_branches = len(getattr(first, "branches", [first]))
        assert n_branches == len(chosen)
    # single networks, three folds, each candidate once per fit
    assert calls == [((1,), 1, 3), (multiscale, 1, 3)] * 2
    assert all(w is None for w in weights)
    # sample weights go to the search's fits
    sample_weight = np.where(y == 1, 2.0, 1.0)
    SequenceClassifier(**fast).fit(X, y, sample_weight=sample_weight)
    np.testing.assert_array_equal(weights[-1], sample_weight)
    _fake_search(monkeypatch, lambda *a, **k: np.array([0.5]))
    assert SequenceClassifier(**fast).fit(X, y).conv_dilations_ == (1,)

    # no search: without a front-end, over the size limit, in partial_fit
    def no_search(*args, **kwargs):
        raise AssertionError("searched")

    _fake_search(monkeypatch, no_search)
    assert SequenceClassifier(**fast).fit(X[:, :40], y).conv_dilations_ == (1,)
    assert SequenceClassifier(**fast).partial_fit(X, y, classes=[0, 1]).conv_dilations_ == (1,)
    # over the budget: the work of the search exceeds it
    monkeypatch.setattr(sklstm._auto, "FIT_BUDGET", 10_000)
    assert SequenceClassifier(**fast).fit(X, y).conv_dilations_ == (1,)


def test_auto_dilations_fit_the_network_that_the_choice_names():
    X, y = _long_series()
    fast = dict(num_hidden=4, max_epochs=3, random_state=0)
    clf = SequenceClassifier(**fast).fit(X, y)
    assert clf.conv_dilations_ in [(1,), (1, 2, 4, 8, 16)]
    # the searched fit is the fit with the chosen dilations (same start, same
    # batches); the regressor searches too, with sample weights
    again = SequenceClassifier(**fast, conv_dilations=list(clf.conv_dilations_)).fit(X, y)
    np.testing.assert_array_equal(again.predict_proba(X), clf.predict_proba(X))
    weights = np.where(y == 1, 2.0, 1.0)
    reg = SequenceRegressor(**fast, conv_dilations="auto").fit(X, y * 1.0, sample_weight=weights)
    assert reg.conv_dilations_ in [(1,), (1, 2, 4, 8, 16)]
    # the tagger has no "auto"
    with pytest.raises(ValueError, match="'conv_dilations' parameter"):
        SequenceTagger(conv_dilations="auto").fit(list(X), [t.astype(int) for t in X[..., 0] > 0])


def test_differences_are_appended_step_by_step():
    X = torch.tensor([[[1.0, 10.0], [4.0, 0.0], [9.0, 5.0]]])
    out = Differences(2)(X)
    expected = [[1, 10, 0, 0, 0, 0], [4, 0, 3, -10, 3, -10], [9, 5, 5, 5, 2, 15]]
    torch.testing.assert_close(out, torch.tensor([expected], dtype=torch.float32))
    torch.testing.assert_close(Differences(0)(X), X)
    # a step's differences read only the steps before it
    torch.testing.assert_close(Differences(1)(X[:, :2]), Differences(1)(X)[:, :2])
    # over a lag: from the first step until the lag is reached
    out = Differences(1, lag=2)(X)
    expected = [[1, 10, 0, 0], [4, 0, 3, -10], [9, 5, 8, -5]]
    torch.testing.assert_close(out, torch.tensor([expected], dtype=torch.float32))
    for n_steps in [1, 2, 3]:
        torch.testing.assert_close(
            Differences(1, lag=5)(X[:, :n_steps]), torch.cat([X, X - X[:, :1]], -1)[:, :n_steps]
        )
    for order in [-1, 1.5, True, "1"]:
        with pytest.raises(ValueError, match="order must be an integer of at least 0"):
            Differences(order)
    with pytest.raises(ValueError, match="lag must be an integer of at least 1"):
        Differences(1, lag=0)
    net = RecurrentNetwork(n_features=2, input_differences=2, conv_layers=1)
    assert net.frontend.blocks[0].conv.in_channels == 6
    with pytest.raises(ValueError, match="input_differences needs real-valued inputs"):
        RecurrentNetwork(vocab_size=10, input_differences=1)


@pytest.mark.parametrize("order, lag", [(1, 1), (2, 1), (1, 4), (2, 12)])
@pytest.mark.parametrize("conv_layers", [0, 2])
def test_input_differences_never_depend_on_padding(ragged, order, lag, conv_layers):
    X, y = ragged
    params = dict(conv_layers=conv_layers, conv_channels=8, input_differences=order,
                  difference_lag=lag, conv_dilations=(1,), **FAST)
    clf = SequenceClassifier(n_networks=1, **params).fit(X, y)
    assert clf.input_differences_ == order
    _assert_padding_and_batch_invariant(clf.predict_proba, X)
    reg = SequenceRegressor(n_networks=1, **params, **BOTH_PATHS).fit(X, y.astype(float))
    _assert_padding_and_batch_invariant(lambda X: reg.predict(X)[:, None], X)
    tagger = SequenceTagger(**params).fit(X, [(x[:, 0] > 0).astype(int) for x in X])
    assert tagger.input_differences_ == order
    _assert_tagger_padding_invariant(tagger, X)


def test_sequence_standardize_reads_real_steps_only():
    rng = np.random.RandomState(0)
    X = torch.tensor(rng.normal(size=(3, 9, 2)) * [1.0, 50.0] + [3.0, -7.0],
                     dtype=torch.float32)
    X[2, :, 1] = 4.0  # a constant feature becomes zeros
    lengths = torch.tensor([9, 5, 7])
    out = SequenceStandardize()(X, lengths)
    assert out.shape == X.shape and out.dtype == torch.float32
    for i, n in enumerate(lengths.tolist()):
        real = X[i, :n].double().numpy()
        scale = real.std(axis=0)
        scale[scale == 0] = 1.0
        np.testing.assert_allclose(
            out[i, :n].numpy(), (real - real.mean(axis=0)) / scale, rtol=1e-5, atol=1e-6
        )
        # alone and with other padding: the same values, to the bit
        alone = SequenceStandardize()(X[i : i + 1, :n])
        assert torch.equal(alone[0], out[i, :n])
        wider = torch.cat([X[i : i + 1, :n], torch.full((1, 30, 2), 1e6)], dim=1)
        padded = SequenceStandardize()(wider, torch.tensor([n]))
        assert torch.equal(padded[0, :n], out[i, :n])
    assert torch.equal(out[2, :7, 1], torch.zeros(7))
    # offset and gain drop out: a + b * x gives what x gives
    moved = SequenceStandardize()(5.0 + 3.0 * X[:2, :5], None)
    torch.testing.assert_close(moved, SequenceStandardize()(X[:2, :5]), atol=1e-5, rtol=1e-5)
    # in NumericInput: features, differences, then the copies of each
    # feature and of its first difference over the lag
    inputs = NumericInput(2, differences=1, lag=3, per_sequence=True)
    assert inputs.n_outputs == 8
    full = inputs(X, lengths)
    torch.testing.assert_close(full[..., 4:6], out)
    for i, n in enumerate(lengths.tolist()):
        real = X[i, :n].double().numpy()
        slope = real - np.concatenate([real[:1].repeat(3, axis=0), real[:-3]])
        scale = slope.std(axis=0)
        scale[scale == 0] = 1.0
        np.testing.assert_allclose(full[i, :n, 6:].numpy(),
                                   (slope - slope.mean(axis=0)) / scale, rtol=1e-5, atol=1e-6)
    # a series' offset and gain drop out of both copies
    moved = NumericInput(2, lag=3, per_sequence=True)(5.0 + 3.0 * X[:2, :5])
    torch.testing.assert_close(moved[..., 2:], inputs(X[:2, :5])[..., 4:], atol=1e-5, rtol=1e-5)
    assert NumericInput(2, per_sequence=True).n_outputs == 6
    net = RecurrentNetwork(n_features=2, per_sequence_features=True, conv_layers=1)
    assert net.frontend.blocks[0].conv.in_channels == 6
    with pytest.raises(ValueError, match="per_sequence_features needs real-valued"):
        RecurrentNetwork(vocab_size=10, per_sequence_features=True)


@pytest.mark.parametrize("conv_layers", [0, 2])
def test_per_sequence_features_never_depend_on_padding(ragged, conv_layers):
    X, y = ragged
    params = dict(conv_layers=conv_layers, conv_channels=8, per_sequence_features=True,
                  input_differences=1, conv_dilations=(1,), **FAST)
    clf = SequenceClassifier(n_networks=1, **params).fit(X, y)
    assert clf.per_sequence_features_ is True
    # two features, their differences, and two copies of each feature
    assert clf.net_.module_.inputs.scaler.mean.shape == (8,)
    _assert_padding_and_batch_invariant(clf.predict_proba, X)
    reg = SequenceRegressor(n_networks=1, summary_points=4, **params).fit(X, y.astype(float))
    _assert_padding_and_batch_invariant(lambda X: reg.predict(X)[:, None], X)
    tagger = SequenceTagger(**params).fit(X, [(x[:, 0] > 0).astype(int) for x in X])
    assert tagger.per_sequence_features_ is True
    _assert_tagger_padding_invariant(tagger, X)


def test_per_sequence_features_searched_where_auto(ragged):
    X, y = ragged
    reg = SequenceRegressor(n_networks=1, per_sequence_features="auto", summary_points=0,
                            conv_dilations=(1,), **FAST).fit(X, y.astype(float))
    search = reg.auto_search_
    assert [p["per_sequence_features"] for p in search["params"]] == [False, True]
    assert reg.per_sequence_features_ == search["best_params"]["per_sequence_features"]
    assert reg.fit_plan_["search"]
    # the tagger has no search; text has no scale
    with pytest.raises(ValueError, match="'per_sequence_features' parameter"):
        SequenceTagger(per_sequence_features="auto").fit(X, [(x[:, 0] > 0).astype(int) for x in X])
    text = ["a b c", "b c", "c a a b", "a"] * 5
    clf = SequenceClassifier(per_sequence_features=True, n_networks=1, **FAST)
    assert clf.fit(text, [0, 1, 0, 1] * 5).per_sequence_features_ is False


def test_input_differences_are_standardised_with_their_own_statistics(ragged):
    X, y = ragged
    X = [x * [1.0, 100.0] for x in X]
    clf = SequenceClassifier(
        n_networks=1, input_differences=1, difference_lag=3, **FAST
    ).fit(X, y)
    # statistics of the features and of their differences over the real steps
    steps = np.concatenate(
        [np.hstack([x, x - np.concatenate([x[:1]] * 3 + [x])[: len(x)]]) for x in X]
    )
    scaler = clf.net_.module_.inputs.scaler
    np.testing.assert_allclose(scaler.mean.numpy(), steps.mean(axis=0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(scaler.scale.numpy(), steps.std(axis=0), rtol=1e-5)
    # the differences change what the network reads, so its predictions
    plain = SequenceClassifier(n_networks=1, input_differences=0, **FAST).fit(X, y)
    assert plain.net_.module_.inputs.scaler.mean.shape == (2,)
    assert not np.allclose(plain.predict_proba(X), clf.predict_proba(X))


def test_auto_differences_keep_the_best_cross_validated_combination(monkeypatch):
    X, y = _long_series()
    fast = dict(num_hidden=4, max_epochs=3, random_state=0)
    multiscale = (1, 2, 4, 8, 16)
    calls = []

    def scores(best):
        def fake_cross_val_score(estimator, X, y, cv, params):
            candidate = (estimator.conv_dilations, estimator.input_differences)
            calls.append((*candidate, estimator.n_networks, cv.n_splits))
            return np.array([0.5, 0.6, 0.7]) + (0.1 if candidate == best else 0.0)
        return fake_cross_val_score

    # both "auto": every combination, simplest first
    grid = [((1,), 0), ((1,), 1), ((1,), 2), (multiscale, 0), (multiscale, 1),
            (multiscale, 2)]
    for best in grid:
        calls.clear()
        _fake_search(monkeypatch, scores(best))
        clf = SequenceClassifier(**fast, input_differences="auto").fit(X, y)
        assert (clf.conv_dilations_, clf.input_differences_) == best
        assert [c[:2] for c in calls] == grid and {c[2:] for c in calls} == {(1, 3)}
        network = clf.net_.module_.networks[0]
        first = network.frontend.blocks[0].conv
        assert [b.in_channels for b in getattr(first, "branches", [first])] == [
            1 + best[1]
        ] * len(best[0])
        assert network.inputs.scaler.mean.shape == (1 + best[1],)
    # a tie keeps the simplest
    _fake_search(monkeypatch, lambda *a, **k: np.array([0.5]))
    clf = SequenceClassifier(**fast, input_differences="auto").fit(X, y)
    assert (clf.conv_dilations_, clf.input_differences_) == ((1,), 0)
    # without a front-end, or with fixed dilations, only the differences
    calls.clear()
    _fake_search(monkeypatch, scores(((1,), 1)))
    clf = SequenceClassifier(**fast, input_differences="auto").fit(X[:, :40], y)
    assert clf.n_conv_layers_ == 0 and clf.input_differences_ == 1
    assert [c[:2] for c in calls] == [((1,), 0), ((1,), 1), ((1,), 2)]
    calls.clear()
    _fake_search(monkeypatch, scores(((2,), 1)))
    clf = SequenceClassifier(**fast, conv_dilations=[2], input_differences="auto").fit(X, y)
    assert [c[:2] for c in calls] == [((2,), 0), ((2,), 1), ((2,), 2)]
    assert clf.conv_dilations_ == (2,) and clf.input_differences_ == 1

    # no search over the size limit and in partial_fit: no differences
    def no_search(*args, **kwargs):
        raise AssertionError("searched")

    _fake_search(monkeypatch, no_search)
    clf = SequenceClassifier(**fast, input_differences="auto")
    assert clf.partial_fit(X, y, classes=[0, 1]).input_differences_ == 0
    # over the budget: the work of the search exceeds it
    monkeypatch.setattr(sklstm._auto, "FIT_BUDGET", 10_000)
    assert clf.fit(X, y).input_differences_ == 0


def test_auto_differences_fit_the_network_that_the_choice_names():
    X, y = _long_series()
    X = X[:, :50]
    fast = dict(num_hidden=4, max_epochs=3, random_state=0, conv_layers=0)
    clf = SequenceClassifier(**fast, input_differences="auto").fit(X, y)
    assert clf.input_differences_ in (0, 1, 2)
    again = SequenceClassifier(**fast, input_differences=clf.input_differences_).fit(X, y)
    np.testing.assert_array_equal(again.predict_proba(X), clf.predict_proba(X))
    reg = SequenceRegressor(**fast, input_differences="auto").fit(X, y * 1.0)
    assert reg.input_differences_ in (0, 1, 2)
    with pytest.raises(ValueError, match="'input_differences' parameter"):
        SequenceTagger(input_differences="auto").fit(list(X), [t.astype(int) for t in X[..., 0] > 0])


def test_strided_lengths_follow_the_convolutions():
    block = ConvBlock(1, 4, kernel_size=7, stride=2)
    for n in [1, 2, 7, 8, 150]:
        out, lengths = block(torch.zeros(1, 1, n), torch.tensor([n]))
        assert out.shape[-1] == int(lengths) == -(-n // 2)
    net = RecurrentNetwork(n_features=1, conv_layers=3)
    assert net.frontend is not None and len(net.frontend.blocks) == 3
    with pytest.raises(ValueError, match="conv_stride=1"):
        RecurrentNetwork(per_step=True, conv_layers=1, conv_stride=2)


def test_batch_norm_statistics_count_real_steps_only():
    from sklstm.nn._conv import _MaskedBatchNorm1d

    norm = _MaskedBatchNorm1d(2, momentum=1.0).train()
    X = torch.randn(2, 2, 4)
    mask = torch.tensor([[True, True, False, False], [True, True, True, True]])
    padded = X.clone()
    padded[0, :, 2:] = 1000.0  # padding: must not count
    out = norm(padded, mask)
    real = X.transpose(1, 2)[mask]  # (6 real steps, 2 channels)
    torch.testing.assert_close(norm.running_mean, real.mean(0))
    expected = (real - real.mean(0)) / torch.sqrt(real.var(0, unbiased=False) + norm.eps)
    torch.testing.assert_close(out.transpose(1, 2)[mask], expected)
    unbiased = real.var(0, unbiased=True)
    torch.testing.assert_close(norm.running_var, unbiased)
    assert int(norm.num_batches_tracked) == 1


@pytest.mark.parametrize("lengths", [[7, 3, 5], [7, 1, 2]])
@pytest.mark.parametrize("method", ["_gathered", "_summed"])
def test_masked_batch_norm_matches_batch_norm_of_the_real_steps(method, lengths):
    # each of the two computations: the masked statistics, their running
    # averages and the gradients agree with nn.BatchNorm1d applied to the
    # real steps alone
    from sklstm.nn._conv import _MaskedBatchNorm1d

    torch.manual_seed(0)
    lengths = torch.tensor(lengths)
    X = torch.randn(3, 4, 7)
    mask = torch.arange(7) < lengths[:, None]
    masked, plain = _MaskedBatchNorm1d(4).train(), torch.nn.BatchNorm1d(4).train()
    with torch.no_grad():
        masked.weight.uniform_(0.5, 2), masked.bias.uniform_(-1, 1)
    plain.load_state_dict(masked.state_dict())
    X1 = X.clone().requires_grad_()
    X2 = X.clone().requires_grad_()
    for _ in range(2):
        out = getattr(masked, method)(X1.transpose(1, 2), mask)[mask]  # (batch, time, ch)
        ref = plain(X2.transpose(1, 2)[mask])
        torch.testing.assert_close(out, ref)
        weights = torch.randn_like(ref)
        (out * weights).sum().backward()
        (ref * weights).sum().backward()
    torch.testing.assert_close(X1.grad, X2.grad)
    torch.testing.assert_close(masked.weight.grad, plain.weight.grad)
    torch.testing.assert_close(masked.bias.grad, plain.bias.grad)
    for name in ("running_mean", "running_var", "num_batches_tracked"):
        torch.testing.assert_close(getattr(masked, name), getattr(plain, name))


@pytest.mark.parametrize("lengths, method", [([7, 3, 5], "_summed"), ([7, 1, 2], "_gathered")])
def test_masked_batch_norm_sums_where_most_steps_are_real(monkeypatch, lengths, method):
    # on the CPU, 15 real steps of 21 (at least two thirds) are summed over
    # the padded batch, 10 of 21 gathered
    from sklstm.nn._conv import _MaskedBatchNorm1d

    called = []
    for name in ("_gathered", "_summed"):
        original = getattr(_MaskedBatchNorm1d, name)
        monkeypatch.setattr(
            _MaskedBatchNorm1d, name,
            lambda self, X, mask, name=name, original=original: (
                called.append(name), original(self, X, mask))[1],
        )
    mask = torch.arange(7) < torch.tensor(lengths)[:, None]
    _MaskedBatchNorm1d(4).train()(torch.randn(3, 4, 7), mask)
    assert called == [method]


@pytest.mark.parametrize("lengths", [[40, 36, 30], [40, 5, 3]])
def test_training_front_end_never_depends_on_padding(lengths):
    # in training, batch statistics come from the real steps only: more
    # padding changes no real step's output, and padded steps stay zero,
    # whether the masked batch normalisation sums (mostly real steps) or
    # gathers (mostly padding); the first lengths sum without the extra
    # padding and gather with it
    from sklstm.nn import ConvFrontEnd

    torch.manual_seed(0)
    front = ConvFrontEnd(2, n_layers=2, channels=8, kernel_size=5, stride=2).train()
    lengths = torch.tensor(lengths)
    X = torch.randn(3, 40, 2)
    out, out_lengths = front(X, lengths)
    longer, longer_lengths = front(torch.cat([X, torch.randn(3, 24, 2)], 1), lengths)
    assert torch.equal(out_lengths, longer_lengths)
    for i, n in enumerate(out_lengths.tolist()):
        torch.testing.assert_close(longer[i, :n], out[i, :n])
        assert (out[i, n:] == 0).all() and (longer[i, n:] == 0).all()


def test_pooling_over_real_steps_only():
    out = torch.tensor([[[1.0], [3.0], [100.0]], [[2.0], [4.0], [6.0]]])
    lengths = torch.tensor([2, 3])
    assert Pooling("mean", 1)(out, lengths).flatten().tolist() == [2.0, 4.0]
    assert Pooling("max", 1)(out, lengths).flatten().tolist() == [3.0, 6.0]
    assert Pooling("last", 1)(out, lengths).flatten().tolist() == [3.0, 6.0]
    attention = Pooling("attention", 1)
    pooled = attention(out, lengths).flatten()
    assert 1.0 <= pooled[0] <= 3.0 and 2.0 <= pooled[1] <= 6.0
    with pytest.raises(ValueError, match="pooling must be one of"):
        Pooling("sum", 1)


@pytest.mark.parametrize(
    "length, expected", [(20, 0), (64, 0), (65, 1), (150, 2), (427, 3)]
)
def test_auto_front_end_depth_from_the_training_length(length, expected):
    rng = np.random.RandomState(0)
    X = rng.normal(size=(8, length, 1))
    y = [0, 1] * 4
    clf = SequenceClassifier(max_epochs=1, conv_channels=4, num_hidden=4).fit(X, y)
    assert clf.n_conv_layers_ == expected
    # the tagger keeps one output per step: no strided blocks
    tagger = SequenceTagger(max_epochs=1, num_hidden=4).fit(X, (X[..., 0] > 0) * 1)
    assert tagger.n_conv_layers_ == 0
    # an explicit depth is used as given
    clf = SequenceClassifier(max_epochs=1, conv_layers=1, conv_channels=4).fit(X, y)
    assert clf.n_conv_layers_ == 1


def test_auto_front_end_depth_from_the_median_length_of_ragged_data():
    # seven sequences of 100 steps and one of 1,000: the depth that
    # shortens 100 steps to 64 or fewer (one block), not 1,000 (four)
    rng = np.random.RandomState(0)
    X = [rng.normal(size=(100, 1)) for _ in range(7)] + [rng.normal(size=(1000, 1))]
    clf = SequenceClassifier(max_epochs=1, conv_channels=4, num_hidden=4)
    clf.fit(X, [0, 1] * 4)
    assert clf.n_conv_layers_ == 1
    # the long sequence is read whole, the same alone as among short ones
    np.testing.assert_allclose(
        clf.predict_proba(X)[-1], clf.predict_proba(X[-1:])[0], rtol=0, atol=1e-6
    )
    # equal lengths: the median is that length
    clf.fit(np.stack(X[:7]).repeat(2, axis=1), [0, 1, 0, 1, 0, 1, 0])
    assert clf.n_conv_layers_ == 2


def test_text_gets_no_automatic_front_end():
    texts = ["good film " * 40, "bad film " * 40] * 4
    clf = SequenceClassifier(max_epochs=1, num_hidden=4, n_networks=1).fit(texts, [1, 0] * 4)
    assert clf.n_conv_layers_ == 0 and isinstance(clf.net_.module_.inputs, TokenEmbedding)
    # nor differences: token ids have no scale
    assert clf.input_differences == 2 and clf.input_differences_ == 0


def test_long_series_are_learned():
    """Long univariate series that a last-state LSTM fails on (cf. GunPoint)."""
    rng = np.random.RandomState(0)
    n, length = 80, 300
    y = np.arange(n) % 2
    t = np.arange(length)
    centers = rng.randint(50, 250, size=n)
    # class 1 has a bump, class 0 a dip, at a random place in the series
    X = (2 * y[:, None] - 1) * np.exp(-0.5 * ((t - centers[:, None]) / 8) ** 2)
    X = X + 0.1 * rng.normal(size=X.shape)
    # one network, the automatic front-end depth and a plain first block
    clf = SequenceClassifier(
        random_state=0, max_epochs=30, n_networks=1, conv_dilations=(1,)
    ).fit(X[:60], y[:60])
    assert clf.n_conv_layers_ == 3
    assert clf.score(X[60:], y[60:]) == 1.0


def test_standardize_makes_the_scale_irrelevant(ragged):
    X, y = ragged
    X_big = [x * 1e30 + 1e31 for x in X]
    clf = SequenceClassifier(n_networks=1, **FAST).fit(X, y)
    clf_big = SequenceClassifier(n_networks=1, **FAST).fit(X_big, y)
    module = clf_big.net_.module_
    assert module.inputs.scaler is not None
    # the two features, then their differences of orders 1 and 2
    # (input_differences=2)
    assert module.inputs.scaler.mean.shape == (6,)
    np.testing.assert_allclose(module.inputs.scaler.mean.numpy()[:2], 1e31 * np.ones(2), rtol=1e-2)
    np.testing.assert_allclose(
        clf_big.predict_proba(X_big), clf.predict_proba(X), rtol=1e-3, atol=1e-3
    )
    # the statistics count real steps only
    steps = np.concatenate(X)
    scaler = clf.net_.module_.inputs.scaler
    np.testing.assert_allclose(scaler.mean.numpy()[:2], steps.mean(0), rtol=1e-5)
    np.testing.assert_allclose(scaler.scale.numpy()[:2], steps.std(0), rtol=1e-5)


def test_tiny_scales_are_standardized_too(ragged):
    X, y = ragged
    clf = SequenceClassifier(n_networks=1, **FAST).fit(X, y)
    clf_tiny = SequenceClassifier(n_networks=1, **FAST).fit([x * 1e-30 for x in X], y)
    np.testing.assert_allclose(
        clf_tiny.net_.module_.inputs.scaler.scale.numpy(),
        1e-30 * clf.net_.module_.inputs.scaler.scale.numpy(), rtol=1e-4,
    )
    np.testing.assert_allclose(
        clf_tiny.predict_proba([x * 1e-30 for x in X]), clf.predict_proba(X),
        rtol=1e-3, atol=1e-3,
    )
    # a constant feature keeps scale 1
    X_const = [np.column_stack([x[:, 0], np.full(len(x), 5.0)]) for x in X]
    clf = SequenceClassifier(n_networks=1, **FAST).fit(X_const, y)
    assert clf.net_.module_.inputs.scaler.scale[1] == 1.0


def test_unscaled_large_inputs_warn(ragged):
    X, y = ragged
    with pytest.warns(UserWarning, match="standardize=False"):
        SequenceClassifier(standardize=False, **FAST).fit([x * 1e30 for x in X], y)
    with pytest.raises(ValueError, match="infinity or a value beyond float32.s range"):
        SequenceClassifier(**FAST).fit(np.full((4, 5), 1e39), [0, 1, 0, 1])


def test_auto_epochs_in_fit(monkeypatch):
    X = np.random.RandomState(0).normal(size=(36, 5))
    y = [0, 1] * 18
    clf = SequenceClassifier(max_epochs="auto", num_hidden=4, n_networks=1)
    # within the budget: 80 epochs (here, a smaller AUTO_EPOCHS keeps it short)
    monkeypatch.setattr(sklstm._auto, "AUTO_EPOCHS", 12)
    assert clf.fit(X, y).n_iter_ == 12 == clf.fit_plan_["epochs"]
    assert len(clf.history_) == 12
    # a budget with room for 11 epochs of this data: 11
    work = clf.fit_plan_["work"] // 12
    monkeypatch.setattr(sklstm._auto, "FIT_BUDGET", 11 * work)
    assert clf.fit(X, y).n_iter_ == 11
    # never fewer than MIN_EPOCHS; numbers are trained as set
    monkeypatch.setattr(sklstm._auto, "FIT_BUDGET", 1)
    assert clf.fit(X, y).n_iter_ == sklstm._auto.MIN_EPOCHS
    assert clf.set_params(max_epochs=3).fit(X, y).n_iter_ == 3


@pytest.mark.parametrize(
    "params, match",
    [
        ({"conv_layers": -1}, "'conv_layers' parameter"),
        ({"conv_layers": "deep"}, "'conv_layers' parameter"),
        ({"pooling": "sum"}, "'pooling' parameter"),
        ({"conv_pooling": "last"}, "'conv_pooling' parameter"),
        ({"conv_dilations": "wide"}, "'conv_dilations' parameter"),
        ({"conv_stride": 0}, "'conv_stride' parameter"),
        ({"input_differences": -1}, "'input_differences' parameter"),
        ({"input_differences": "all"}, "'input_differences' parameter"),
        ({"difference_lag": 0}, "'difference_lag' parameter"),
        ({"max_epochs": "forever"}, "'max_epochs' parameter"),
        ({"standardize": "yes"}, "'standardize' parameter"),
    ],
)
def test_invalid_architecture_parameters(ragged, params, match):
    X, y = ragged
    with pytest.raises(ValueError, match=match):
        SequenceClassifier(**params).fit(X, y)


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: RecurrentNetwork(embedding_dropout=0.1), "embedding_dropout needs token inputs"),
        (lambda: RecurrentNetwork(cell="lsmt"), "cell must be one of"),
        (lambda: RecurrentNetwork(vocab_size=10, input_differences=1),
         "input_differences needs real-valued inputs"),
        (lambda: RecurrentNetwork(vocab_size=10, tie_weights=True, bidirectional=True),
         "tie_weights needs token inputs and one direction"),
        (lambda: LinearHead(4, 3, tie_weights=True), "tie_weights needs token inputs"),
        (lambda: TwoLevelSoftmaxHead(4, 10, cutoff=10), "softmax_cutoff must be between 1 and"),
    ],
)
def test_network_parts_refuse_options_that_do_not_fit(make, match):
    # the torch parts check what they are given, for use outside the estimators
    with pytest.raises(ValueError, match=match):
        make()


def test_grid_search_and_pickle_over_the_new_parameters():
    import pickle

    from sklearn.model_selection import GridSearchCV

    rng = np.random.RandomState(0)
    X = rng.normal(size=(40, 100, 2)) * [1.0, 1e3]
    y = (X[:, :50, 0].mean(axis=1) > 0).astype(int)
    grid = {"pooling": ["max", "last"], "conv_layers": [0, "auto"]}
    search = GridSearchCV(SequenceClassifier(n_networks=1, **FAST), grid, cv=2).fit(X, y)
    assert len(search.cv_results_["params"]) == 4
    clf = search.best_estimator_
    assert clf.n_conv_layers_ in (0, 1)
    clone = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(clone.predict_proba(X), clf.predict_proba(X))
    np.testing.assert_array_equal(
        clone.net_.module_.inputs.scaler.mean.numpy(), clf.net_.module_.inputs.scaler.mean.numpy()
    )


@pytest.mark.parametrize("Estimator", [SequenceClassifier, SequenceRegressor, SequenceTagger])
def test_bfloat16_mixed_precision(ragged, Estimator):
    X, y = ragged
    if Estimator is SequenceTagger:
        y = [(x[:, 0] > 0).astype(int) for x in X]
    elif Estimator is SequenceRegressor:
        y = y.astype(float)
    params = dict(conv_layers=1, conv_channels=8, conv_stride=1, **FAST)
    if Estimator is not SequenceTagger:
        params.update(conv_stride=2, n_networks=1, conv_dilations=(1,))
        if Estimator is SequenceRegressor:
            params.update(BOTH_PATHS)
    else:
        del params["conv_stride"]
    est = Estimator(precision="bfloat16", **{**params, "max_epochs": 10}).fit(X, y)
    module = est.net_.module_
    assert est.net_.compute_dtype is torch.bfloat16
    assert {p.dtype for p in module.parameters()} == {torch.float32}
    # in the net's training step the convolutions and recurrent layers
    # compute in bfloat16, and the loss sees float32 outputs
    seen = []
    hooks = [
        part.register_forward_hook(lambda m, a, out: seen.append(
            (out[0] if isinstance(out, tuple) else out).dtype))
        for part in (module.frontend.blocks[0].conv, module.rnn)
    ]
    module.train()
    x = torch.from_numpy(np.stack([x[:5] for x in X[:3]]).astype(np.float32))
    y_step = torch.zeros((3, 5) if Estimator is SequenceTagger else 3, dtype=torch.long)
    if Estimator is SequenceRegressor:
        y_step = torch.zeros(3, 1)
    est.net_.optimizer_.zero_grad()
    assert est.net_.train_step_single((x, y_step))["y_pred"].dtype == torch.float32
    # the LSTM in float32 where this CPU has no bfloat16 kernel for it
    native = low_precision_supported("lstm", "cpu", torch.bfloat16)
    assert seen == [torch.bfloat16, torch.bfloat16 if native else torch.float32]
    for hook in hooks:
        hook.remove()
    # prediction computes in float32, and still never depends on padding
    if Estimator is SequenceClassifier:
        _assert_padding_and_batch_invariant(est.predict_proba, X)
        float32 = SequenceClassifier(**{**params, "max_epochs": 10}).fit(X, y)
        assert abs(est.score(X, y) - float32.score(X, y)) < 0.1
    with pytest.raises(ValueError, match="'precision' parameter"):
        Estimator(precision="float16").fit(X, y)


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
@pytest.mark.parametrize("num_layers", [1, 2])
def test_bidirectional_ragged_outputs_are_those_of_packed_sequences(cell, num_layers):
    """Each direction runs fused, the backward one on sequences reversed
    within their lengths: at real steps, the outputs of packed sequences."""
    from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

    from sklstm.nn import RecurrentStack

    torch.manual_seed(0)
    stack = RecurrentStack(cell, 5, 7, num_layers, True, 0.0)
    X, lengths = torch.randn(4, 11, 5), torch.tensor([11, 3, 7, 1])
    with torch.no_grad():
        out, _ = stack(X, lengths)
        packed = pack_padded_sequence(X, lengths, batch_first=True, enforce_sorted=False)
        expected, _ = pad_packed_sequence(stack.layers[0](packed)[0], batch_first=True)
    real = torch.arange(11)[None] < lengths[:, None]
    torch.testing.assert_close(out[real], expected[real], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("n_features", [1, 2])
def test_front_end_computes_in_channels_last_memory(n_features, monkeypatch):
    # every block's convolution gives (batch, channels, time) as a transposed
    # view of (batch, time, channels) memory, for one feature too (whose
    # transposed strides read both ways), the ReLU and the next convolution
    # run on it with no copy, and the recurrent layers get a contiguous
    # (batch, time, channels); the values are those of nn.Conv1d's own
    # default-layout convolutions, in training and in evaluation
    import copy

    from sklstm.nn._conv import _Conv1d

    torch.manual_seed(0)
    front = ConvFrontEnd(n_features, 3, 8, 7, 2, dilations=(1, 2)).train()
    reference = copy.deepcopy(front)
    layouts = []
    for block in front.blocks:
        block.register_forward_hook(
            lambda module, args, out: layouts.append(out[0].transpose(1, 2).is_contiguous())
        )
    X = torch.randn(4, 60, n_features)
    lengths = torch.tensor([60, 41, 60, 13])
    out, out_lengths = front(X, lengths)
    assert layouts == [True, True, True] and out.is_contiguous()
    evaluated, _ = front.eval()(X, lengths)
    assert evaluated.is_contiguous()
    monkeypatch.setattr(_Conv1d, "forward", torch.nn.Conv1d.forward)
    expected, expected_lengths = reference(X, lengths)
    torch.testing.assert_close(out, expected)
    assert torch.equal(out_lengths, expected_lengths)
    torch.testing.assert_close(evaluated, reference.eval()(X, lengths)[0])


@pytest.mark.parametrize("real_share", [0.3, 0.9])
def test_masked_batch_norm_keeps_channels_last_memory(real_share):
    # both computations (gathered steps for a low real share, sums for a
    # high one) and evaluation give (batch, channels, time) in the memory
    # layout of the front-end's convolutions, a transposed view of (batch,
    # time, channels), so that the ReLU and the next convolution, and their
    # backward passes, do not run on strided tensors
    from sklstm.nn._conv import _MaskedBatchNorm1d

    torch.manual_seed(0)
    norm = _MaskedBatchNorm1d(8).train()
    lengths = torch.full((6,), 40)
    lengths[1:] = int(40 * real_share)
    mask = torch.arange(40) < lengths[:, None]
    X = torch.randn(6, 40, 8).transpose(1, 2)
    out = norm(X, mask)
    assert out.shape == (6, 8, 40) and out.transpose(1, 2).is_contiguous()
    assert norm.eval()(X).transpose(1, 2).is_contiguous()
