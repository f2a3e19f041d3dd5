"""The regressor's summary path (``summary_points``,
:class:`sklstm.nn.SummaryPath`): a linear model (ridge or partial least
squares) on each series resampled at fixed points, fitted in closed form,
beside the network."""

import numpy as np
import pytest
import torch

from sklstm import SequenceRegressor, load, save
from sklstm._auto import MAX_SUMMARY_POINTS, search_grid, summary_path_points
from sklstm._linear_path import fit_linear_path
from sklstm.datasets import make_band_spectra
from sklstm.nn import RecurrentNetwork, SummaryPath
from sklstm.nn._heads import resample

FAST = dict(num_hidden=8, max_epochs=2, n_networks=1, random_state=0)


@pytest.mark.parametrize("mode", ["interpolate", "mean"])
@pytest.mark.parametrize(
    "n_steps, ragged, n_points",
    [(12, False, 12), (12, True, 12), (8, True, 12), (8, False, 12), (20, True, 12)],
)
def test_resample_shortcuts_give_the_full_computation(monkeypatch, mode, n_steps,
                                                      ragged, n_points):
    # in eager mode, series of exactly n_points steps are read as they are,
    # and no means are computed where no series is longer than n_points;
    # a recorded graph (ONNX) computes everything: the same values
    X = torch.randn(5, n_steps, 3, generator=torch.Generator().manual_seed(0))
    lengths = torch.tensor([n_steps, 3, n_steps - 1, 2, n_steps]) if ragged else None
    eager = resample(X, lengths, n_points, mode)
    if lengths is None and n_steps == n_points:
        assert eager is X  # the shortcut was taken
    monkeypatch.setattr("sklstm.nn._heads.recording", lambda: True)
    assert torch.equal(eager, resample(X, lengths, n_points, mode))


def test_resample_reads_real_steps_only():
    torch.manual_seed(0)
    lengths = torch.tensor([7, 2, 1])
    X = torch.randn(3, 7, 2)
    X[torch.arange(7)[None] >= lengths[:, None]] = float("nan")
    Z = resample(X, lengths, 5)
    assert Z.shape == (3, 5, 2) and not torch.isnan(Z).any()
    # the first and last points are the first and last real steps
    for z, x, n in zip(Z, X, lengths):
        torch.testing.assert_close(z[0], x[0])
        torch.testing.assert_close(z[-1], x[n - 1])
    # a sequence of one step is that step everywhere
    torch.testing.assert_close(Z[2], X[2, :1].expand(5, 2))


def test_a_sequence_gives_the_same_summary_alone_and_padded():
    torch.manual_seed(0)
    x = torch.randn(1, 9, 3)
    padded = torch.cat([x, torch.full((1, 4, 3), 1e6)], dim=1)
    path = SummaryPath(3, 6, 2, weight=torch.randn(2, 18), bias=[0.1, -0.2])
    torch.testing.assert_close(path(padded, torch.tensor([9])), path(x), rtol=0, atol=1e-6)


def test_the_path_is_fixed_and_saved_with_the_network():
    net = RecurrentNetwork(n_features=2, n_outputs=1, summary_points=4,
                           summary_weight=np.ones((1, 8)), summary_bias=[1.0])
    names = [name for name, _ in net.named_parameters()]
    assert not any(name.startswith("summary.") for name in names)
    assert {"summary.weight", "summary.bias"} <= set(net.state_dict())
    with pytest.raises(ValueError, match="crop_fraction and summary_points need one output"):
        RecurrentNetwork(per_step=True, summary_points=4)
    with pytest.raises(ValueError, match="n_points must be at least 2"):
        SummaryPath(1, 1, 1)


