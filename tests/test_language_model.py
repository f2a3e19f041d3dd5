import math
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.exceptions import SkipTestWarning
from sklearn.utils import estimator_checks
from sklearn.utils.estimator_checks import check_estimator
from skorch.callbacks import Callback

from sklstm import SequenceLanguageModel
from sklstm.datasets import load_ptb

PTB = Path(__file__).resolve().parents[2] / "shared" / "data"

FAST = dict(num_hidden=16, num_layers=1, batch_size=4, bptt=6, lr=0.02,
            optimizer="adam", max_epochs=3, lr_schedule="constant",
            validation_fraction=None, random_state=0)


def make_text(n=60, seed=0):
    """Sentences from a tiny grammar: subject, verb, object."""
    rng = np.random.RandomState(seed)
    subjects, verbs, objects = ["the cat", "a dog", "the bird"], ["sees", "likes"], ["fish", "milk", "seeds"]
    return [f"{rng.choice(subjects)} {rng.choice(verbs)} {rng.choice(objects)}" for _ in range(n)]


@pytest.fixture(scope="module")
def text():
    return make_text()


@pytest.fixture(scope="module")
def lm(text):
    return SequenceLanguageModel(**{**FAST, "max_epochs": 15}).fit(text)


def test_learns_the_grammar(lm, text):
    assert lm.perplexity(text) < 3.5
    assert lm.predict(["the cat"])[0] in ("sees", "likes")
    assert lm.predict(["the cat sees"])[0] in ("fish", "milk", "seeds")
    assert lm.predict([""])[0] in ("the", "a")  # sentence start after <eos>


def test_score_is_mean_log_likelihood_and_perplexity(lm, text):
    score = lm.score(text)
    assert score < 0
    assert math.isclose(lm.perplexity(text), math.exp(-score))


def test_streamed_evaluation_equals_one_pass(text):
    # one column and no dropout: the windowed evaluation with carried state
    # must give exactly the log-likelihood of one pass over the whole stream
    lm = SequenceLanguageModel(**{**FAST, "batch_size": 1}).fit(text)
    module = lm.net_.module_.eval()
    ids = lm.vocabulary_.transform(text[:10])
    stream = torch.from_numpy(np.concatenate([[1], *ids]))
    with torch.inference_mode():
        logits = module(stream[:-1][None])[0]
    expected = -torch.nn.functional.cross_entropy(logits, stream[1:], reduction="mean").item()
    assert lm.score(text[:10]) == pytest.approx(expected, rel=1e-5)


def test_training_carries_state_across_windows(lm):
    assert lm.net_.stateful
    h, c = lm.net_.train_state_
    assert h.shape == (1, 4, 16) and not h.requires_grad


def test_predict_proba_columns_follow_tokens(lm):
    proba = lm.predict_proba(["the cat", "a dog likes"])
    assert proba.shape == (2, len(lm.tokens_))
    np.testing.assert_allclose(proba.sum(axis=1), 1, rtol=1e-5)
    np.testing.assert_array_equal(lm.tokens_[proba.argmax(axis=1)], lm.predict(["the cat", "a dog likes"]))
    assert lm.tokens_[0] == "<unk>" and lm.tokens_[1] == "<eos>"


def test_unknown_words_read_as_unk(lm):
    assert lm.predict(["zebra giraffe", ["okapi"]]).shape == (2,)
    assert lm.perplexity(["zebra sees fish"]) > 1


def test_generate(lm):
    a = lm.generate("the cat", n_words=12, random_state=0)
    b = lm.generate("the cat", n_words=12, random_state=0)
    assert a == b
    assert a.startswith("the cat ") and len(a.split()) == 14
    assert set(a.split()) <= set(lm.tokens_)
    cold = lm.generate("the cat", n_words=30, temperature=0.05, random_state=1)
    assert cold.split()[2] in ("sees", "likes")
    assert lm.generate("", n_words=0) == ""


