"""sklstm.save / sklstm.load: round trips, continued training, hostile files."""

import io
import json
import pickle
import zipfile

import joblib
import numpy as np
import pytest
from sklearn.exceptions import NotFittedError
from sklearn.pipeline import make_pipeline

import sklstm
from sklstm import (
    SequenceClassifier,
    SequenceLanguageModel,
    SequenceRegressor,
    SequenceTagger,
)
from sklstm._serialization import saved_fields
from sklstm.preprocessing import SequenceScaler, Vocabulary

pytest.importorskip("safetensors", reason="sklstm.save needs safetensors")
from safetensors import safe_open  # noqa: E402
from safetensors.torch import save_file  # noqa: E402

rng = np.random.RandomState(0)
X3 = rng.normal(size=(30, 9, 2)).astype(np.float32) * 50 + 10
X2 = X3[:, :, 0]
RAGGED = [rng.normal(size=(n, 2)) for n in rng.randint(2, 12, size=30)]
LABELS = np.array(["a", "b", "c"])[np.arange(30) % 3]
TEXT = ["the cat sat", "a dog ran off", "the bird flew", "a cat"] * 6
TEXT_Y = np.arange(24) % 2
SMALL = dict(num_hidden=6, max_epochs=2, batch_size=8, random_state=0)


def _same(a, b):
    if isinstance(a, list) or getattr(a, "dtype", None) == object:  # ragged
        return len(a) == len(b) and all(np.array_equal(u, v) for u, v in zip(a, b))
    return np.array_equal(np.asarray(a), np.asarray(b))


def _round_trip(est, tmp_path, **kwargs):
    path = tmp_path / "model.safetensors"
    sklstm.save(est, path, **kwargs)
    return sklstm.load(path)


CASES = [
    ("classifier 2-D", SequenceClassifier(**SMALL), X2, LABELS, "predict_proba"),
    (
        "classifier 3-D, weighted classes",
        SequenceClassifier(class_weight="balanced", **SMALL),
        X3,
        LABELS,
        "predict_proba",
    ),
    (
        "classifier ragged, conv front-end and its pooled channels",
        SequenceClassifier(conv_layers=1, conv_channels=4, conv_pooling="max", **SMALL),
        RAGGED,
        LABELS,
        "predict_proba",
    ),
    (
        "classifier, dilated front-end",
        SequenceClassifier(conv_layers=2, conv_channels=6, conv_dilations=[1, 2, 4], **SMALL),
        X3,
        LABELS,
        "predict_proba",
    ),
    (
        "classifier ragged, per-sequence copies",
        SequenceClassifier(per_sequence_features=True, **SMALL),
        RAGGED,
        LABELS,
        "predict_proba",
    ),
    ("classifier text", SequenceClassifier(**SMALL), TEXT, TEXT_Y, "predict_proba"),
    (
        "regressor, two outputs",
        SequenceRegressor(**SMALL),
        X3,
        X3[:, :2, 0] * 3.0,
        "predict",
    ),
    ("regressor ragged", SequenceRegressor(**SMALL), RAGGED, np.arange(30.0), "predict"),
    (
        "tagger ragged",
        SequenceTagger(conv_layers=1, conv_channels=4, **SMALL),
        RAGGED,
        [np.arange(len(x)) % 2 for x in RAGGED],
        "predict_proba",
    ),
    (
        "tagger with bptt",
        SequenceTagger(bptt=4, num_hidden=6, max_epochs=2, batch_size=4, random_state=0),
        X3,
        (X3[:, :, 0] > 10).astype(int),
        "predict_proba",
    ),
]


