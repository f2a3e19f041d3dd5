"""SequenceScaler and channels_last."""

import warnings

import numpy as np
import pytest
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

from sklstm import SequenceClassifier
from sklstm.preprocessing import SequenceScaler, channels_last


@pytest.fixture(scope="module")
def ragged():
    rng = np.random.RandomState(0)
    X = [rng.normal(loc=[5, -100], scale=[2, 30], size=(rng.randint(2, 20), 2))
         for _ in range(40)]
    y = np.array([int(x[:, 0].mean() > 5) for x in X])
    return X, y


def test_statistics_over_real_steps_only(ragged):
    X, _ = ragged
    scaler = SequenceScaler().fit(X)
    steps = np.concatenate(X)
    np.testing.assert_allclose(scaler.mean_, steps.mean(axis=0), rtol=1e-6)
    np.testing.assert_allclose(scaler.scale_, steps.std(axis=0), rtol=1e-6)
    assert scaler.n_features_in_ == 2
    Xt = scaler.transform(X)
    assert isinstance(Xt, list) and [x.shape for x in Xt] == [x.shape for x in X]
    scaled = np.concatenate(Xt)
    np.testing.assert_allclose(scaled.mean(axis=0), 0, atol=1e-5)
    np.testing.assert_allclose(scaled.std(axis=0), 1, rtol=1e-5)
    # padding never counts: the same steps as one 3-D array of equal lengths
    X3 = np.stack([x[:2] for x in X])
    np.testing.assert_allclose(
        SequenceScaler().fit(X3).mean_, X3.reshape(-1, 2).mean(axis=0), rtol=1e-6
    )


def test_layouts_round_trip(ragged):
    X, _ = ragged
    X3 = np.stack([x[:2] for x in X])
    for data in (X, X3, X3[:, :, 0], [x[:, 0] for x in X]):
        scaler = SequenceScaler().fit(data)
        out = scaler.transform(data)
        back = scaler.inverse_transform(out)
        if isinstance(data, list):
            assert all(b.shape == np.shape(d) for b, d in zip(back, data))
            for b, d in zip(back, data):
                np.testing.assert_allclose(b, d, rtol=1e-4, atol=1e-3)
        else:
            assert out.shape == data.shape and out.dtype == np.float32
            np.testing.assert_allclose(back, data, rtol=1e-4, atol=1e-3)
    # 2-D input is univariate: one mean for all columns
    assert SequenceScaler().fit(X3[:, :, 0]).mean_.shape == (1,)


def test_per_sequence(ragged):
    X, _ = ragged
    scaler = SequenceScaler(per_sequence=True).fit(X)
    assert scaler.mean_ is None
    for x in scaler.transform(X):
        if len(x) > 1:
            np.testing.assert_allclose(x.mean(axis=0), 0, atol=1e-5)
            np.testing.assert_allclose(x.std(axis=0), 1, rtol=1e-4)
    # constant sequences become zeros
    assert scaler.transform([np.full((3, 2), 7.0), np.ones((2, 2))])[0].tolist() == [
        [0.0, 0.0]
    ] * 3
    with pytest.raises(ValueError, match="cannot be inverted"):
        scaler.inverse_transform(X)


def test_extreme_scales(ragged):
    X, _ = ragged
    big = [x * 1e30 for x in X]
    np.testing.assert_allclose(
        np.concatenate(SequenceScaler().fit_transform(big)),
        np.concatenate(SequenceScaler().fit_transform(X)),
        rtol=1e-4, atol=1e-4,
    )
    with pytest.raises(ValueError, match="NaN or infinity"):
        SequenceScaler().fit([np.full((3, 2), 1e39), np.ones((2, 2))])
    tiny = [x * 1e-30 for x in X]
    np.testing.assert_allclose(
        np.concatenate(SequenceScaler().fit_transform(tiny)),
        np.concatenate(SequenceScaler().fit_transform(X)),
        rtol=1e-4, atol=1e-4,
    )
    np.testing.assert_allclose(
        np.concatenate(SequenceScaler(per_sequence=True).fit_transform(tiny)),
        np.concatenate(SequenceScaler(per_sequence=True).fit_transform(X)),
        rtol=1e-3, atol=1e-3,
    )


