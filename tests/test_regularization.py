"""AWD-LSTM-style regularisation of the language model: locked dropout,
embedding dropout, weight drop, AR/TAR, variable windows and NT-ASGD."""

import pickle
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from skorch.callbacks import Callback
from skorch.dataset import Dataset
from skorch.history import History

from sklstm import SequenceLanguageModel
from sklstm._data import WindowIterator
from sklstm._language_model import _NTAveraging
from sklstm.nn import RecurrentNetwork
from sklstm.nn._tensors import locked_dropout as _locked_dropout

TEXT = [
    f"{s} {v} {o}"
    for s, v, o in zip(
        np.random.RandomState(0).choice(["the cat", "a dog", "the bird"], 90),
        np.random.RandomState(1).choice(["sees", "likes"], 90),
        np.random.RandomState(2).choice(["fish", "milk", "seeds"], 90),
    )
]
FAST = dict(num_hidden=16, num_layers=2, batch_size=4, bptt=6, max_epochs=3,
            validation_fraction=None, random_state=0)
AWD = dict(locked_dropout=True, embedding_dropout=0.1, weight_dropout=0.5,
           activation_penalty=2.0, temporal_penalty=1.0, variable_bptt=True,
           optimizer="nt-asgd", lr=2.0, lr_schedule="constant",
           averaging_patience=1, dropout=0.3)


def _lm_module(**kwargs):
    torch.manual_seed(0)
    params = dict(vocab_size=20, n_outputs=20, num_hidden=6, num_layers=2,
                  per_step=True, dropout=0.0)
    return RecurrentNetwork(**{**params, **kwargs})


def _rnn_inputs(module, tokens):
    """What the recurrent stack receives in one training forward call."""
    seen = []
    hook = module.rnn.register_forward_pre_hook(lambda m, args: seen.append(args[0]))
    module.train()(tokens)
    hook.remove()
    return seen[0]


def test_locked_dropout_shares_the_mask_across_steps():
    X = torch.ones(50, 30, 8)
    out = _locked_dropout(X, 0.4)
    # every (sequence, feature) is dropped at all steps or at none
    assert torch.equal(out, out[:, :1].expand_as(out))
    values = out.unique()
    assert values.tolist() == [0.0, pytest.approx(1 / 0.6)]
    assert 0.3 < (out[:, 0] == 0).float().mean() < 0.5
    assert _locked_dropout(X, 0.4, training=False) is X


@pytest.mark.parametrize("locked", [True, False])
def test_locked_dropout_in_the_network(locked):
    module = _lm_module(dropout=0.5, locked_dropout=locked)
    tokens = torch.full((16, 12), 3)  # the same word at every step
    X = _rnn_inputs(module, tokens)
    same_over_time = torch.equal(X, X[:, :1].expand_as(X))
    assert same_over_time == locked
    # between the layers too: one module per layer, a shared mask
    assert len(module.rnn.layers) == (2 if locked else 1)
    if locked:
        between = []
        hook = module.rnn.layers[1].register_forward_pre_hook(
            lambda m, args: between.append(args[0]))
        module(tokens)
        hook.remove()
        zero = between[0] == 0
        assert zero.any() and torch.equal(zero, zero[:, :1].expand_as(zero))
    # evaluation drops nothing: the output is deterministic
    module.eval()
    assert torch.equal(module(tokens), module(tokens))


def test_embedding_dropout_drops_whole_words():
    module = _lm_module(embedding_dropout=0.5)
    tokens = torch.randint(20, (8, 25))
    X = _rnn_inputs(module, tokens)
    weight = module.inputs.weight.detach()
    dropped = set()
    for word in tokens.unique().tolist():
        rows = X[tokens == word]
        if torch.all(rows == 0):
            dropped.add(word)
        else:  # kept everywhere in the window, scaled by 1 / (1 - p)
            torch.testing.assert_close(rows, (2 * weight[word]).expand_as(rows))
    assert 0 < len(dropped) < tokens.unique().numel()
    module.eval()
    seen = []
    hook = module.rnn.register_forward_pre_hook(lambda m, a: seen.append(a[0]))
    module(tokens)
    hook.remove()
    torch.testing.assert_close(seen[0], weight[tokens])