@pytest.mark.parametrize(
    "kwargs, match",
    [({"n_words": -1}, "n_words must be a non-negative integer"),
     ({"n_words": 2.5}, "n_words must be a non-negative integer"),
     ({"n_words": 3, "temperature": 0}, "temperature must be a positive number"),
     ({"n_words": 3, "temperature": -1.0}, "temperature must be a positive number")],
)
def test_generate_bad_arguments(lm, kwargs, match):
    with pytest.raises(ValueError, match=match):
        lm.generate("the", **kwargs)


def test_validation_per_epoch_and_plateau_schedule(text):
    lm = SequenceLanguageModel(
        **{**FAST, "optimizer": "sgd", "lr": 1.0, "lr_schedule": "plateau", "max_epochs": 4}
    ).fit(text, X_val=make_text(20, seed=1))
    history = lm.history_
    assert {"train_loss", "valid_loss", "valid_ppl"} <= set(history.columns)
    np.testing.assert_allclose(history["valid_ppl"], np.exp(history["valid_loss"]))
    # held-out fraction of X when X_val is not given
    lm = SequenceLanguageModel(**{**FAST, "validation_fraction": 0.2}).fit(text)
    assert "valid_loss" in lm.history_.columns


def test_tied_weights_and_token_lists(text):
    tokens = [s.split() for s in text]
    lm = SequenceLanguageModel(**{**FAST, "tie_weights": True}).fit(tokens)
    module = lm.net_.module_
    assert module.head.weight is module.inputs.weight
    with pytest.raises(ValueError, match="tie_weights needs embedding_dim == num_hidden"):
        SequenceLanguageModel(**{**FAST, "tie_weights": True, "embedding_dim": 8}).fit(text)


def test_bfloat16_mixed_precision_training(lm, text):
    mixed = SequenceLanguageModel(**{**FAST, "max_epochs": 15, "precision": "bfloat16"})
    seen = []
    mixed.set_params(callbacks=[_HeadOutputDtype(seen)]).fit(text)
    # training computed in bfloat16; parameters stayed float32
    assert set(seen) == {torch.bfloat16}
    module = mixed.net_.module_
    assert {p.dtype for p in module.parameters()} == {torch.float32}
    assert mixed.net_.compute_dtype is torch.bfloat16
    # it learns as well as float32 training (the grammar's perplexity is ~3)
    assert mixed.perplexity(text) < 3.5
    assert abs(mixed.perplexity(text) - lm.perplexity(text)) < 0.25
    # evaluation computes in float32: outputs equal those of a float32 module
    plain = clone(lm).set_params(max_epochs=1).fit(text).net_.module_
    plain.load_state_dict(module.state_dict())
    x = torch.tensor([[1, 2, 3, 4]])
    module.eval(), plain.eval()
    with torch.inference_mode():
        assert torch.equal(module(x), plain(x))
    # the carried training state comes back in float32
    module.train()
    out, (h, c) = module(x, return_state=True)
    assert out.dtype == h.dtype == c.dtype == torch.float32
    with pytest.raises(ValueError, match="'precision' parameter"):
        SequenceLanguageModel(**{**FAST, "precision": "float16"}).fit(text)


class _HeadOutputDtype(Callback):
    """Record the dtype of the output layer's result at each training batch."""

    def __init__(self, seen):
        self.seen = seen

    def initialize(self):
        self.hook_ = None
        return self

    def on_train_begin(self, net, **kwargs):
        def hook(module, args, output):
            if module.training:
                self.seen.append(output.dtype)

        self.hook_ = net.module_.head.register_forward_hook(hook)

    def on_train_end(self, net, **kwargs):
        self.hook_.remove()