@pytest.mark.parametrize("name, est, X, y, method", CASES, ids=[c[0] for c in CASES])
def test_round_trip_predicts_identically(name, est, X, y, method, tmp_path):
    est.fit(X, y)
    loaded = _round_trip(est, tmp_path)
    assert type(loaded) is type(est)
    assert loaded.get_params() == est.get_params()
    assert _same(getattr(loaded, method)(X), getattr(est, method)(X))
    assert _same(loaded.predict(X), est.predict(X))
    for attr in ("classes_", "n_features_in_", "n_iter_", "n_conv_layers_"):
        if hasattr(est, attr):
            assert _same(getattr(loaded, attr), getattr(est, attr))
    # every value learned in fit comes back as it was (the network, its
    # history and the vocabulary are compared above and below)
    learned = [a for a in vars(est) if a.endswith("_") and not a.startswith("_")]
    for attr in sorted(set(learned) - {"net_", "vocabulary_", "auto_search_"}):
        assert hasattr(loaded, attr), attr
        assert _same(getattr(loaded, attr), getattr(est, attr)), attr
    assert loaded.history_.equals(est.history_)
    if hasattr(est, "vocabulary_"):
        assert loaded.vocabulary_.vocabulary_ == est.vocabulary_.vocabulary_


def test_feature_names_survive(tmp_path):
    pd = pytest.importorskip("pandas")
    X = pd.DataFrame(X2, columns=[f"t{i}" for i in range(X2.shape[1])])
    clf = SequenceClassifier(**SMALL).fit(X, LABELS)
    loaded = _round_trip(clf, tmp_path)
    assert list(loaded.feature_names_in_) == list(X.columns)
    assert _same(loaded.predict_proba(X), clf.predict_proba(X))
    with pytest.raises(ValueError, match="feature names"):
        loaded.predict(X.rename(columns={"t0": "other"}))


def test_language_model_with_tied_weights(tmp_path):
    lm = SequenceLanguageModel(
        num_hidden=8, tie_weights=True, max_epochs=2, batch_size=4, random_state=0
    ).fit(TEXT)
    path = tmp_path / "lm.safetensors"
    sklstm.save(lm, path)
    with safe_open(path, framework="pt") as f:
        names = set(f.keys())
    # the shared matrix is stored once
    assert ("module.inputs.weight" in names) != ("module.head.weight" in names)
    loaded = sklstm.load(path)
    module = loaded.net_.module_
    assert module.head.weight is module.inputs.weight
    assert loaded.perplexity(TEXT) == lm.perplexity(TEXT)
    assert _same(loaded.predict_proba(["the cat"]), lm.predict_proba(["the cat"]))
    assert list(loaded.tokens_) == list(lm.tokens_)


@pytest.mark.parametrize("Transformer, X", [(SequenceScaler, RAGGED), (Vocabulary, TEXT)])
def test_transformers_round_trip(Transformer, X, tmp_path):
    est = Transformer().fit(X)
    loaded = _round_trip(est, tmp_path)
    assert _same(loaded.transform(X), est.transform(X))


@pytest.mark.parametrize("with_optimizer", [True, False])
def test_training_goes_on_after_loading(with_optimizer, tmp_path):
    clf = SequenceClassifier(**SMALL).fit(X3, LABELS)
    loaded = _round_trip(clf, tmp_path, optimizer=with_optimizer)
    for est in (clf, loaded):
        est.set_params(warm_start=True, max_epochs=2).fit(X3, LABELS)
    # with the optimizer's state, exactly as if it had never been saved
    same = np.array_equal(loaded.predict_proba(X3), clf.predict_proba(X3))
    assert same == with_optimizer
    assert loaded.n_iter_ == clf.n_iter_ == 4


def test_partial_fit_goes_on_after_loading(tmp_path):
    reg = SequenceRegressor(**SMALL)
    reg.partial_fit(X3, X3[:, 0, 0])
    loaded = _round_trip(reg, tmp_path)
    for est in (reg, loaded):
        est.partial_fit(X3, X3[:, 0, 0])
    assert np.array_equal(loaded.predict(X3), reg.predict(X3))