def test_feature_names_and_checks(ragged):
    X, _ = ragged
    scaler = SequenceScaler().fit(X)
    assert scaler.get_feature_names_out().tolist() == ["x0", "x1"]
    with pytest.raises(ValueError, match="3 features per step"):
        scaler.transform(np.ones((2, 4, 3)))
    with pytest.raises(ValueError, match="Sequence 1 of X is None"):
        scaler.transform([np.ones((2, 2)), None])
    # text is the estimators' to read, not the scaler's
    with pytest.raises(TypeError, match="SequenceScaler scales numeric sequences, but X holds text"):
        SequenceScaler().fit(["a b", "c"])
    with pytest.raises(TypeError, match="but X holds text"):
        scaler.transform([["a", "b"], ["c"]])


def test_in_a_pipeline_and_grid_search(ragged):
    X, y = ragged
    pipe = make_pipeline(
        SequenceScaler(),
        SequenceClassifier(num_hidden=8, max_epochs=3, standardize=False, random_state=0),
    )
    search = GridSearchCV(pipe, {"sequencescaler__per_sequence": [False, True]}, cv=2)
    search.fit(X, y)
    assert search.predict(X).shape == (40,)
    assert set(search.cv_results_["param_sequencescaler__per_sequence"]) == {False, True}


def test_channels_last():
    X = np.arange(24.0).reshape(2, 3, 4)  # 2 series, 3 channels, 4 time points
    out = channels_last(X)
    assert out.shape == (2, 4, 3)
    np.testing.assert_array_equal(out[1, :, 2], X[1, 2])
    ragged = channels_last([np.zeros((3, 5)), np.ones((3, 2))])
    assert [x.shape for x in ragged] == [(5, 3), (2, 3)]
    # a stateless pipeline step
    assert FunctionTransformer(channels_last).fit_transform(X).shape == (2, 4, 3)
    with pytest.raises(ValueError, match="aeon and sktime collections are 3-D.*needs no conversion"):
        channels_last(np.zeros((4, 5)))
    with pytest.raises(ValueError, match="Series 1 of X has 1 dimensions"):
        channels_last([np.zeros((3, 5)), np.zeros(4)])
    with pytest.raises(ValueError, match="X is empty"):
        channels_last([])
    with pytest.raises(TypeError, match="got str"):
        channels_last("series")
    # a plain wide frame is one of the layouts the estimators read as they are
    pd = pytest.importorskip("pandas")
    with pytest.raises(ValueError, match="neither of sktime's pandas layouts.*'pd-wide'"):
        channels_last(pd.DataFrame(np.zeros((4, 5))))