def test_two_level_softmax(lm, text):
    two_level = SequenceLanguageModel(
        **{**FAST, "max_epochs": 15, "softmax_cutoff": 4, "tie_weights": True}
    ).fit(text)
    module = two_level.net_.module_
    assert module.head.weight is module.inputs.weight
    # exact probabilities over the whole vocabulary, in the order of tokens_
    proba = two_level.predict_proba(["the cat", "", "a dog likes"])
    assert proba.shape == (3, len(two_level.tokens_)) == (3, 12)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-5)
    assert math.isclose(two_level.perplexity(text), math.exp(-two_level.score(text)))
    # it learns the grammar as well as the full softmax
    assert two_level.perplexity(text) < 3.5
    assert abs(two_level.perplexity(text) - lm.perplexity(text)) < 0.25
    assert two_level.predict(["the cat"])[0] in ("sees", "likes")
    restored = pickle.loads(pickle.dumps(two_level))
    assert restored.score(text) == two_level.score(text)


def test_two_level_softmax_training_loss(text):
    lm = SequenceLanguageModel(**{**FAST, "softmax_cutoff": 5, "dropout": 0.0}).fit(text)
    module = lm.net_.module_
    ids = lm.vocabulary_.transform(text[:8])
    stream = torch.from_numpy(np.concatenate([[1], *ids]))
    x, y = stream[:-1][None], stream[1:][None].clone()
    y[0, :3] = -100  # padding is not scored
    tail_rows = []
    tail_log_proba = module.head._tail_log_proba
    module.head._tail_log_proba = lambda f: tail_rows.append(len(f)) or tail_log_proba(f)
    # the training loss (from features) is the negative log-likelihood of the
    # log-probabilities that evaluation returns
    outputs = module.train()(x, return_all=True)
    loss, objective = module.training_loss(outputs, y, data_loss=None)
    assert objective is loss  # no penalties
    with torch.inference_mode():
        log_proba = module.eval()(x)[0, 3:]
    expected = -log_proba.gather(1, y[0, 3:, None]).mean()
    assert loss.item() == pytest.approx(expected.item(), rel=1e-5)
    # the tail's scores were computed for the tail targets only
    assert tail_rows[0] == int((y >= 5).sum()) < y.shape[1]
    loss.backward()
    assert module.head.tail_gate.weight.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="leaves no word for the tail: the vocabulary has 12"):
        SequenceLanguageModel(**{**FAST, "softmax_cutoff": 12}).fit(text)
    with pytest.raises(ValueError, match="'softmax_cutoff' parameter"):
        SequenceLanguageModel(**{**FAST, "softmax_cutoff": 0}).fit(text)
    # mixed precision trains the two-level softmax too
    mixed = SequenceLanguageModel(
        **{**FAST, "softmax_cutoff": 5, "precision": "bfloat16", "max_epochs": 15}
    ).fit(text)
    assert mixed.perplexity(text) < 3.5


def test_init_range(text):
    from sklstm.nn import RecurrentNetwork

    torch.manual_seed(0)
    default = RecurrentNetwork(vocab_size=50, n_outputs=50, num_hidden=32, per_step=True)
    assert default.inputs.weight.std() > 0.5  # PyTorch's N(0, 1)
    module = RecurrentNetwork(vocab_size=50, n_outputs=50, num_hidden=32, per_step=True,
                              tie_weights=True, init_range=0.1)
    for weight in (module.inputs.weight, module.head.weight):
        assert 0.09 < weight.abs().max() <= 0.1
    assert module.head.weight is module.inputs.weight
    assert torch.equal(module.head.bias, torch.zeros(50))
    untied = RecurrentNetwork(vocab_size=50, n_outputs=50, num_hidden=32, per_step=True,
                              init_range=0.1)
    for weight in (untied.inputs.weight, untied.head.weight):
        assert 0.09 < weight.abs().max() <= 0.1
    assert not torch.equal(untied.inputs.weight, untied.head.weight)
    with pytest.raises(ValueError, match="init_range must be positive"):
        RecurrentNetwork(vocab_size=50, n_outputs=50, init_range=-0.1)
    # the estimator passes it on: an (almost) untrained model keeps the range
    lm = SequenceLanguageModel(**{**FAST, "init_range": 0.05, "optimizer": "sgd",
                                  "lr": 1e-12, "max_epochs": 1}).fit(text)
    module = lm.net_.module_
    assert module.inputs.weight.abs().max() <= 0.05 + 1e-6
    assert module.head.bias.abs().max() < 1e-6
    with pytest.raises(ValueError, match="'init_range' parameter"):
        SequenceLanguageModel(**{**FAST, "init_range": 0.0}).fit(text)
    # and it learns the grammar from there
    trained = SequenceLanguageModel(**{**FAST, "init_range": 0.1, "max_epochs": 15}).fit(text)
    assert trained.perplexity(text) < 3.5