def test_optimizer_state_is_optional_and_smaller(tmp_path):
    clf = SequenceClassifier(**SMALL).fit(X3, LABELS)
    sklstm.save(clf, tmp_path / "full.st")
    sklstm.save(clf, tmp_path / "slim.st", optimizer=False)
    assert (tmp_path / "slim.st").stat().st_size < (tmp_path / "full.st").stat().st_size
    assert _same(sklstm.load(tmp_path / "slim.st").predict_proba(X3), clf.predict_proba(X3))


def test_model_saved_on_a_gpu_loads_on_the_cpu(tmp_path):
    clf = SequenceClassifier(**SMALL).fit(X3, LABELS)
    path = tmp_path / "gpu.safetensors"
    sklstm.save(clf, path)
    # the same file as a GPU machine writes it: device="cuda" in the parameters
    doc, tensors = _read_raw(path)
    doc["estimator"]["params"]["device"] = "cuda"
    _write_raw(path, doc, tensors)
    with pytest.warns(UserWarning, match="loaded on the CPU"):
        loaded = sklstm.load(path)
    assert loaded.device == "cpu"
    assert _same(loaded.predict_proba(X3), clf.predict_proba(X3))
    # an explicit device is used as given
    assert sklstm.load(path, device="cpu").device == "cpu"
    # a device that is not there is the caller's error, not the file's
    for device in ("nope", "cuda:64"):
        with pytest.raises(ValueError, match=f"device='{device}'") as info:
            sklstm.load(path, device=device)
        assert "damaged" not in str(info.value)


def test_files_hold_declared_fields_only(tmp_path):
    """No private attribute name is part of the format: the fitted state is
    saved as the fields each class declares."""
    reg = SequenceRegressor(**SMALL).fit(X3, X3[:, 0, 0])
    path = tmp_path / "reg.safetensors"
    sklstm.save(reg, path)
    doc, tensors = _read_raw(path)
    fitted = doc["estimator"]["fitted"]
    assert "attrs" not in doc["estimator"] and doc["format_version"] == 2
    assert not [field for field in fitted if field.startswith("_")]
    assert {"target_mean", "target_scale", "n_step_features", "n_iter_"} <= set(fitted)
    # what is only needed while fitting is not saved
    assert not {"_seed", "_input_stats"} & set(fitted)
    loaded = sklstm.load(path)
    assert _same(loaded.predict(X3), reg.predict(X3))
    # a file of format 1 held every attribute by its name: the declared ones
    # are read, any other (private names included) is left out
    doc["format_version"] = 1
    fields = saved_fields(SequenceRegressor)
    attrs = {fields[field]: v for field, v in doc["estimator"].pop("fitted").items()}
    doc["estimator"]["attrs"] = {**attrs, "_seed": 3, "__class__": "x"}
    _write_raw(path, doc, tensors)
    old = sklstm.load(path)
    assert not hasattr(old, "_seed") and old._n_step_features == 2
    assert _same(old.predict(X3), reg.predict(X3))


def test_files_from_before_conv_pooling_load_as_they_were(tmp_path):
    clf = SequenceClassifier(**SMALL, conv_layers=1, conv_pooling=None).fit(X3, LABELS)
    path = tmp_path / "old.safetensors"
    sklstm.save(clf, path)
    # the file as sklstm wrote it before the parameter existed
    doc, tensors = _read_raw(path)
    del doc["estimator"]["params"]["conv_pooling"]
    del doc["estimator"]["net"]["module_params"]["__dict__"]["conv_pooling"]
    _write_raw(path, doc, tensors)
    loaded = sklstm.load(path)
    assert loaded.conv_pooling is None
    assert _same(loaded.predict_proba(X3), clf.predict_proba(X3))