def test_the_path_is_fitted_on_the_resampled_inputs():
    X, y = make_band_spectra(n_samples=60, n_steps=40, random_state=2)
    reg = SequenceRegressor(**FAST, summary_points=8, input_differences=0).fit(X, y)
    assert reg.summary_points_ == 8
    # the same linear model, fitted here on the standardised, resampled inputs
    scaled = (X - X.mean()) / X.std()
    # 40 steps to 8 points: the means of 5 steps each (not interpolated)
    Z = scaled.reshape(60, 8, 5).mean(axis=2)
    coef, intercept, report = fit_linear_path(
        Z, (y - y.mean()) / y.std(), random_state=reg._seed
    )
    # the same choice; the errors to float32's rounding of the inputs there
    assert {**report, "cv_mse": None} == {**reg.summary_model_, "cv_mse": None}
    assert report["cv_mse"] == pytest.approx(reg.summary_model_["cv_mse"], rel=1e-4)
    path = reg.net_.module_.summary
    assert path.resampling == "mean"  # the network's path computes the same means
    np.testing.assert_allclose(path.weight.numpy(), coef, rtol=1e-3, atol=1e-4)
    np.testing.assert_allclose(path.bias.numpy(), intercept, atol=1e-4)


def test_auto_lets_the_inner_search_choose(tmp_path):
    grid = search_grid((1,), 0, 0, (1,), text=False, summary_points="auto", typical=40)
    assert grid == {"summary_points": [0, 40]}
    assert search_grid((1,), 0, 0, (1,), text=False, summary_points=0, typical=40) == {}
    X, y = make_band_spectra(n_samples=60, n_steps=40, random_state=0)
    assert SequenceRegressor().summary_points == "auto"  # the default
    reg = SequenceRegressor(**FAST).fit(X, y)
    assert reg.fit_plan_["search"]
    # with per_sequence_features="auto" (the default too), one after the
    # other: the path first, then the copies beside the path's choice
    tried = [(p["summary_points"], p["per_sequence_features"])
             for p in reg.auto_search_["params"]]
    assert tried[:2] == [(0, False), (40, False)]  # every one of the 40 steps
    assert tried[2] == (reg.summary_points_, True) and len(tried) == 3
    assert reg.summary_points_ == reg.auto_search_["best_params"]["summary_points"]
    # a linear target: the path wins, and a saved model predicts the same
    assert reg.summary_points_ == 40
    path = tmp_path / "reg.sklstm"
    save(reg, path)
    loaded = load(path)
    assert loaded.summary_points_ == 40
    np.testing.assert_array_equal(loaded.predict(X), reg.predict(X))


def test_ragged_input_and_bad_values():
    rng = np.random.RandomState(0)
    X = [rng.normal(size=(n, 2)) for n in rng.randint(3, 30, 20)]
    y = np.array([x[:, 0].sum() for x in X])
    reg = SequenceRegressor(**FAST, summary_points=5).fit(X, y)
    assert reg.predict(X).shape == (20,)
    with pytest.raises(ValueError, match="summary_points"):
        SequenceRegressor(summary_points=-1).fit(X, y)
    with pytest.raises(ValueError, match="n_points must be at least 2"):
        SequenceRegressor(**FAST, summary_points=1).fit(X, y)


def test_the_onnx_export_keeps_the_path(tmp_path):
    pytest.importorskip("onnx", reason="sklstm.to_onnx needs onnx")
    ort = pytest.importorskip("onnxruntime", reason="runs the export")
    import sklstm
    from sklstm._data import pad_sequences

    rng = np.random.RandomState(0)
    X = [rng.normal(size=(n, 2)).astype(np.float32) for n in rng.randint(3, 30, 20)]
    y = np.array([x[:, 0].sum() for x in X])
    reg = SequenceRegressor(**FAST, summary_points=5).fit(X, y)
    session = ort.InferenceSession(sklstm.to_onnx(reg, tmp_path / "reg.onnx"))
    X_pad, lengths = pad_sequences(X, np.float32)
    (pred,) = session.run(None, {"X": X_pad, "lengths": lengths})
    np.testing.assert_allclose(pred, reg.predict(X), rtol=1e-5, atol=1e-5)


def test_the_default_runs_no_path_where_no_search_runs():
    # partial_fit trains one network without the inner search: "auto"
    # resolves to no path, as it does where the search does not fit the budget
    X, y = make_band_spectra(n_samples=60, n_steps=40, random_state=0)
    reg = SequenceRegressor(**FAST).partial_fit(X, y)
    assert reg.summary_points_ == 0 and reg.per_sequence_features_ is False
    assert reg.net_.module_.summary is None
    assert reg.net_.module_.inputs.per_sequence is None
    assert not reg.fit_plan_["search"]
    # four series: too few for a 3-fold search
    reg = SequenceRegressor(**FAST).fit(X[:4], y[:4])
    assert reg.summary_points_ == 0 and not reg.fit_plan_["search"]


