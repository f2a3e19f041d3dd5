"""Golden predictions: the estimators predict as they did before the
restructuring of issue 28, and files saved then still load.

``tests/golden/`` holds, for each case below, the predictions of the model
fitted by the code of commit b883328 (``predictions.npz``) and that model
saved by ``sklstm.save`` (``<case>.safetensors``): those stay, and the old
files must go on predicting what they predicted. ``fits.npz`` holds what
today's code fits: it was the same as ``predictions.npz`` until
bidirectional layers stopped reading packed sequences (the same outputs up
to rounding, which training amplifies). Regenerate it only on purpose, when
a change of what the network computes is intended::

    python tests/test_golden.py --write

and check, on the CPU that wrote them, that they are reproduced to the bit::

    python tests/test_golden.py

The committed figures come from one CPU; another CPU rounds differently in
its vector instructions, so the comparisons allow 1e-5 on probabilities
and compare labels only where the two most likely classes are apart.
"""

import sys
from pathlib import Path

import numpy as np
import pytest

import sklstm
from sklstm import (
    SequenceClassifier,
    SequenceLanguageModel,
    SequenceRegressor,
    SequenceTagger,
)

GOLDEN = Path(__file__).resolve().parent / "golden"
SMALL = dict(num_hidden=6, max_epochs=2, batch_size=8, random_state=0)


def _data():
    rng = np.random.RandomState(0)
    X3 = rng.normal(size=(36, 150, 2)).astype(np.float32)
    X3[:, 40:60, 0] += np.arange(36)[:, None] % 3
    labels = np.array(["a", "b", "c"])[np.arange(36) % 3]
    ragged = [rng.normal(size=(n, 2)).cumsum(0) for n in rng.randint(5, 60, size=30)]
    ragged_y = np.array([[x[:, 0].mean(), x[-1, 1]] for x in ragged])
    tags_X = [rng.randint(0, 3, size=(n, 1)).astype(float) for n in rng.randint(3, 15, size=30)]
    tags_y = [(x[:, 0] > 0).astype(int) + (x[:, 0] > 1) for x in tags_X]
    words = ["the cat", "a dog", "the bird"], ["sees", "likes"], ["fish", "milk", "seeds"]
    text = [" ".join(rng.choice(w) for w in words) for _ in range(60)]
    text_y = np.array([t.startswith("the") for t in text]).astype(int)
    return {
        "X3": X3, "labels": labels, "ragged": ragged, "ragged_y": ragged_y,
        "tags_X": tags_X, "tags_y": tags_y, "text": text, "text_y": text_y,
    }


LM_PARTS = dict(
    num_hidden=8, num_layers=2, batch_size=4, bptt=6, max_epochs=2,
    softmax_cutoff=4, tie_weights=True, locked_dropout=True, dropout=0.2,
    embedding_dropout=0.1, weight_dropout=0.2, activation_penalty=1.0,
    temporal_penalty=1.0, init_range=0.1, validation_fraction=0.1, random_state=0,
)

# name -> (estimator, X key, y key, the methods whose outputs are golden)
CASES = {
    # defaults, with the inner search of conv_dilations="auto" and an
    # ensemble of n_networks="auto"
    "classifier_defaults": (
        SequenceClassifier(conv_channels=8, **SMALL), "X3", "labels",
        ("predict_proba", "predict"),
    ),
    "classifier_parts": (
        SequenceClassifier(
            cell="gru", num_layers=2, dropout=0.2, locked_dropout=True,
            weight_dropout=0.2, conv_layers=1, conv_channels=6,
            conv_dilations=(1, 2), conv_pooling="max", pooling="attention",
            input_differences=2, n_networks=2, class_weight="balanced", **SMALL,
        ),
        "ragged", "ragged_class", ("predict_proba", "predict"),
    ),
    "classifier_text": (
        SequenceClassifier(embedding_dim=5, pooling="last", n_networks=1, **SMALL),
        "text", "text_y", ("predict_proba", "predict"),
    ),
    "regressor": (
        SequenceRegressor(
            pooling="mean", input_differences="auto", n_networks=2,
            early_stopping=True, summary_points=0, per_sequence_features=False,
            **SMALL,
        ),
        "ragged", "ragged_y", ("predict",),
    ),
    "tagger": (
        SequenceTagger(conv_layers=1, conv_channels=4, bidirectional=True, **SMALL),
        "tags_X", "tags_y", ("predict_proba", "predict"),
    ),
    "language_model": (
        SequenceLanguageModel(**LM_PARTS), "text", None,
        ("predict_proba", "score"),
    ),
    "language_model_full_softmax": (
        SequenceLanguageModel(
            num_hidden=8, num_layers=1, batch_size=4, bptt=6, max_epochs=2,
            random_state=0,
        ),
        "text", None, ("predict_proba", "score"),
    ),
}
CONTEXTS = ["the cat", "a dog sees", "the bird likes milk"]