def test_files_from_before_conv_dilations_load_as_they_were(tmp_path):
    # before the parameter, the front-end's first block was one plain
    # convolution; "auto" would now search
    X = rng.normal(size=(30, 40, 2))
    clf = SequenceClassifier(**SMALL, conv_layers=1, conv_dilations=(1,)).fit(X, LABELS)
    path = tmp_path / "old.safetensors"
    sklstm.save(clf, path)
    doc, tensors = _read_raw(path)
    del doc["estimator"]["params"]["conv_dilations"]
    del doc["estimator"]["fitted"]["conv_dilations_"]
    del doc["estimator"]["net"]["module_params"]["__dict__"]["conv_dilations"]
    _write_raw(path, doc, tensors)
    loaded = sklstm.load(path)
    assert loaded.conv_dilations == (1,) and loaded.conv_dilations_ == (1,)
    assert _same(loaded.predict_proba(X), clf.predict_proba(X))
    # a file with dilations keeps them
    clf = SequenceClassifier(**SMALL, conv_layers=1, conv_dilations="multiscale")
    assert clf.fit(X, LABELS).conv_dilations_ == (1, 2, 4)
    sklstm.save(clf, path)
    loaded = sklstm.load(path)
    assert loaded.conv_dilations == "multiscale" and loaded.conv_dilations_ == (1, 2, 4)
    assert _same(loaded.predict_proba(X), clf.predict_proba(X))


def test_files_from_before_input_differences_load_as_they_were(tmp_path):
    # before the parameters, the network read the features alone
    X = rng.normal(size=(30, 12, 2))
    clf = SequenceClassifier(**SMALL, input_differences=0, difference_lag=1).fit(X, LABELS)
    path = tmp_path / "old.safetensors"
    sklstm.save(clf, path)
    doc, tensors = _read_raw(path)
    for name in ["input_differences", "difference_lag"]:
        del doc["estimator"]["params"][name]
        del doc["estimator"]["net"]["module_params"]["__dict__"][name]
    del doc["estimator"]["fitted"]["input_differences_"]
    _write_raw(path, doc, tensors)
    loaded = sklstm.load(path)
    assert loaded.input_differences == 0 and loaded.input_differences_ == 0
    assert loaded.difference_lag == 1
    assert _same(loaded.predict_proba(X), clf.predict_proba(X))
    # a file with differences keeps them, and their statistics
    clf = SequenceClassifier(**SMALL, input_differences=2, difference_lag=3).fit(X, LABELS)
    sklstm.save(clf, path)
    loaded = sklstm.load(path)
    assert loaded.input_differences == 2 and loaded.input_differences_ == 2
    assert loaded.difference_lag == 3
    assert loaded.net_.module_.networks[0].inputs.scaler.mean.shape == (6,)
    assert _same(loaded.predict_proba(X), clf.predict_proba(X))


def test_pickle_and_joblib_keep_working(tmp_path):
    clf = SequenceClassifier(**SMALL).fit(RAGGED, LABELS)
    again = pickle.loads(pickle.dumps(clf))
    assert _same(again.predict_proba(RAGGED), clf.predict_proba(RAGGED))
    joblib.dump(clf, tmp_path / "clf.joblib")
    again = joblib.load(tmp_path / "clf.joblib")
    assert _same(again.predict_proba(RAGGED), clf.predict_proba(RAGGED))


def test_file_objects_round_trip(tmp_path):
    clf = SequenceClassifier(**SMALL).fit(RAGGED, LABELS)
    buffer = io.BytesIO()
    sklstm.save(clf, buffer)
    # the same bytes as a file on disk would hold
    sklstm.save(clf, tmp_path / "clf.safetensors")
    on_disk = sklstm.load(tmp_path / "clf.safetensors")
    buffer.seek(0)
    loaded = sklstm.load(buffer)
    assert _same(loaded.predict_proba(RAGGED), clf.predict_proba(RAGGED))
    assert _same(loaded.predict_proba(RAGGED), on_disk.predict_proba(RAGGED))
    with open(tmp_path / "opened.safetensors", "wb") as f:
        sklstm.save(clf, f)
    with open(tmp_path / "opened.safetensors", "rb") as f:
        assert _same(sklstm.load(f).predict(RAGGED), clf.predict(RAGGED))
    # text mode, and bytes that are not a saved model, are named
    with open(tmp_path / "text", "w") as f, pytest.raises(TypeError, match="'wb'"):
        sklstm.save(clf, f)
    with open(tmp_path / "opened.safetensors") as f, pytest.raises(TypeError, match="'rb'"):
        sklstm.load(f)
    with pytest.raises(ValueError, match="'BytesIO' is not a file written by sklstm.save"):
        sklstm.load(io.BytesIO(b"not a model" * 10))
    truncated = io.BytesIO(buffer.getvalue()[:200])
    with pytest.raises(ValueError, match="cannot be read as safetensors"):
        sklstm.load(truncated)


