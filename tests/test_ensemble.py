"""Ensembles of networks (``n_networks``) in the classifier and the regressor."""

import pickle

import numpy as np
import pytest
import torch

from sklstm import SequenceClassifier, SequenceRegressor, SequenceTagger
import sklstm._auto
from sklstm._auto import ENSEMBLE_SIZE as _AUTO_ENSEMBLE_SIZE
from sklstm._data import pad_sequences
from sklstm.nn import NetworkEnsemble, RecurrentNetwork

# the architecture tests' ragged data (a fixture) and invariance check
from test_architecture import _assert_padding_and_batch_invariant, ragged  # noqa: F401

# no inner search of the first block's dilations: it has its own tests
FAST = dict(num_hidden=8, max_epochs=3, batch_size=16, random_state=0, conv_dilations=(1,))


def _padded(X):
    padded, lengths = pad_sequences(X, np.float32)
    return torch.from_numpy(padded), torch.from_numpy(lengths)


def test_module_outputs_per_network_in_training_and_their_mean_in_evaluation():
    torch.manual_seed(0)
    ensemble = NetworkEnsemble(3, n_features=2, n_outputs=4, num_hidden=8)
    X, lengths = torch.randn(5, 9, 2), torch.tensor([9, 3, 5, 1, 9])
    members = ensemble.train()(X, lengths)
    assert members.shape == (3, 5, 4)
    ensemble.eval()
    expected = torch.stack(
        [net(X, lengths).softmax(-1) for net in ensemble.networks]
    ).mean(0)
    torch.testing.assert_close(ensemble(X, lengths).softmax(-1), expected)
    # the networks start from different weights
    first, second = (net.head.weight for net in ensemble.networks[:2])
    assert not torch.equal(first, second)

    regression = NetworkEnsemble(
        2, combine="mean", n_features=2, n_outputs=1, num_hidden=8
    ).eval()
    expected = torch.stack([net(X, lengths) for net in regression.networks]).mean(0)
    torch.testing.assert_close(regression(X, lengths), expected)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"n_networks": 0}, "positive integer"),
        ({"combine": "vote"}, "combine"),
        ({"vocab_size": 10, "n_outputs": 10, "softmax_cutoff": 5}, "softmax_cutoff"),
    ],
)
def test_module_rejects_bad_parameters(kwargs, match):
    params = {"n_networks": 2, "n_features": 1, **kwargs}
    with pytest.raises(ValueError, match=match):
        NetworkEnsemble(**params)


def test_training_loss_is_the_mean_of_the_networks_losses(ragged):
    X, y = ragged
    clf = SequenceClassifier(n_networks=3, **FAST).fit(X, y)
    net = clf.net_
    Xt = torch.randn(6, 10, 2)
    yt = torch.tensor([0, 1, 1, 0, 1, 0])
    net.module_.train()
    outputs = net.module_(Xt, return_all=True)
    members = outputs.prediction
    assert members.shape == (3, 6, 2)
    loss, objective = net.module_.training_loss(
        outputs, yt, lambda y_pred, y_true: net.get_loss(y_pred, y_true, X={"X": Xt})
    )
    expected = torch.stack(
        [torch.nn.functional.cross_entropy(out, yt) for out in members]
    ).mean()
    torch.testing.assert_close(loss, expected)
    # each network follows the gradient of its own loss: their sum
    torch.testing.assert_close(objective, 3 * expected)


def test_every_network_learns_and_predictions_average_them(ragged):
    X, y = ragged
    clf = SequenceClassifier(n_networks=3, **FAST).fit(X, y)
    assert clf.n_networks_ == 3
    networks = clf.net_.module_.networks
    assert len(networks) == 3
    # one more epoch moves every network's weights
    before = [net.head.weight.detach().clone() for net in networks]
    clf.set_params(warm_start=True, max_epochs=1).fit(X, y)
    for net, weight in zip(clf.net_.module_.networks, before):
        assert not torch.equal(net.head.weight, weight)
    # predict_proba is the mean of the networks' own probabilities
    Xp, lengths = _padded(X[:8])
    with torch.no_grad():
        own = [net.eval()(Xp, lengths).softmax(-1) for net in networks]
    np.testing.assert_allclose(
        clf.predict_proba(X[:8]), torch.stack(own).mean(0).numpy(), rtol=1e-5, atol=1e-6
    )


