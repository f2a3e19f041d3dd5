import pickle
import warnings

import joblib
import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.base import clone
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.multioutput import MultiOutputClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.class_weight import compute_class_weight
from skorch.callbacks import Callback, EpochScoring, LRScheduler

from sklstm import SequenceClassifier
from sklstm.datasets import make_bit_counting

# one network and no inner search: ensembles and the search have their own tests
FAST = dict(num_hidden=8, max_epochs=3, batch_size=16, random_state=0, n_networks=1,
            conv_dilations=(1,))


@pytest.fixture(scope="module")
def bits():
    return make_bit_counting(n_bits=6, random_state=0)


@pytest.fixture(scope="module")
def ragged():
    """Sequences of 2 to 9 steps; label: is the sum of the first feature > 0."""
    rng = np.random.RandomState(0)
    X = [rng.normal(size=(rng.randint(2, 10), 2)) for _ in range(80)]
    y = np.array([int(x[:, 0].sum() > 0) for x in X])
    return X, y


def test_learns_bit_counting(bits):
    X, y = bits
    clf = SequenceClassifier(
        num_hidden=16, max_epochs=60, batch_size=8, lr=0.03, random_state=0, n_networks=1
    )
    # the single strings of 0 and 6 ones are the only hard cases
    assert clf.fit(X, y).score(X, y) >= 0.95
    assert clf.n_iter_ == 60
    np.testing.assert_array_equal(clf.classes_, np.arange(7))
    proba = clf.predict_proba(X)
    assert proba.shape == (64, 7)
    np.testing.assert_allclose(proba.sum(axis=1), 1, rtol=1e-5)


def test_2d_and_3d_layouts_agree(bits):
    X, y = bits
    clf2 = SequenceClassifier(**FAST).fit(X, y)
    clf3 = SequenceClassifier(**FAST).fit(X[:, :, None], y)
    assert clf2.n_features_in_ == 6  # 2-D: columns are time steps
    assert clf3.n_features_in_ == 1  # 3-D: features per step
    np.testing.assert_allclose(
        clf2.predict_proba(X), clf3.predict_proba(X[:, :, None]), rtol=1e-5
    )
    # a model fitted on 2-D data also reads the 3-D layout of the same data
    np.testing.assert_array_equal(clf2.predict(X[:, :, None]), clf2.predict(X))


def test_3d_multivariate_accepts_other_lengths_at_predict():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(40, 7, 3))
    y = (X[:, :, 0].sum(axis=1) > 0).astype(int)
    clf = SequenceClassifier(**FAST).fit(X, y)
    assert clf.n_features_in_ == 3
    assert clf.predict(rng.normal(size=(5, 11, 3))).shape == (5,)


@pytest.mark.parametrize("container", [list, tuple, "object_array", pd.Series])
def test_ragged_containers(ragged, container):
    X, y = ragged
    if container == "object_array":
        Xc = np.empty(len(X), dtype=object)
        Xc[:] = X
    else:
        Xc = container(X)
    clf = SequenceClassifier(**FAST).fit(Xc, y)
    assert clf.n_features_in_ == 2
    assert clf.predict(Xc).shape == (80,)


def test_ragged_univariate_sequences():
    X = [[1, 0, 1], [1, 1], [0, 0, 0, 0, 1], [1], [0, 1, 1, 1]]
    y = [2, 2, 1, 1, 3]
    clf = SequenceClassifier(**FAST).fit(X, y)
    assert clf.n_features_in_ == 1
    assert clf.predict([[1, 1, 1], [0]]).shape == (2,)
    # equal lengths, some (T,) and some (T, 1): one layout, read as such
    mixed = [np.ones(3), np.ones((3, 1)), np.zeros(3), np.zeros((3, 1))]
    proba = SequenceClassifier(**FAST).fit(mixed, [0, 1, 0, 1]).predict_proba(mixed)
    np.testing.assert_array_equal(proba[0], proba[1])