def _inputs(data, X_key, y_key):
    X = data[X_key]
    if y_key == "ragged_class":
        y = data["labels"][: len(X)]
    else:
        y = None if y_key is None else data[y_key]
    return X, y


def _outputs(est, method, X):
    if isinstance(est, SequenceLanguageModel):
        X = CONTEXTS if method == "predict_proba" else X[:20]
    out = getattr(est, method)(X)
    if getattr(out, "dtype", None) == object:  # the tagger's ragged outputs
        return np.concatenate(list(out))
    return np.asarray(out)


def _fit(name):
    est, X_key, y_key, _ = CASES[name]
    from sklearn.base import clone

    X, y = _inputs(_data(), X_key, y_key)
    return clone(est).fit(X) if y is None else clone(est).fit(X, y)


def _check(name, est, golden):
    data = _data()
    X, _ = _inputs(data, CASES[name][1], CASES[name][2])
    for method in CASES[name][3]:
        expected = golden[f"{name}.{method}"]
        got = _outputs(est, method, X)
        if method == "predict" and not isinstance(est, SequenceRegressor):
            # labels: equal wherever the two most likely classes are apart
            proba = golden[f"{name}.predict_proba"]
            top2 = np.sort(proba, axis=-1)[..., -2:]
            clear = (top2[..., 1] - top2[..., 0]) > 1e-4
            np.testing.assert_array_equal(got[clear], expected[clear])
        else:
            np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


def _golden(file):
    with np.load(GOLDEN / file, allow_pickle=False) as f:
        return dict(f)


@pytest.fixture(scope="module")
def golden():
    return _golden("predictions.npz")


@pytest.mark.parametrize("name", sorted(CASES))
def test_fits_predict_as_before(name):
    golden = _golden("fits.npz")
    est = _fit(name)
    _check(name, est, golden)
    for attr in ("n_networks_", "conv_dilations_", "input_differences_", "n_iter_"):
        key = f"{name}.{attr}"
        if key in golden:
            np.testing.assert_array_equal(np.asarray(getattr(est, attr)), golden[key])


@pytest.mark.parametrize("name", sorted(CASES))
def test_files_saved_before_load(name, golden):
    """A file written by the code before the restructuring loads and
    predicts as that code's model did."""
    est = sklstm.load(GOLDEN / f"{name}.safetensors")
    _check(name, est, golden)


def _write():
    """Today's fits as ``fits.npz`` (the old files and their predictions stay)."""
    data = _data()
    golden = {}
    for name, (_, X_key, y_key, methods) in CASES.items():
        est = _fit(name)
        X, _ = _inputs(data, X_key, y_key)
        for method in methods:
            golden[f"{name}.{method}"] = _outputs(est, method, X)
        for attr in ("n_networks_", "conv_dilations_", "input_differences_", "n_iter_"):
            if hasattr(est, attr):
                golden[f"{name}.{attr}"] = np.asarray(getattr(est, attr))
        print(name, {k: v.shape for k, v in golden.items() if k.startswith(name)})
    np.savez(GOLDEN / "fits.npz", **golden)


def _compare_exactly():
    """Print, per case, whether a new fit and the old file reproduce the
    golden outputs to the bit (meaningful on the CPU that wrote them)."""
    fits, files = _golden("fits.npz"), _golden("predictions.npz")
    data = _data()
    for name, (_, X_key, y_key, methods) in CASES.items():
        X, _ = _inputs(data, X_key, y_key)
        for source, est, golden in (
            ("fit", _fit(name), fits),
            ("file", sklstm.load(GOLDEN / f"{name}.safetensors"), files),
        ):
            same = all(
                np.array_equal(_outputs(est, m, X), golden[f"{name}.{m}"])
                for m in methods
            )
            print(f"{name:30s} {source:5s} {'identical' if same else 'DIFFERENT'}")


if __name__ == "__main__":
    if "--write" in sys.argv:
        _write()
    else:
        _compare_exactly()