def test_weight_drop_only_in_training():
    plain, dropped = _lm_module(), _lm_module(weight_dropout=0.5)
    dropped.load_state_dict(plain.state_dict())
    tokens = torch.randint(20, (4, 10))
    plain.eval(), dropped.eval()
    torch.testing.assert_close(dropped(tokens), plain(tokens), rtol=0, atol=0)
    plain.train(), dropped.train()
    before = {k: v.clone() for k, v in dropped.state_dict().items()}
    first, second = dropped(tokens), dropped(tokens)
    assert not torch.allclose(first, second)  # a new mask per call
    assert not torch.allclose(first, plain(tokens))
    # the parameters themselves stay whole, and still learn
    for k, v in dropped.state_dict().items():
        assert torch.equal(v, before[k]), k
    first.sum().backward()
    assert all(
        getattr(layer, name).grad.abs().sum() > 0
        for layer in dropped.rnn.layers
        for name in layer._flat_weights_names
        if name.startswith("weight_hh")
    )


def test_weight_drop_masks_the_hidden_weights():
    module = _lm_module(num_layers=1, weight_dropout=0.5)
    rnn = module.rnn.layers[0]
    used = []
    original = torch.func.functional_call

    def spy(mod, weights, args):
        used.append(weights)
        return original(mod, weights, args)

    import sklstm.nn._recurrent as modules

    modules.functional_call, saved = spy, modules.functional_call
    try:
        module.train()(torch.randint(20, (2, 5)))
    finally:
        modules.functional_call = saved
    (weights,) = used
    assert set(weights) == {"weight_hh_l0"}
    w, full = weights["weight_hh_l0"], rnn.weight_hh_l0.detach()
    kept = w != 0
    assert 0.3 < kept.float().mean() < 0.7
    torch.testing.assert_close(w[kept], 2 * full[kept])


def test_penalties_add_the_expected_amounts():
    module = _lm_module(activation_penalty=2.0, temporal_penalty=3.0)
    tokens = torch.randint(20, (4, 9))
    outputs = []
    hook = module.rnn.register_forward_hook(lambda m, a, out: outputs.append(out[0]))
    penalty = module.train()(tokens, return_all=True).penalty
    hook.remove()
    h = outputs[0]
    expected = 2.0 * h.pow(2).mean() + 3.0 * (h[:, 1:] - h[:, :-1]).pow(2).mean()
    torch.testing.assert_close(penalty, expected)
    assert module.eval()(tokens, return_all=True).penalty is None


def test_penalties_count_real_steps_only():
    torch.manual_seed(0)
    net = RecurrentNetwork(n_features=2, n_outputs=2, num_hidden=5,
                           activation_penalty=1.0, temporal_penalty=2.0).train()
    X = torch.randn(2, 7, 2)
    X[0, 4:] = 1e3  # padding, which must not count
    outputs = []
    hook = net.rnn.register_forward_hook(lambda m, a, out: outputs.append(out[0]))
    penalty = net(X, lengths=torch.tensor([4, 7]), return_all=True).penalty
    hook.remove()
    h = outputs[0]
    steps = torch.cat([h[0, :4], h[1]])  # the 11 real steps
    changes = torch.cat([h[0, 1:4] - h[0, :3], h[1, 1:] - h[1, :-1]])
    expected = steps.pow(2).mean() + 2.0 * changes.pow(2).mean()
    torch.testing.assert_close(penalty, expected)