@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
def test_padding_does_not_change_predictions(ragged, cell, bidirectional):
    X, y = ragged
    clf = SequenceClassifier(cell=cell, bidirectional=bidirectional, **FAST).fit(X, y)
    short = X[0][:3]
    long_ = np.ones((25, 2))
    alone = clf.predict_proba([short, short[:2]])
    # same sequences batched with a much longer one: padded to 25 steps
    batched = clf.predict_proba([short, long_, short[:2]])
    np.testing.assert_allclose(batched[[0, 2]], alone, rtol=1e-5, atol=1e-6)
    # and one by one (no padding at all)
    single = np.vstack([clf.predict_proba([s]) for s in (short, short[:2])])
    np.testing.assert_allclose(single, alone, rtol=1e-5, atol=1e-6)


def test_dataframe_records_feature_names(bits):
    X, y = bits
    df = pd.DataFrame(X, columns=[f"t{i}" for i in range(6)])
    clf = SequenceClassifier(**FAST).fit(df, y)
    np.testing.assert_array_equal(clf.feature_names_in_, df.columns)
    np.testing.assert_array_equal(clf.predict(df), clf.predict(X))
    with pytest.raises(ValueError, match="feature names"):
        clf.predict(df.rename(columns={"t0": "other"}))


def test_string_labels_sorted_classes(bits):
    X, y = bits
    names = np.array(["zero", "one", "two", "three", "four", "five", "six"])
    clf = SequenceClassifier(**FAST).fit(X, names[y])
    np.testing.assert_array_equal(clf.classes_, np.sort(names))
    assert set(clf.predict(X)) <= set(names)


def test_reproducible_with_random_state(ragged):
    X, y = ragged
    p1 = SequenceClassifier(dropout=0.3, **FAST).fit(X, y).predict_proba(X)
    p2 = SequenceClassifier(dropout=0.3, **FAST).fit(X, y).predict_proba(X)
    np.testing.assert_array_equal(p1, p2)
    # fitting does not disturb the user's global torch random state
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    SequenceClassifier(**FAST).fit(X, y)
    np.testing.assert_array_equal(torch.rand(3), expected)


def test_pickle_and_joblib_round_trip(ragged, tmp_path):
    X, y = ragged
    clf = SequenceClassifier(**FAST).fit(X, y)
    expected = clf.predict_proba(X)
    restored = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(restored.predict_proba(X), expected)
    joblib.dump(clf, tmp_path / "clf.joblib")
    restored = joblib.load(tmp_path / "clf.joblib")
    np.testing.assert_array_equal(restored.predict_proba(X), expected)
    np.testing.assert_array_equal(restored.history_, clf.history_)


def test_grid_search_and_cross_val_score(bits):
    X, y = bits
    X, y = np.tile(X, (2, 1)), np.tile(y, 2)
    search = GridSearchCV(
        SequenceClassifier(max_epochs=2, batch_size=32, random_state=0),
        {"num_hidden": [4, 8], "cell": ["lstm", "gru"]},
        cv=3,
    ).fit(X, y)
    assert search.cv_results_["mean_test_score"].shape == (4,)
    assert search.best_estimator_.cell in ("lstm", "gru")
    scores = cross_val_score(make_pipeline(StandardScaler(), clone(search.estimator)), X, y, cv=2)
    assert scores.shape == (2,)


def test_several_labels_per_sequence_through_multi_output(ragged):
    # the fit refuses a y of several columns and names this wrapper
    X, y = ragged
    Y = np.c_[y, [int(x[:, 1].sum() > 0) for x in X]]
    model = MultiOutputClassifier(SequenceClassifier(**{**FAST, "max_epochs": 20}))
    predicted = model.fit(X, Y).predict(X)
    assert predicted.shape == (80, 2)
    assert (predicted == Y).mean(axis=0).min() > 0.7


class RecordWeights(Callback):
    """Keep a copy of the module's weights and the validation loss per epoch."""

    def initialize(self):
        self.weights_, self.valid_loss_ = [], []
        return self

    def on_epoch_end(self, net, **kwargs):
        self.weights_.append({k: v.clone() for k, v in net.module_.state_dict().items()})
        self.valid_loss_.append(net.history[-1, "valid_loss"])


