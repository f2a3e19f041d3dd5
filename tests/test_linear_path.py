"""The summary path's linear model (sklstm._linear_path): a ridge regression
or partial least squares, chosen by cross-validation."""

import numpy as np
import pytest
from sklearn.cross_decomposition import PLSRegression
from sklearn.linear_model import RidgeCV

from sklstm import SequenceRegressor, load, save
from sklstm._linear_path import (
    describe_linear_path, fit_linear_path, fit_pls, fit_ridge, RIDGE_ALPHAS,
)
from sklstm.datasets import make_band_spectra


def _standardised(X):
    return (X - X.mean()) / X.std()


def _predict(coef, intercept, Z):
    return Z @ coef.T + intercept


def test_partial_least_squares_where_bands_overlap():
    # the pool's band-spectra: the target's bands overlap others, and the
    # ridge shrinks what tells them apart
    X, y = make_band_spectra(300, 100, random_state=0)
    Z = _standardised(X[:200])
    coef, intercept, report = fit_linear_path(Z, y[:200])
    assert report["model"] == "pls" and report["alpha"] is None
    k = report["n_components"]
    scores = report["cv_mse"]
    assert scores[f"pls {k}"] == min(scores.values()) < scores["ridge"]
    # the chosen model refitted on all the data, as scikit-learn fits it
    pls = PLSRegression(k, scale=False).fit(Z, y[:200])
    np.testing.assert_allclose(_predict(coef, intercept, Z)[:, 0], pls.predict(Z), atol=1e-8)
    # and better than the ridge on the test series
    Z_test = (X[200:] - X[:200].mean()) / X[:200].std()
    ridge = RidgeCV(alphas=RIDGE_ALPHAS).fit(Z, y[:200])
    error = np.sqrt(np.mean((_predict(coef, intercept, Z_test)[:, 0] - y[200:]) ** 2))
    assert error < 0.95 * np.sqrt(np.mean((ridge.predict(Z_test) - y[200:]) ** 2))


def test_the_ridge_where_it_does_better():
    # many small effects, every input alike (the ridge's own assumption):
    # its folds err less
    rng = np.random.RandomState(0)
    X = rng.normal(size=(80, 40))
    y = X @ (0.3 * rng.normal(size=40)) + 2 * rng.normal(size=80)
    coef, intercept, report = fit_linear_path(X, y)
    assert report["model"] == "ridge" and report["n_components"] is None
    assert report["cv_mse"]["ridge"] == min(report["cv_mse"].values())
    ridge = RidgeCV(alphas=RIDGE_ALPHAS).fit(X, y)
    assert report["alpha"] == ridge.alpha_
    np.testing.assert_allclose(coef[0], ridge.coef_)
    np.testing.assert_allclose(intercept, [ridge.intercept_])


def test_the_ridge_penalties_are_a_fine_grid():
    # random_state=2: the leave-one-out error chooses a penalty between the
    # grid's half decades (0.0237), which a coarser grid would miss (0.0316)
    X, y = make_band_spectra(n_samples=60, n_steps=40, random_state=2)
    Z = _standardised(X).reshape(60, 8, 5).mean(axis=2)
    alpha = fit_ridge(Z, (y - y.mean()) / y.std())[2]
    assert alpha in RIDGE_ALPHAS and alpha not in np.logspace(-3, 3, 13)


def test_one_fit_gives_every_number_of_components():
    X, y = make_band_spectra(60, 20, random_state=1)
    maps = fit_pls(X, y, [1, 3, 7])
    for k, (coef, intercept) in zip([1, 3, 7], maps):
        alone = PLSRegression(k, scale=False).fit(X, y)
        np.testing.assert_allclose(_predict(coef, intercept, X)[:, 0], alone.predict(X),
                                   rtol=1e-8, atol=1e-8)


def test_a_weight_of_two_is_the_row_twice():
    rng = np.random.RandomState(0)
    Z, y = rng.normal(size=(30, 6)), rng.normal(size=30)
    w = rng.randint(1, 4, size=30).astype(float)
    repeated = np.repeat(np.arange(30), w.astype(int))
    ((coef, intercept),) = fit_pls(Z, y, [3], w)
    ((coef_r, intercept_r),) = fit_pls(Z[repeated], y[repeated], [3])
    np.testing.assert_allclose(coef, coef_r)
    np.testing.assert_allclose(intercept, intercept_r)
    # equal weights are no weights; two outputs are two single ones
    for got, expected in zip(fit_pls(Z, y, [3], np.full(30, 2.0))[0], fit_pls(Z, y, [3])[0]):
        np.testing.assert_allclose(got, expected)
    ((two, _),) = fit_pls(Z, np.column_stack([y, -y]), [3], w)
    np.testing.assert_allclose(two, np.vstack([coef, -coef]), atol=1e-12)
    # the ridge takes the weights as RidgeCV does
    ridge = RidgeCV(alphas=RIDGE_ALPHAS).fit(Z, y, sample_weight=w)
    np.testing.assert_allclose(fit_ridge(Z, y, w)[0][0], ridge.coef_)
    # and the folds' errors are weighted: zero weights leave series out
    w[:10] = 0
    y_wild = y.copy()
    y_wild[:10] = 1e6
    wild = fit_linear_path(Z, y_wild, w)
    assert max(wild[2]["cv_mse"].values()) < 10