def test_channels_last_reads_sktime_pandas_layouts():
    pd = pytest.importorskip("pandas")
    rng = np.random.RandomState(0)
    series = [rng.normal(size=(n, 2)) for n in (5, 3, 4)]
    # "pd-multiindex": a row per step, indexed by (instance, time); the
    # instances in the order of the rows, whatever their ids
    ids = ["z", "a", "m"]
    index = pd.MultiIndex.from_tuples(
        [(i, t) for i, x in zip(ids, series) for t in range(len(x))])
    long = pd.DataFrame(np.concatenate(series), index=index, columns=["u", "v"])
    out = channels_last(long)
    assert len(out) == 3
    for got, want in zip(out, series):
        np.testing.assert_array_equal(got, want)
    # "nested_univ": a row per instance, each cell a channel's series
    nested = pd.DataFrame({"u": [pd.Series(x[:, 0]) for x in series],
                           "v": [x[:, 1] for x in series]})
    for got, want in zip(channels_last(nested), series):
        np.testing.assert_array_equal(got, want)
    bad = pd.DataFrame({"u": [np.ones(3)], "v": [np.ones(4)]})
    with pytest.raises(ValueError, match=r"Row 0 of X holds channels of different lengths \[3, 4\]"):
        channels_last(bad)
    # passed to an estimator as it is, the nested frame is named
    clf = SequenceClassifier(num_hidden=4, max_epochs=1, n_networks=1, random_state=0)
    with pytest.raises(ValueError, match=r"'nested_univ' layout.*channels_last\(X\)"):
        clf.fit(nested, [0, 1, 0])
    # so is the long frame, whose rows are steps while y has one label a series
    with pytest.raises(ValueError, match=r"X has 12 rows but y has 3 targets.*"
                       r"'pd-multiindex'.*channels_last\(X\)"):
        clf.fit(long, [0, 1, 0])
    clf.fit(channels_last(long), [0, 1, 0])  # as the message says
    # a wide frame indexed by, say, subject and trial is data, a series a row
    wide = pd.DataFrame(rng.normal(size=(4, 6)), index=pd.MultiIndex.from_product(
        [["s1", "s2"], [1, 2]], names=["subject", "trial"]))
    assert clf.fit(wide, [0, 1, 0, 1]).n_features_in_ == 6
    assert clf.fit(channels_last(nested), [0, 1, 0]).n_features_in_ == 2
    # a wide frame whose rows carry a MultiIndex stays a wide frame
    wide = pd.DataFrame(rng.normal(size=(4, 6)),
                        index=pd.MultiIndex.from_product([["s1", "s2"], [1, 2]]))
    assert clf.fit(wide, [0, 1, 0, 1]).n_features_in_ == 6


def test_channels_first_input_is_named():
    """aeon's layout passed as it is: a warning or an error that names the
    fix, never a fit on the wrong axis in silence or numpy's own message."""
    rng = np.random.RandomState(0)
    y = np.arange(10) % 2
    clf = SequenceClassifier(num_hidden=4, max_epochs=1, n_networks=1,
                             random_state=0)
    # equal lengths, one channel: sequences of one step with 30 features
    with pytest.warns(UserWarning, match=r"one step with 30 features.*channels_last"):
        clf.fit(rng.normal(size=(10, 1, 30)), y)
    # unequal lengths: a list of (n_channels, n_timepoints_i) arrays
    for n_channels in (1, 3):
        X = [rng.normal(size=(n_channels, n)) for n in range(20, 30)]
        with pytest.raises(ValueError, match=(
                rf"share their first axis \({n_channels}\).*channels_last\(X\)")):
            clf.fit(X, y)
        assert clf.fit(channels_last(X), y).n_features_in_ == n_channels
    # equal lengths but unequal features: named as such, not numpy's error
    with pytest.raises(ValueError, match="Sequence 1 of X has 3 features per step, but 2"):
        clf.fit([np.ones((4, 2)), np.ones((4, 3))], y[:2])
    # fitted time first, then given channels first at predict time
    fitted = clf.fit(rng.normal(size=(10, 30, 3)), y)
    with pytest.raises(ValueError, match=r"expecting 3 features.*second axis has 3.*channels_last"):
        fitted.predict(rng.normal(size=(4, 3, 30)))
    # time first, as sklstm reads it: no warning
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        clf.fit(rng.normal(size=(10, 30, 1)), y)


def test_aeon_data_in_sklstm():
    datasets = pytest.importorskip("aeon.datasets", reason="aeon is not installed")
    X, y = datasets.load_classification("JapaneseVowels", split="train")
    X = channels_last(X)
    assert isinstance(X, list) and X[0].shape[1] == 12
    clf = SequenceClassifier(num_hidden=16, max_epochs=5, random_state=0)
    clf.fit(X[:90], y[:90])
    assert clf.n_features_in_ == 12 and clf.n_conv_layers_ == 0
    assert clf.score(X[:90], y[:90]) > 0.5
    X, y = datasets.load_classification("BasicMotions", split="train")
    clf = SequenceClassifier(num_hidden=8, max_epochs=2, random_state=0)
    assert clf.fit(channels_last(X), y).n_features_in_ == 6