def test_early_stopping_restores_best_weights(ragged):
    X, y = ragged
    recorder = RecordWeights()
    clf = SequenceClassifier(
        num_hidden=8, max_epochs=60, lr=0.05, lr_schedule="constant",
        early_stopping=True, n_iter_no_change=3, validation_fraction=0.25,
        callbacks=[recorder], random_state=0,
    ).fit(X, y)
    assert clf.n_iter_ < 60
    history = clf.history_
    assert {"train_loss", "valid_loss", "dur"} <= set(history.columns)
    best = int(np.argmin(recorder.valid_loss_))
    assert best < clf.n_iter_ - 1  # stopped after some epochs without progress
    for name, value in clf.net_.module_.state_dict().items():
        torch.testing.assert_close(value, recorder.weights_[best][name])


@pytest.mark.parametrize("n_series, n_classes", [(4, 2), (12, 3), (30, 10)])
def test_early_stopping_on_few_series_holds_out_a_random_share(n_series, n_classes):
    # fewer held-out series than classes cannot be stratified
    # (StratifiedShuffleSplit refuses); a random share is held out instead
    rng = np.random.RandomState(0)
    X = rng.normal(size=(n_series, 6, 1)).astype(np.float32)
    y = np.arange(n_series) % n_classes
    clf = SequenceClassifier(
        num_hidden=4, max_epochs=2, n_networks=1, early_stopping=True, random_state=0
    ).fit(X, y)
    assert clf.predict(X).shape == (n_series,)
    assert len(clf.history_) == 2 and "valid_loss" in clf.history_.columns
    assert not clf._stratify_validation(torch.as_tensor(y))
    assert clf.set_params(validation_fraction=0.5)._stratify_validation(
        torch.as_tensor(np.arange(40) % 4)
    )


@pytest.mark.parametrize("n_networks", [1, 3])
def test_log_proba_matches_proba_and_stays_finite(n_networks):
    rng = np.random.RandomState(0)
    X = rng.normal(size=(40, 8, 1)).astype(np.float32)
    y = np.where(X[:, :, 0].mean(axis=1) > 0, "up", "down")
    clf = SequenceClassifier(
        num_hidden=8, max_epochs=30, lr=0.05, n_networks=n_networks, random_state=0
    ).fit(X, y)
    log_proba, proba = clf.predict_log_proba(X), clf.predict_proba(X)
    assert log_proba.shape == (40, 2) and log_proba.dtype == proba.dtype
    np.testing.assert_allclose(np.exp(log_proba), proba, rtol=1e-6, atol=1e-12)
    np.testing.assert_array_equal(clf.classes_[log_proba.argmax(axis=1)], clf.predict(X))


def test_log_proba_stays_finite_where_probabilities_round_to_zero():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(40, 8, 1)).astype(np.float32)
    clf = SequenceClassifier(num_hidden=8, max_epochs=3, n_networks=1, random_state=0)
    clf.fit(X, X[:, :, 0].mean(axis=1) > 0)
    with torch.no_grad():  # logits thousands apart
        clf.net_.module_.head.weight.mul_(1e5)
    proba, log_proba = clf.predict_proba(X), clf.predict_log_proba(X)
    assert (proba == 0).any()  # np.log(proba) would be -inf there
    assert np.isfinite(log_proba).all() and log_proba.min() < -1000
    np.testing.assert_array_equal(log_proba.argmax(axis=1), proba.argmax(axis=1))


def test_class_weight(bits):
    X, y = bits
    clf = SequenceClassifier(class_weight="balanced", **FAST).fit(X, y)
    expected = compute_class_weight("balanced", classes=np.arange(7), y=y)
    np.testing.assert_allclose(clf.net_.criterion_.weight.numpy(), expected, rtol=1e-6)
    weights = {c: 1.0 for c in range(7)} | {3: 5.0}
    clf = SequenceClassifier(class_weight=weights, **FAST).fit(X, y)
    assert clf.net_.criterion_.weight[3] == 5.0