def test_save_refuses_what_it_cannot_store_safely(tmp_path):
    with pytest.raises(NotFittedError):
        sklstm.save(SequenceClassifier(), tmp_path / "x")
    with pytest.raises(TypeError, match="not Pipeline"):
        sklstm.save(make_pipeline(SequenceScaler()).fit(X3), tmp_path / "x")

    from skorch.callbacks import Callback

    clf = SequenceClassifier(callbacks=[Callback()], **SMALL).fit(X3, LABELS)
    with pytest.raises(TypeError, match=r"callbacks\[0\].*set_params"):
        sklstm.save(clf, tmp_path / "x")
    assert not (tmp_path / "x").exists()
    # nothing is left behind, and an existing file is untouched
    assert list(tmp_path.iterdir()) == []


def test_save_names_a_path_it_cannot_write(tmp_path, monkeypatch):
    clf = SequenceClassifier(**SMALL).fit(X3, LABELS)
    # refused before anything is encoded
    monkeypatch.setattr("sklstm._persistence.encode", lambda *a, **k: pytest.fail("encoded"))
    with pytest.raises(FileNotFoundError, match="no folder .*missing.*os.makedirs"):
        sklstm.save(clf, tmp_path / "missing" / "clf.safetensors")
    with pytest.raises(IsADirectoryError, match="is a folder; pass the path of a file"):
        sklstm.save(clf, tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_save_accepts_optimizer_classes_and_random_states(tmp_path):
    import torch

    clf = SequenceClassifier(
        optimizer=torch.optim.SGD, random_state=np.random.RandomState(3), **{
            k: v for k, v in SMALL.items() if k != "random_state"
        }
    ).fit(X3, LABELS)
    loaded = _round_trip(clf, tmp_path)
    assert loaded.optimizer is torch.optim.SGD
    assert _same(loaded.random_state.get_state()[1], clf.random_state.get_state()[1])
    assert _same(loaded.predict_proba(X3), clf.predict_proba(X3))


# -- hostile and damaged files ---------------------------------------------


class _Boom:
    """Unpickling this writes a marker file: proof that code from a file ran."""

    marker = None

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def _read_raw(path):
    with safe_open(path, framework="pt") as f:
        doc = json.loads(f.metadata()["sklstm"])
        tensors = {k: f.get_tensor(k) for k in f.keys()}
    return doc, tensors


def _write_raw(path, doc, tensors):
    save_file(tensors, path, metadata={"sklstm": json.dumps(doc)})


@pytest.fixture
def saved(tmp_path):
    clf = SequenceClassifier(**SMALL).fit(X3, LABELS)
    path = tmp_path / "good.safetensors"
    sklstm.save(clf, path)
    return path


def test_a_renamed_pickle_is_refused_without_running_it(tmp_path):
    marker = tmp_path / "ran"
    _Boom.marker = marker
    path = tmp_path / "model.safetensors"
    path.write_bytes(pickle.dumps(_Boom()))
    with pytest.raises(ValueError, match="not a file written by sklstm.save"):
        sklstm.load(path)
    assert not marker.exists()
    # the same file really would run code if unpickled
    pickle.loads(path.read_bytes()).close()
    assert marker.exists()


def test_an_archive_smuggling_a_pickle_is_refused(tmp_path, saved):
    marker = tmp_path / "ran"
    _Boom.marker = marker
    path = tmp_path / "archive.safetensors"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("model.safetensors", saved.read_bytes())
        archive.writestr("data.pkl", pickle.dumps(_Boom()))
    path.write_bytes(buffer.getvalue())
    with pytest.raises(ValueError, match="not a file written by sklstm.save"):
        sklstm.load(path)
    assert not marker.exists()


@pytest.mark.parametrize(
    "tamper, message",
    [
        (lambda d: d["estimator"].update(__estimator__="Pipeline"), "not one of sklstm"),
        (
            lambda d: d["estimator"]["fitted"].update(
                classes_={"__estimator__": "builtins.eval"}
            ),
            "not one of sklstm",
        ),
        (
            lambda d: d["estimator"]["fitted"].update(classes_={"__callable__": "os.system"}),
            "unknown tag",
        ),
        (lambda d: d.update(format_version=99), "newer than this sklstm reads"),
        (lambda d: d.update(format="pickle"), "not a file written by sklstm.save"),
        (lambda d: d["estimator"]["params"].update(evil=1), "no parameters"),
        (lambda d: d["estimator"]["params"].update(num_hidden=-3), "num_hidden"),
        (
            lambda d: d["estimator"]["params"].update(
                optimizer={"__torch_optimizer__": "Module"}
            ),
            "unknown optimizer",
        ),
        (lambda d: d["estimator"]["fitted"].update(fit="x"), "has no saved fields"),
        (
            lambda d: d["estimator"]["fitted"].update(
                classes_={"__ndarray__": [], "dtype": "|V8", "shape": [0]}
            ),
            "not allowed",
        ),
        (
            lambda d: d["estimator"]["net"]["module_params"]["__dict__"].update(
                num_hidden=7
            ),
            "do not fit the network",
        ),
        (lambda d: d["estimator"]["net"].update(criterion="os.system"), "unknown criterion"),
        (
            lambda d: d["estimator"]["fitted"].update(
                classes_={"__ndarray__": [1, 2], "dtype": "|O", "shape": [2]}
            ),
            "object arrays hold strings only",
        ),
        (lambda d: d["estimator"]["fitted"].update(classes_={}), "unexpected JSON value"),
    ],
    ids=[
        "foreign class",
        "foreign nested class",
        "unknown tag",
        "newer version",
        "other format",
        "unknown parameter",
        "invalid parameter",
        "foreign optimizer",
        "method as attribute",
        "void array",
        "weights of another shape",
        "foreign criterion",
        "object array of numbers",
        "empty tag",
    ],
)
def test_tampered_files_are_refused(saved, tamper, message):
    doc, tensors = _read_raw(saved)
    tamper(doc)
    _write_raw(saved, doc, tensors)
    with pytest.raises(ValueError, match=message):
        sklstm.load(saved)


def test_damaged_and_truncated_files_are_refused(saved, tmp_path):
    data = saved.read_bytes()
    truncated = tmp_path / "truncated"
    truncated.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="cannot be read as safetensors"):
        sklstm.load(truncated)
    damaged = tmp_path / "damaged"
    damaged.write_bytes(data[:8] + b"\x00" * 40 + data[48:])
    with pytest.raises(ValueError, match="sklstm.save"):
        sklstm.load(damaged)
    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    with pytest.raises(ValueError, match="cannot be read as safetensors"):
        sklstm.load(empty)
    # a safetensors file from elsewhere
    other = tmp_path / "other.safetensors"
    save_file({"w": __import__("torch").zeros(2)}, other)
    with pytest.raises(ValueError, match="not one written by sklstm.save"):
        sklstm.load(other)
    with pytest.raises(FileNotFoundError):
        sklstm.load(tmp_path / "missing")


def test_load_runs_no_pickle(saved, monkeypatch):
    def forbidden(*args, **kwargs):
        raise AssertionError("pickle was used")

    monkeypatch.setattr(pickle, "loads", forbidden)
    monkeypatch.setattr(pickle, "load", forbidden)
    monkeypatch.setattr(pickle, "Unpickler", forbidden)
    loaded = sklstm.load(saved)
    assert loaded.predict(X3).shape == (30,)