def test_activation_penalty_shrinks_activations_and_spares_the_logged_loss():
    def last_layer_rms(lm):
        module = lm.net_.module_.eval()
        out = []
        hook = module.rnn.register_forward_hook(lambda m, a, o: out.append(o[0]))
        lm.score(TEXT)
        hook.remove()
        return torch.cat([o.reshape(-1) for o in out]).pow(2).mean().sqrt()

    params = dict(FAST, optimizer="adam", lr=0.02, max_epochs=4, dropout=0.0)
    plain = SequenceLanguageModel(**params).fit(TEXT)
    penalised = SequenceLanguageModel(**params, activation_penalty=50.0).fit(TEXT)
    assert last_layer_rms(penalised) < 0.5 * last_layer_rms(plain)
    # a training step back-propagates loss + penalty but reports the loss alone
    net = penalised.net_
    net.module_.train()
    X, y = next(iter(net.get_iterator(net.get_dataset(*penalised._columns(
        penalised.vocabulary_.transform([s.split() for s in TEXT]), 4)), training=True)))
    with torch.no_grad():
        outputs = net.module_(X, return_all=True)
        want = net.get_loss(outputs.prediction, y, training=True)
    net.optimizer_.zero_grad()
    net.train_state_ = None  # no carried state, as in the forward call above
    step = net.train_step_single((X, y))
    assert outputs.penalty > 0.01
    torch.testing.assert_close(step["loss"].detach(), want)


def test_variable_windows_cover_the_stream_once_and_vary():
    X = torch.arange(3 * 500).reshape(3, 500)
    ds = Dataset(X, X + 1)
    it = WindowIterator(ds, bptt=20, variable=True,
                        random_state=np.random.RandomState(0))
    windows = list(it)
    lengths = [w.shape[1] for w, _ in windows]
    assert torch.equal(torch.cat([w for w, _ in windows], dim=1), X)
    assert torch.equal(torch.cat([y for _, y in windows], dim=1), X + 1)
    # the last window is what is left of the stream
    assert len(set(lengths)) > 5 and min(lengths[:-1]) >= 5 and max(lengths) <= 60
    assert 15 < np.mean(lengths[:-1]) < 21
    # reproducible from the seed, different from epoch to epoch
    again = WindowIterator(ds, bptt=20, variable=True,
                           random_state=np.random.RandomState(0))
    assert [w.shape[1] for w, _ in again] == lengths
    assert [w.shape[1] for w, _ in it] != lengths
    fixed = WindowIterator(ds, bptt=20)
    assert {w.shape[1] for w, _ in fixed} == {20}


class _RecordRates(Callback):
    def initialize(self):
        self.steps_ = []
        return self

    def on_batch_begin(self, net, batch=None, training=False, **kwargs):
        if training:
            self.steps_.append((batch[0].shape[1], net.optimizer_.param_groups[0]["lr"]))


def test_variable_windows_scale_the_rate_per_step():
    record = _RecordRates()
    lm = SequenceLanguageModel(**{**FAST, "bptt": 10}, optimizer="sgd", lr=1.0,
                               lr_schedule="constant", variable_bptt=True,
                               callbacks=[record]).fit(TEXT * 3)
    lengths, rates = map(np.array, zip(*record.steps_))
    assert len(set(lengths)) > 3
    np.testing.assert_allclose(rates, lengths / 10)
    assert lm.net_.optimizer_.param_groups[0]["lr"] == 1.0  # put back


def test_nt_asgd_trigger_rule():
    net = SimpleNamespace(history=History(), network_=torch.nn.Linear(2, 1))
    cb = _NTAveraging(patience=2).initialize()
    for loss in [5.0, 4.0, 3.0, 3.5, 2.9, 3.2]:
        net.history.new_epoch()
        net.history.record("valid_loss", loss)
        cb.on_epoch_end(net)
    # epoch 4 (3.5) is compared with the epochs before the last two, [5.0]:
    # no trigger; epoch 6 (3.2) with [5.0, 4.0, 3.0]: worse, so averaging starts
    assert cb.averaged_ is not None
    assert cb.losses_ == [5.0, 4.0, 3.0, 3.5, 2.9, 3.2]
    cb2 = _NTAveraging(patience=2).initialize()
    net.history = History()
    for loss in [5.0, 4.0, 3.0, 2.9, 2.8, 2.7]:
        net.history.new_epoch()
        net.history.record("valid_loss", loss)
        cb2.on_epoch_end(net)
    assert cb2.averaged_ is None


class _RecordWeights(Callback):
    def initialize(self):
        self.steps_ = []
        return self

    def on_batch_end(self, net, training=False, **kwargs):
        if training:
            self.steps_.append((len(net.history), [
                p.detach().clone() for p in net.network_.parameters()]))