def test_auto_points_are_the_steps_of_a_typical_series():
    # every step up to MAX_SUMMARY_POINTS, longer series resampled; at least 2
    assert summary_path_points(100) == 100
    assert summary_path_points(10 * MAX_SUMMARY_POINTS) == MAX_SUMMARY_POINTS
    assert summary_path_points(1) == 2
    # a ragged set: its median length (as the front-end's depth)
    rng = np.random.RandomState(0)
    X = [rng.normal(size=(n, 1)) for n in [10, 12, 20, 30, 31] * 8]
    y = np.array([x[-1, 0] for x in X])
    reg = SequenceRegressor(**FAST).fit(X, y)
    assert reg.auto_search_["params"][1]["summary_points"] == 20


@pytest.mark.parametrize("n_steps", [20, 24, 37, 84, 100, 427])
def test_a_path_over_every_step_reads_the_values_as_they_are(n_steps):
    # resampled at as many points as it has steps, a sequence is unchanged
    # to the bit (no interpolation between neighbours), whole or the
    # longest of a ragged batch (positions from a float grid times the
    # length fell a hair short of whole steps at 24, 84, 100, 427)
    torch.manual_seed(0)
    X = torch.randn(3, n_steps, 2)
    assert torch.equal(resample(X, None, n_steps), X)
    lengths = torch.tensor([n_steps, n_steps // 2, 1])
    assert torch.equal(resample(X, lengths, n_steps)[0], X[0])


def _bin_means(x, n_points):
    edges = np.arange(n_points + 1) * len(x) // n_points
    return np.stack([x[a:b].mean(axis=0) for a, b in zip(edges[:-1], edges[1:])])


def test_a_longer_sequence_gives_the_means_of_its_share_of_the_steps():
    # each step counts once: the mean of steps i*T//n to (i+1)*T//n for
    # point i; sequences of at most n_points steps are interpolated as before
    rng = np.random.RandomState(0)
    lengths = [40, 23, 9, 8, 5]
    X = np.full((5, 40, 2), np.nan, dtype=np.float32)  # padding is never read
    for i, n in enumerate(lengths):
        X[i, :n] = rng.normal(size=(n, 2))
    Z = resample(torch.tensor(X), torch.tensor(lengths), 8, mode="mean").numpy()
    assert Z.shape == (5, 8, 2) and np.isfinite(Z).all()
    for z, x, n in zip(Z[:3], X, lengths):
        np.testing.assert_allclose(z, _bin_means(x[:n], 8), rtol=1e-6)
    interpolated = resample(torch.tensor(X), torch.tensor(lengths), 8).numpy()
    np.testing.assert_array_equal(Z[3:], interpolated[3:])
    np.testing.assert_array_equal(Z[3], X[3, :8])  # every step, as it is
    # alone and padded, to the bit
    for i, n in enumerate(lengths):
        alone = resample(torch.tensor(X[i : i + 1, :n]), None, 8, mode="mean")
        assert torch.equal(alone[0], torch.tensor(Z[i]))
    with pytest.raises(ValueError, match="resampling must be one of"):
        SummaryPath(1, 4, 1, resampling="nearest")


def test_files_from_before_the_means_load_as_they_were(tmp_path):
    # the path of a file written before the means interpolates, as it did
    from test_persistence import _read_raw, _write_raw

    X, y = make_band_spectra(n_samples=60, n_steps=40, random_state=0)
    reg = SequenceRegressor(**FAST, summary_points=8).fit(X, y)
    path = tmp_path / "old.safetensors"
    save(reg, path)
    doc, tensors = _read_raw(path)
    del doc["estimator"]["net"]["module_params"]["__dict__"]["summary_resampling"]
    _write_raw(path, doc, tensors)
    old = load(path)
    assert old.net_.module_.summary.resampling == "interpolate"
    reg.net_.module_.summary.resampling = "interpolate"  # what the old version computed
    np.testing.assert_array_equal(old.predict(X), reg.predict(X))
    # a file written now keeps the means
    reg.net_.module_.summary.resampling = "mean"
    save(reg, path)
    assert load(path).net_.module_.summary.resampling == "mean"
    np.testing.assert_array_equal(load(path).predict(X), reg.predict(X))