def test_label_smoothing_bounds_training_probabilities():
    # two classes told apart by the sign of the mean: easy to fit exactly
    rng = np.random.RandomState(0)
    y = np.arange(40) % 2
    X = rng.normal(size=(40, 8)) + np.where(y, 1.5, -1.5)[:, None]
    params = dict(FAST, max_epochs=40, lr=0.03)
    plain = SequenceClassifier(**params).fit(X, y)
    smooth = SequenceClassifier(label_smoothing=0.4, **params).fit(X, y)
    assert smooth.net_.criterion_.label_smoothing == 0.4
    assert plain.net_.criterion_.label_smoothing == 0.0
    assert plain.score(X, y) == smooth.score(X, y) == 1.0
    # the smoothed target of the true class is 1 - 0.4 + 0.4 / 2 = 0.8: the
    # loss is lowest there, so the network stops short of certainty
    true_proba = smooth.predict_proba(X)[np.arange(40), y]
    assert 0.7 < true_proba.mean() < 0.86
    assert plain.predict_proba(X)[np.arange(40), y].mean() > 0.95


@pytest.mark.parametrize("schedule", ["constant", "onecycle", "cosine", "plateau"])
def test_lr_schedules(bits, schedule):
    X, y = bits
    clf = SequenceClassifier(lr_schedule=schedule, **{**FAST, "max_epochs": 4}).fit(X, y)
    lr_end = clf.net_.optimizer_.param_groups[0]["lr"]
    if schedule == "constant":
        assert lr_end == clf.lr
    elif schedule in ("onecycle", "cosine"):
        assert lr_end < clf.lr / 10


def test_optimizer_by_name_or_class(bits):
    X, y = bits
    for opt in ["sgd", "rmsprop", "adamw", torch.optim.Adagrad]:
        clf = SequenceClassifier(optimizer=opt, **FAST).fit(X, y)
        expected = opt if isinstance(opt, type) else type(clf.net_.optimizer_)
        assert isinstance(clf.net_.optimizer_, expected)


class GradNorm(Callback):
    def initialize(self):
        self.norms_ = []
        return self

    def on_grad_computed(self, net, named_parameters, **kwargs):
        grads = [p.grad for _, p in named_parameters if p.grad is not None]
        self.norms_.append(float(torch.linalg.vector_norm(torch.stack([g.norm() for g in grads]))))


def test_gradient_clipping(bits):
    X, y = bits
    probe = GradNorm()
    SequenceClassifier(clip_grad_norm=0.01, callbacks=[probe], **FAST).fit(X, y)
    assert max(probe.norms_) <= 0.01 + 1e-6
    probe = GradNorm()
    SequenceClassifier(callbacks=[("probe", probe)], **FAST).fit(X, y)
    assert max(probe.norms_) > 0.01


@pytest.mark.parametrize("n_networks", [1, 3])
def test_skorch_scoring_callbacks_score_predictions(n_networks):
    # skorch's EpochScoring with scikit-learn's scorer names, as on skorch's
    # own classifier: the training batches' predictions as the epoch made
    # them (an ensemble's combined, not one per network), and predictions
    # of the data at the end of the epoch
    rng = np.random.RandomState(0)
    X = rng.normal(size=(60, 8, 1))
    y = np.where(X.sum(axis=(1, 2)) > 0, "up", "down")
    clf = SequenceClassifier(
        num_hidden=8, max_epochs=20, lr=0.05, random_state=0, n_networks=n_networks,
        callbacks=[
            EpochScoring("accuracy", on_train=True, name="batches_acc"),
            EpochScoring("accuracy", on_train=True, use_caching=False, name="train_acc"),
            EpochScoring("f1_macro", on_train=True, name="train_f1"),
            # scorers of probabilities read the net as a classifier
            EpochScoring("roc_auc", on_train=True, use_caching=False, name="train_auc"),
        ],
    ).fit(X, y)
    last = clf.net_.history[-1]
    assert last["train_acc"] == clf.score(X, y)
    proba = clf.predict_proba(X)[:, list(clf.classes_).index("up")]
    assert last["train_auc"] == pytest.approx(roc_auc_score(y == "up", proba))
    assert 0.9 < last["batches_acc"] <= 1.0 and 0.9 < last["train_f1"] <= 1.0
    # on the validation split that early stopping holds out
    clf = SequenceClassifier(
        num_hidden=8, max_epochs=5, random_state=0, n_networks=n_networks,
        early_stopping=True, callbacks=[EpochScoring("accuracy", name="valid_acc")],
    ).fit(X, y)
    assert all(0 <= row["valid_acc"] <= 1 for row in clf.net_.history)