@pytest.mark.parametrize("Estimator", [SequenceClassifier, SequenceRegressor])
def test_auto_size_follows_the_fit_budget(Estimator, monkeypatch):
    rng = np.random.RandomState(0)
    small = rng.normal(size=(20, 4, 1))
    params = dict(num_hidden=4, max_epochs=1, batch_size=512, random_state=0)
    if Estimator is SequenceRegressor:  # no inner search: the networks' work alone
        params.update(summary_points=0, per_sequence_features=False)
    est = Estimator(**params)
    assert est.n_networks == "auto"
    assert est.fit(small, np.arange(20) % 2).n_networks_ == _AUTO_ENSEMBLE_SIZE
    assert isinstance(est.net_.module_, NetworkEnsemble)
    assert est.fit_plan_["n_networks"] == _AUTO_ENSEMBLE_SIZE
    # a budget with room for two networks of this data: two
    work = est.fit_plan_["work"] // _AUTO_ENSEMBLE_SIZE
    monkeypatch.setattr(sklstm._auto, "FIT_BUDGET", 2 * work + 1)
    assert est.fit(small, np.arange(20) % 2).n_networks_ == 2
    # for one, or less: one network, a plain RecurrentNetwork
    monkeypatch.setattr(sklstm._auto, "FIT_BUDGET", work // 2)
    assert est.fit(small, np.arange(20) % 2).n_networks_ == 1
    assert isinstance(est.net_.module_, RecurrentNetwork)
    # partial_fit streams chunks of a data set of unknown size: one network
    est = Estimator(**params)
    kwargs = {"classes": [0, 1]} if Estimator is SequenceClassifier else {}
    assert est.partial_fit(small, np.arange(20) % 2, **kwargs).n_networks_ == 1


@pytest.mark.parametrize("conv_layers", [0, 2])
def test_ensembles_never_depend_on_padding_or_batch(ragged, conv_layers):
    X, y = ragged
    params = dict(n_networks=3, conv_layers=conv_layers, conv_channels=8, **FAST)
    clf = SequenceClassifier(**params).fit(X, y)
    _assert_padding_and_batch_invariant(clf.predict_proba, X)
    # the regressor's searched parts set, both on (no inner search)
    reg = SequenceRegressor(**params, summary_points=4, per_sequence_features=True)
    reg.fit(X, y.astype(float))
    _assert_padding_and_batch_invariant(lambda X: reg.predict(X)[:, None], X)


def test_sample_weight_reaches_every_network(ragged):
    X, y = ragged
    weight = np.where(y == 1, 1.0, 0.0)
    weight[0] = 1.0  # some weight, so the loss is defined
    clf = SequenceClassifier(n_networks=2, **{**FAST, "max_epochs": 12})
    clf.fit(X, y, sample_weight=weight)
    # with the zero class weighted out, every network predicts class 1
    Xp, lengths = _padded(X)
    for net in clf.net_.module_.networks:
        with torch.no_grad():
            pred = net.eval()(Xp, lengths).argmax(-1)
        assert (pred == 1).float().mean() > 0.9


def test_save_load_and_pickle_round_trips(ragged, tmp_path):
    import sklstm

    X, y = ragged
    clf = SequenceClassifier(n_networks=2, **FAST).fit(X, y)
    reg = SequenceRegressor(n_networks=2, **FAST).fit(X, y.astype(float))
    for est, predict in ((clf, "predict_proba"), (reg, "predict")):
        expected = getattr(est, predict)(X)
        path = tmp_path / f"{type(est).__name__}.sklstm"
        pytest.importorskip("safetensors", reason="sklstm.save needs safetensors")
        sklstm.save(est, path)
        loaded = sklstm.load(path)
        assert loaded.n_networks_ == 2
        np.testing.assert_array_equal(getattr(loaded, predict)(X), expected)
        clone = pickle.loads(pickle.dumps(est))
        np.testing.assert_array_equal(getattr(clone, predict)(X), expected)


def test_onnx_export_of_an_ensemble(ragged, tmp_path):
    pytest.importorskip("onnxruntime", reason="ONNX export needs onnxruntime")
    import onnxruntime

    import sklstm

    X, y = ragged
    clf = SequenceClassifier(n_networks=2, **FAST).fit(X, y)
    path = tmp_path / "ensemble.onnx"
    sklstm.to_onnx(clf, path)
    session = onnxruntime.InferenceSession(str(path))
    Xp, lengths = _padded(X)
    names = [o.name for o in session.get_outputs()]
    outputs = dict(zip(names, session.run(None, {
        "X": Xp.numpy().astype(np.float32), "lengths": lengths.numpy()
    })))
    proba = next(v for k, v in outputs.items() if k != "label")
    np.testing.assert_allclose(proba, clf.predict_proba(X), rtol=1e-5, atol=1e-5)


def test_the_tagger_has_no_ensemble_and_bad_sizes_are_refused(ragged):
    X, y = ragged
    assert "n_networks" not in SequenceTagger().get_params()
    for bad in (0, -1, "many", 2.5):
        with pytest.raises(ValueError, match="'n_networks' parameter"):
            SequenceClassifier(n_networks=bad).fit(X, y)


def test_each_network_follows_the_gradient_of_its_own_loss(ragged):
    """Training the ensemble steps each network as if it trained alone."""
    X, y = ragged
    clf = SequenceClassifier(n_networks=2, **FAST).fit(X, y)
    net = clf.net_
    Xp, lengths = _padded(X[:16])
    yt = torch.as_tensor(y[:16])
    net.module_.train()
    net.optimizer_.zero_grad()
    net.train_step_single(({"X": Xp, "lengths": lengths}, yt))
    for member in net.module_.networks:
        own = torch.nn.functional.cross_entropy(member(Xp, lengths), yt)
        expected = torch.autograd.grad(own, member.head.weight)[0]
        torch.testing.assert_close(member.head.weight.grad, expected)


@pytest.mark.parametrize(
    "options",
    [
        {"precision": "bfloat16"},
        {"early_stopping": True, "max_epochs": 6, "n_iter_no_change": 2},
        {"class_weight": "balanced"},
        {"weight_dropout": 0.3, "dropout": 0.2, "locked_dropout": True},
        {"pooling": "attention", "conv_layers": 1, "conv_channels": 4},
    ],
    ids=["bfloat16", "early stopping", "class weight", "regularised", "attention"],
)
def test_other_options_train_ensembles(ragged, options):
    X, y = ragged
    clf = SequenceClassifier(n_networks=2, **{**FAST, **options}).fit(X, y)
    assert isinstance(clf.net_.module_, NetworkEnsemble)
    assert np.isfinite(clf.history_["train_loss"]).all()
    proba = clf.predict_proba(X)
    np.testing.assert_allclose(proba.sum(axis=1), 1, rtol=1e-5)
    _assert_padding_and_batch_invariant(clf.predict_proba, X)