def test_nt_asgd_keeps_the_average_of_the_steps_after_the_trigger():
    record = _RecordWeights()
    params = {**FAST, "max_epochs": 8, "validation_fraction": 0.2}
    lm = SequenceLanguageModel(**params, optimizer="nt-asgd", lr=8.0,
                               lr_schedule="constant", averaging_patience=1,
                               callbacks=[record]).fit(TEXT)
    averaging = lm.history_["averaging"].to_numpy()
    assert not averaging[0] and averaging[-1], lm.history_
    first = int(np.argmax(averaging)) + 1  # epochs count from 1
    steps = [w for epoch, w in record.steps_ if epoch >= first]
    mean = [torch.stack(ws).mean(0) for ws in zip(*steps)]
    for param, want in zip(lm.net_.module_.parameters(), mean):
        torch.testing.assert_close(param.detach(), want, rtol=1e-5, atol=1e-6)
    # the last validation loss was computed with these final, averaged weights
    assert np.isclose(lm.history_["valid_loss"].iloc[-1],
                      -lm.score(TEXT[-18:]), rtol=0.05)


class _FirstStepWeights(Callback):
    """The weights each epoch's first training step starts from."""

    def initialize(self):
        self.first_ = {}
        return self

    def on_batch_begin(self, net, training=False, **kwargs):
        epoch = len(net.history)
        if training and epoch not in self.first_:
            self.first_[epoch] = [p.detach().clone() for p in net.network_.parameters()]


def test_nt_asgd_trains_on_from_the_training_weights_after_validation():
    # validation runs with the averaged weights; the next epoch's training
    # goes on from the training weights, not from the average
    record, first = _RecordWeights(), _FirstStepWeights()
    params = {**FAST, "max_epochs": 10, "validation_fraction": 0.2}
    lm = SequenceLanguageModel(**params, optimizer="nt-asgd", lr=8.0,
                               lr_schedule="constant", averaging_patience=1,
                               callbacks=[record, first]).fit(TEXT)
    averaging = lm.history_["averaging"].to_numpy()
    validated_on_average = [e for e in range(1, 10) if averaging[e - 1]]
    assert validated_on_average, lm.history_  # the case under test happened
    for epoch in validated_on_average:
        last_step = [w for e, w in record.steps_ if e == epoch][-1]
        for start, trained in zip(first.first_[epoch + 1], last_step):
            torch.testing.assert_close(start, trained, rtol=0, atol=0)


def test_full_set_trains_and_round_trips(tmp_path):
    lm = SequenceLanguageModel(**{**FAST, "max_epochs": 6}, **AWD).fit(TEXT)
    assert lm.perplexity(TEXT) < 5
    contexts = ["the cat", "a dog likes", ""]
    proba = lm.predict_proba(contexts)
    again = pickle.loads(pickle.dumps(lm))
    np.testing.assert_array_equal(again.predict_proba(contexts), proba)
    pytest.importorskip("safetensors", reason="sklstm.save needs safetensors")
    import sklstm

    sklstm.save(lm, tmp_path / "lm.safetensors")
    loaded = sklstm.load(tmp_path / "lm.safetensors")
    np.testing.assert_array_equal(loaded.predict_proba(contexts), proba)
    assert loaded.get_params() == lm.get_params()


def test_warm_start_continues_from_the_averaged_weights():
    lm = SequenceLanguageModel(**{**FAST, "max_epochs": 5}, **AWD).fit(TEXT)
    weights = [p.detach().clone() for p in lm.net_.module_.parameters()]
    seen = []

    class _First(Callback):
        def on_train_begin(self, net, **kwargs):
            seen.extend(p.detach().clone() for p in net.network_.parameters())

    lm.set_params(warm_start=True, max_epochs=2, callbacks=[_First()])
    lm.fit(TEXT)
    assert all(torch.equal(a, b) for a, b in zip(seen, weights))
    assert len(lm.history_) == 7