def test_own_lr_scheduler_beside_the_schedule_warns(bits):
    X, y = bits
    mine = LRScheduler("StepLR", step_size=1, gamma=0.5)
    with pytest.warns(UserWarning, match="lr_schedule='onecycle' schedules the .*'constant'"):
        SequenceClassifier(callbacks=[mine], **FAST).fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        clf = SequenceClassifier(callbacks=[mine], lr_schedule="constant", **FAST).fit(X, y)
    # StepLR alone: lr halved each epoch (3 epochs)
    assert clf.net_.optimizer_.param_groups[0]["lr"] == pytest.approx(clf.lr / 8)


@pytest.mark.parametrize("bad", [1, "probe", ("probe", 1), (1, GradNorm())])
def test_callbacks_that_are_not_callbacks(bits, bad):
    X, y = bits
    with pytest.raises(TypeError, match=r"callbacks\[1\] is .*skorch\.callbacks\.Callback"):
        SequenceClassifier(callbacks=[GradNorm(), bad], **FAST).fit(X, y)


def test_warm_start_continues_training(bits):
    X, y = bits
    clf = SequenceClassifier(warm_start=True, **FAST).fit(X, y)
    module = clf.net_.module_
    clf.fit(X, y)
    assert clf.net_.module_ is module
    assert clf.n_iter_ == 6 and len(clf.history_) == 6
    cold = SequenceClassifier(**FAST).fit(X, y)
    cold.fit(X, y)
    assert cold.n_iter_ == 3
    with pytest.raises(ValueError, match="that are not in classes_"):
        clf.fit(X, y + 10)


class Interrupt(Callback):
    def on_epoch_end(self, net, **kwargs):
        if len(net.history) == 2:
            raise KeyboardInterrupt


def test_interrupted_fit_leaves_usable_model(bits):
    X, y = bits
    clf = SequenceClassifier(callbacks=[Interrupt()], **{**FAST, "max_epochs": 10})
    clf.fit(X, y)
    assert clf.n_iter_ == 2
    assert clf.predict(X).shape == (64,)


def test_verbose_prints_epoch_table(bits, capsys):
    X, y = bits
    SequenceClassifier(verbose=1, **FAST).fit(X, y)
    out = capsys.readouterr().out
    assert "train_loss" in out and "dur" in out
    SequenceClassifier(verbose=0, **FAST).fit(X, y)
    assert capsys.readouterr().out == ""


# -- bad input ----------------------------------------------------------------