def test_reproducible_clone_and_pickle(lm, text):
    again = clone(lm).fit(text)
    assert again.score(text) == lm.score(text)
    restored = pickle.loads(pickle.dumps(lm))
    assert restored.score(text) == lm.score(text)
    assert restored.generate("a", 5, random_state=3) == lm.generate("a", 5, random_state=3)


def test_grid_search_and_cross_val_score(text):
    search = GridSearchCV(
        SequenceLanguageModel(**{**FAST, "max_epochs": 2}),
        {"num_hidden": [8, 16], "cell": ["lstm", "gru"]},
        cv=3,
    ).fit(text)
    assert search.cv_results_["mean_test_score"].shape == (4,)
    assert np.all(search.cv_results_["mean_test_score"] < 0)
    scores = cross_val_score(SequenceLanguageModel(**FAST), text, cv=2)
    assert scores.shape == (2,)


def test_check_estimator_with_text_tags():
    # with truthful tags (string input, no 2-D arrays, y not required),
    # scikit-learn's check_estimator runs none of its data checks: it says so
    with pytest.warns(SkipTestWarning, match="Can't test estimator SequenceLanguageModel"):
        check_estimator(SequenceLanguageModel(**FAST))


# scikit-learn's API checks that need no 2-D numeric data; they are run
# directly. The others (check_fit_score_takes_y, check_estimators_overwrite_params,
# ...) fit on random 2-D floats, which a language model cannot take.
@pytest.mark.parametrize(
    "check",
    [
        estimator_checks.check_estimator_cloneable,
        estimator_checks.check_estimator_repr,
        estimator_checks.check_estimator_tags_renamed,
        estimator_checks.check_valid_tag_types,
        estimator_checks.check_no_attributes_set_in_init,
        estimator_checks.check_get_params_invariance,
        estimator_checks.check_set_params,
        estimator_checks.check_parameters_default_constructible,
        estimator_checks.check_do_not_raise_errors_in_init_or_set_params,
    ],
    ids=lambda check: check.__name__,
)
def test_api_checks(check):
    check("SequenceLanguageModel", SequenceLanguageModel(**FAST))


@pytest.mark.parametrize(
    "X, error, match",
    [
        ([], ValueError, "X is empty"),
        (["a b", 5], TypeError, "Item 1 of X is int"),
        ("one string", TypeError, "single string"),
        (["a b c"], ValueError, "too few to lay out in 4 columns"),
    ],
)
def test_bad_corpus(X, error, match):
    with pytest.raises(error, match=match):
        SequenceLanguageModel(**FAST).fit(X)


def test_invalid_parameters(text):
    with pytest.raises(ValueError, match="'bptt' parameter"):
        SequenceLanguageModel(bptt=0).fit(text)
    with pytest.raises(ValueError, match="'validation_fraction' parameter"):
        SequenceLanguageModel(validation_fraction=1.5).fit(text)


@pytest.mark.skipif(not (PTB / "ptb").is_dir(), reason="Penn Treebank not found in ../shared/data/ptb")
def test_ptb_slice():
    train, valid, test = load_ptb(PTB, download_if_missing=False)
    assert (len(train), len(valid), len(test)) == (42068, 3370, 3761)
    assert sum(len(s.split()) + 1 for s in test) == 82430
    lm = SequenceLanguageModel(num_hidden=32, num_layers=1, max_epochs=1, lr=0.01,
                               optimizer="adam", validation_fraction=None,
                               random_state=0).fit(train[:1500])
    ppl = lm.perplexity(valid[:300])
    assert 50 < ppl < len(lm.tokens_)