def test_several_outputs_and_few_series():
    rng = np.random.RandomState(0)
    Z = rng.normal(size=(40, 5))
    Y = Z @ rng.normal(size=(5, 2)) + 0.1 * rng.normal(size=(40, 2))
    coef, intercept, report = fit_linear_path(Z, Y)
    assert coef.shape == (2, 5) and intercept.shape == (2,)
    np.testing.assert_allclose(_predict(coef, intercept, Z), Y, atol=0.5)
    # components: fewer than a fold's series, at most the inputs' width
    assert set(report["cv_mse"]) == {"ridge", "pls 1", "pls 2", "pls 3", "pls 4", "pls 5"}
    four = fit_linear_path(Z[:4], Y[:4, 0])[2]  # two folds of two series
    assert set(four["cv_mse"]) == {"ridge", "pls 1"}
    three = fit_linear_path(Z[:3], Y[:3, 0])[2]  # too few to compare
    assert three["model"] == "ridge" and three["cv_mse"] == {}
    assert describe_linear_path(three).endswith("(too few series to compare)")


def test_the_regressor_reports_and_keeps_its_path(tmp_path, capsys):
    X, y = make_band_spectra(n_samples=80, n_steps=30, random_state=0)
    reg = SequenceRegressor(num_hidden=8, max_epochs=2, n_networks=1, random_state=0,
                            summary_points=30, per_sequence_features=False,
                            input_differences=0, verbose=1).fit(X, y)
    report = reg.summary_model_
    # overlapping bands: partial least squares' map is the one the network holds
    assert report["model"] == "pls" and len(report["cv_mse"]) > 2
    assert "summary path: " + describe_linear_path(report) in capsys.readouterr().out
    # the network's path is the chosen model on the standardised inputs
    # (30 steps, 30 points: the values themselves) and targets
    coef, intercept, again = fit_linear_path(
        _standardised(X), (y - y.mean()) / y.std(), random_state=reg._seed
    )
    # the same choice; the errors to float32's rounding of the inputs there
    assert {**again, "cv_mse": None} == {**report, "cv_mse": None}
    assert again["cv_mse"] == pytest.approx(report["cv_mse"], rel=1e-4)
    path = reg.net_.module_.summary
    np.testing.assert_allclose(path.weight.numpy(), coef, rtol=1e-3, atol=1e-4)
    np.testing.assert_allclose(path.bias.numpy(), intercept, atol=1e-4)
    save(reg, tmp_path / "reg.sklstm")
    loaded = load(tmp_path / "reg.sklstm")
    assert loaded.summary_model_ == report
    np.testing.assert_array_equal(loaded.predict(X), reg.predict(X))
    # without a path, no model
    plain = SequenceRegressor(num_hidden=8, max_epochs=1, n_networks=1, summary_points=0,
                              per_sequence_features=False).fit(X, y)
    assert plain.summary_model_ is None


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_bad_values_never_reach_the_path(bad):
    X, y = make_band_spectra(n_samples=20, n_steps=10, random_state=0)
    X[3, 4] = bad
    with pytest.raises(ValueError, match="NaN|inf"):
        SequenceRegressor(summary_points=10).fit(X, y)


def test_no_more_components_than_directions():
    # one step resampled at ten points: ten equal inputs, one direction;
    # identical series: none (the map is the targets' mean)
    rng = np.random.RandomState(0)
    z = rng.normal(size=(20, 1))
    y = 3 * z[:, 0] + 0.1 * rng.normal(size=20)
    Z = np.repeat(z, 10, axis=1)
    maps = fit_pls(Z, y, [1, 4, 10])
    for coef, intercept in maps:
        assert np.isfinite(coef).all()
        np.testing.assert_allclose(_predict(coef, intercept, Z), _predict(*maps[0], Z))
    coef, intercept, report = fit_linear_path(Z, y)
    assert np.isfinite(coef).all() and np.isfinite(list(report["cv_mse"].values())).all()
    constant = np.ones((20, 5))
    ((coef, intercept),) = fit_pls(constant, y, [3], np.full(20, 2.0))
    np.testing.assert_array_equal(coef, 0)
    np.testing.assert_allclose(intercept, [y.mean()])