@pytest.mark.parametrize(
    "X, y, error, match",
    [
        (np.array([[0.0, np.nan]] * 4), [0, 1, 0, 1], ValueError,
         r"X contains NaN \(first in sequence 0, step 1\).*SimpleImputer"),
        # NaN padding (tslearn's layout for different lengths): the list to pass
        (np.array([[0.0, 1.0, np.nan], [0.0, 1.0, 2.0]] * 2), [0, 1, 0, 1], ValueError,
         r"NaN at the end of 2 of its 4 sequences.*\[x\[~np.isnan\(x\)\] for x in X\]"),
        (np.stack([np.c_[np.ones(3), np.r_[1.0, np.nan, 1.0]]] * 4), [0, 1, 0, 1],
         ValueError, r"first in sequence 0, step 1"),
        (np.array([[0.0, 1e39]] * 4), [0, 1, 0, 1], ValueError, "beyond float32's range"),
        (np.array([[0.0, np.inf]] * 4), [0, 1, 0, 1], ValueError, "infinity"),
        (np.empty((0, 5)), [], ValueError, "0 sample"),
        ([], [], ValueError, "empty"),
        (np.arange(4.0), [0, 1, 0, 1], ValueError,
         r"X is 1-D \(4 values\).*Reshape your data: X.reshape\(1, -1\)"),
        ([1.0, 2.0, 3.0, 4.0], [0, 1, 0, 1], ValueError, r"X is 1-D \(4 values\)"),
        ([np.ones(3), 5.0, np.ones(2)], [0, 1, 0], ValueError,
         r"Sequence 1 of X is a single value \(5.0\), not a sequence"),
        ([[1.0, 2.0], [], [1.0]], [0, 1, 0], ValueError, "Sequence 1 of X has length 0"),
        ([np.ones((2, 2, 2)), np.ones((3, 2, 2))], [0, 1], ValueError,
         r"Sequence 0 of X has 3 dimensions; each sequence must be shaped \(T_i,\)"),
        (["a b", ""], [0, 1], ValueError, "Text 1 of X has no tokens"),
        ([[1.0, np.nan], [1.0]], [0, 1], ValueError, "Sequence 0 of X contains NaN"),
        ([np.ones((3, 2)), np.ones((2, 3))], [0, 1], ValueError, "3 features per step"),
        ([[1.0, "a"], [1.0]], [0, 1], TypeError, "Sequence 0 of X could not be"),
        # numbers and text mixed in one array: neither a numeric X nor a text
        (np.array([[1.0, "a"]] * 4, dtype=object), [0, 1, 0, 1], ValueError,
         r"X holds values that are not numbers \(could not convert string.*'a'"),
        (np.ones((4, 3)), [0, 1, 0], ValueError, "inconsistent numbers of samples"),
        (np.ones((4, 3)), [0.1, 0.5, 1.7, 2.2], ValueError, "Unknown label type"),
        (np.ones((4, 3)), None, ValueError, "requires y to be passed"),
        (np.ones((4, 3)), np.array(["a", None, "b", "a"], dtype=object), ValueError,
         r"y holds 1 missing labels \(None or NaN; the first is label 1"),
        (np.ones((4, 3)), pd.Series(["a", "b", pd.NA, np.nan]), ValueError,
         "y holds 2 missing labels"),
        (np.ones((4, 3)), [0.0, np.nan, 1.0, 1.0], ValueError,
         r"y holds 1 missing labels \(None or NaN; the first is label 1"),
        (np.ones((4, 3, 2, 2)), [0, 1, 0, 1], ValueError, "X has 4 dimensions"),
        (np.ones((4, 3)), np.eye(4)[:, :2].astype(int), ValueError,
         r"y has 2 columns \(multilabel-indicator targets\).*MultiOutputClassifier"),
        (np.ones((3, 3)), [[0, 1, 1], [1], [0, 0]], ValueError,
         r"y holds sequences of labels of different lengths.*use SequenceTagger"),
        (np.ones((4, 3)), np.array(["a", 1, "b", 2], dtype=object), TypeError,
         r"y mixes text and other labels \(such as 'a' and 1\).*y.astype\(str\)"),
        ((x for x in np.ones((4, 3))), [0, 1, 0, 1], TypeError,
         r"X is an iterator \(generator\), which can be read only once.*list\(X\)"),
        # text: the first look at X (text or numbers?) would take a string away
        (iter(["a b", "b c", "c a", "a a"]), [0, 1, 0, 1], TypeError,
         r"X is an iterator \(list_iterator\)"),
        (np.ones((4, 3)), (label for label in [0, 1, 0, 1]), TypeError,
         r"y is an iterator \(generator\).*pass the targets as a list, list\(y\)"),
    ],
)
def test_bad_input_at_fit(X, y, error, match):
    with pytest.raises(error, match=match):
        SequenceClassifier(**FAST).fit(X, y)


@pytest.mark.parametrize(
    "params, match",
    [
        ({"cell": "lsmt"}, "'cell' parameter"),
        ({"num_hidden": 0}, "'num_hidden' parameter"),
        ({"dropout": 1.5}, "'dropout' parameter"),
        ({"lr_schedule": "linear"}, "'lr_schedule' parameter"),
        ({"class_weight": "auto"}, "'class_weight' parameter"),
        ({"label_smoothing": 1.0}, "'label_smoothing' parameter"),
        ({"optimizer": "adagrad"}, "'optimizer' parameter"),
    ],
)
def test_invalid_parameters(bits, params, match):
    X, y = bits
    with pytest.raises(ValueError, match=match):
        SequenceClassifier(**params).fit(X, y)


def test_unknown_parameter_in_set_params():
    with pytest.raises(ValueError, match="Invalid parameter 'num_hiden'"):
        SequenceClassifier().set_params(num_hiden=3)