@pytest.mark.parametrize(
    "params, match",
    [
        (dict(variable_bptt=True, lr_schedule="onecycle"), "onecycle"),
        (dict(optimizer="nt-asgd", checkpoint_dir="ckpt"), "checkpoint"),
        (dict(embedding_dropout=1.0), "embedding_dropout"),
        (dict(weight_dropout=-0.1), "weight_dropout"),
        (dict(activation_penalty=-1.0), "activation_penalty"),
        (dict(optimizer="asgd"), "optimizer"),
    ],
)
def test_bad_options_are_refused(params, match, tmp_path):
    if "checkpoint_dir" in params:
        params["checkpoint_dir"] = tmp_path
    with pytest.raises(ValueError, match=match):
        SequenceLanguageModel(**{**FAST, **params}).fit(TEXT)


# -- the numeric estimators: locked dropout and weight drop ---------------------
RAGGED_RNG = np.random.RandomState(0)
RAGGED = [RAGGED_RNG.normal(size=(RAGGED_RNG.randint(5, 40), 2)) for _ in range(40)]
LABELS = np.array([int(x[:, 0].sum() > 0) for x in RAGGED])
REGULARISED = dict(num_hidden=8, num_layers=2, dropout=0.3, locked_dropout=True,
                   weight_dropout=0.4, max_epochs=2, batch_size=16, random_state=0)


@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("Estimator", ["classifier", "regressor", "tagger"])
def test_numeric_estimators_take_the_regularisers(Estimator, bidirectional):
    from sklstm import SequenceClassifier, SequenceRegressor, SequenceTagger

    short, other = RAGGED[0][:7], RAGGED[1][:3]
    long_ = np.ones((60, 2))
    if Estimator == "tagger":
        y = [(x[:, 0] > 0).astype(int) for x in RAGGED]
        est = SequenceTagger(bidirectional=bidirectional, **REGULARISED).fit(RAGGED, y)
        alone = [est.predict_proba([s])[0] for s in (short, other)]
        batched = est.predict_proba([short, long_, other])
        np.testing.assert_allclose(batched[0], alone[0], rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(batched[2], alone[1], rtol=1e-5, atol=1e-6)
    else:
        if Estimator == "classifier":
            est = SequenceClassifier(bidirectional=bidirectional, n_networks=1, **REGULARISED)
            predict = est.fit(RAGGED, LABELS).predict_proba
        else:
            est = SequenceRegressor(bidirectional=bidirectional, n_networks=1, **REGULARISED)
            est.fit(RAGGED, LABELS.astype(float))

            def predict(X):
                return est.predict(X)[:, None]

        # prediction uses whole weights, no dropout: padding and batch-mates
        # change nothing, and two calls agree
        alone = np.concatenate([predict([s]) for s in (short, other)])
        batched = predict([short, long_, other])
        np.testing.assert_allclose(batched[[0, 2]], alone, rtol=1e-5, atol=1e-6)
        np.testing.assert_array_equal(predict(RAGGED), predict(RAGGED))
    stack = est.net_.module_.rnn
    assert len(stack.layers) == 2 and stack.weight_dropout == 0.4
    pickled = pickle.loads(pickle.dumps(est))
    np.testing.assert_array_equal(
        np.concatenate(pickled.predict(RAGGED[:5])) if Estimator == "tagger"
        else pickled.predict(RAGGED[:5]),
        np.concatenate(est.predict(RAGGED[:5])) if Estimator == "tagger"
        else est.predict(RAGGED[:5]),
    )


def test_weight_dropout_parameter_is_validated():
    from sklstm import SequenceClassifier

    with pytest.raises(ValueError, match="weight_dropout"):
        SequenceClassifier(weight_dropout=1.0).fit(RAGGED, LABELS)


@pytest.mark.parametrize("locked", [False, True])
def test_dropout_of_rate_zero_and_in_evaluation_is_the_identity(locked):
    from sklstm.nn._regularization import SequenceDropout

    X = torch.randn(3, 5, 4)
    assert SequenceDropout(0.0, locked).train()(X) is X
    assert SequenceDropout(0.5, locked).eval()(X) is X
    dropped = SequenceDropout(0.5, locked).train()(X)
    assert dropped.shape == X.shape and bool((dropped == 0).any())