def test_bad_input_at_predict(bits, ragged):
    X, y = bits
    clf = SequenceClassifier(**FAST).fit(X, y)
    with pytest.raises(ValueError, match="X has 5 features, but SequenceClassifier is expecting 6"):
        clf.predict(X[:, :5])
    with pytest.raises(ValueError, match="NaN"):
        clf.predict(np.full((2, 6), np.nan))
    Xr, yr = ragged
    clf = SequenceClassifier(**FAST).fit(Xr, yr)
    with pytest.raises(ValueError, match="X has 3 features per step, but SequenceClassifier is expecting 2"):
        clf.predict(np.ones((4, 5, 3)))
    with pytest.raises(ValueError, match="Sequence 1 of X has 1 features per step, but 2"):
        clf.predict([np.ones((3, 2)), np.ones((4, 1))])
    with pytest.raises(ValueError, match="pass a 3-D array"):
        clf.predict(np.ones((4, 5)))
    # sequences of different lengths padded with NaN: the list to pass instead
    padded = np.ones((3, 5, 2))
    padded[1, 3:] = np.nan
    with pytest.raises(ValueError, match=r"NaN at the end of 1 of its 3 sequences"):
        clf.predict(padded)
    unpadded = [x[~np.isnan(x).any(axis=-1)] for x in padded]  # as the message says
    assert clf.predict(unpadded).shape == (3,)
    with pytest.raises(TypeError, match=r"X is an iterator \(map\)"):
        clf.predict(map(np.asarray, unpadded))


def test_warm_start_keeps_vocabulary_and_input_layout():
    texts = ["good film", "bad film", "great fun", "awful plot"] * 5
    labels = [1, 0, 1, 0] * 5
    clf = SequenceClassifier(warm_start=True, **FAST).fit(texts, labels)
    vocab = clf.vocabulary_
    # new words in the second fit are unknown to the existing embedding
    clf.fit(["good new words"] * 4, [1, 1, 1, 1])
    assert clf.vocabulary_ is vocab and clf.n_iter_ == 6
    with pytest.raises(ValueError, match="fitted on text, but X holds numeric"):
        clf.fit(np.zeros((4, 3)), [1, 0, 1, 0])


@pytest.mark.parametrize(
    "optimizer, implementation",
    [("adam", "fused"), ("adamw", "fused"), ("sgd", "fused"), ("rmsprop", "foreach")],
)
def test_named_optimizers_update_all_tensors_at_once(monkeypatch, optimizer,
                                                     implementation):
    """The named optimizers run torch's fused kernels where torch has them
    (Adam, AdamW, SGD), its "foreach" implementation otherwise (RMSprop),
    both faster on the CPU than the default loop: foreach trains to the
    loop's values to the bit, fused to them within the last bits of each
    update."""
    import sklstm._base

    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 12, 2)).astype(np.float32)
    y = (X[:, :, 0].mean(1) > 0).astype(int)
    params = dict(num_hidden=8, max_epochs=3, batch_size=16, n_networks=2,
                  optimizer=optimizer, lr=0.01, random_state=0)
    fast = SequenceClassifier(**params).fit(X, y)
    assert fast.net_.optimizer_.defaults[implementation] is True
    monkeypatch.setattr(sklstm._base, "_optimizer_params", lambda *args: {})
    loop = SequenceClassifier(**params).fit(X, y)
    assert not loop.net_.optimizer_.defaults[implementation]
    if implementation == "foreach":
        np.testing.assert_array_equal(fast.predict_proba(X), loop.predict_proba(X))
    else:
        np.testing.assert_allclose(fast.predict_proba(X), loop.predict_proba(X),
                                   rtol=0, atol=1e-5)
        np.testing.assert_array_equal(fast.predict(X), loop.predict(X))


def test_a_users_optimizer_class_runs_as_torch_builds_it():
    X = np.random.default_rng(0).normal(size=(12, 5, 1)).astype(np.float32)
    clf = SequenceClassifier(optimizer=torch.optim.Adam, max_epochs=1, n_networks=1,
                             random_state=0).fit(X, np.arange(12) % 2)
    assert not clf.net_.optimizer_.defaults["fused"]
    assert not clf.net_.optimizer_.defaults["foreach"]
