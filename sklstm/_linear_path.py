"""The regressor's summary path in closed form: a linear model of the
targets on the resampled series, a ridge regression or partial least
squares, whichever a K-fold cross-validation of the training data prefers.

Partial least squares is chemometrics' regression on spectra: it reads the
directions of the inputs that covary with the target, where the ridge
shrinks every direction by its variance alone. Where a target depends on
bands that overlap others, the ridge shrinks what tells them apart
(``make_band_spectra(300, 100, random_state=0)``: test RMSE 1.506 for the
ridge, 1.402 for partial least squares with the number of components
chosen by 5-fold CV, 1.278 for the least squares on the true bands; a
scratch script, 2026-12-04); where the inputs are a nonlinear function of
the target, partial least squares can do worse (``make_scatter_spectra``,
unscaled: 3.72 against 3.14), so the folds choose.
"""

import math
import warnings

import numpy as np
from sklearn.cross_decomposition import PLSRegression
from sklearn.linear_model import Ridge, RidgeCV
from sklearn.model_selection import KFold

# the ridge's penalties, among which RidgeCV's leave-one-out error chooses
# (one eigendecomposition serves them all, so a fine grid costs nothing): a
# quarter of a decade apart. Half a decade (13, until 2026-12-03) left the
# choice to the grid's spacing: band-spectra's path alone erred 1.530 on its
# test split, RidgeCV on the raw values 1.494 or 1.507 with 13 or 49
# penalties; 3-fold CV of the defaults on the training splits
# (bench_selection.py --cv 3): band-spectra 1.433 -> 1.416, scatter-spectra
# 0.620 -> 0.615, the other three regression sets equal
RIDGE_ALPHAS = np.logspace(-3, 3, 49)

# the numbers of partial-least-squares components tried: those that fit
# (fewer than a fold's training series, at most the inputs' width)
PLS_COMPONENTS = (1, 2, 3, 4, 5, 6, 8, 10, 12, 15, 20, 25, 30)

# folds of the comparison of the ridge with each number of components
PATH_FOLDS = 5


def fit_ridge(Z, y, sample_weight=None):
    """``(coef, intercept, alpha)``: :class:`~sklearn.linear_model.RidgeCV`
    over ``RIDGE_ALPHAS`` (its leave-one-out error chooses), coefficients of
    shape ``(n_outputs, n_inputs)``."""
    ridge = RidgeCV(alphas=RIDGE_ALPHAS).fit(Z, y, sample_weight=sample_weight)
    coef, intercept = np.atleast_2d(ridge.coef_), np.atleast_1d(ridge.intercept_)
    return coef, intercept, float(ridge.alpha_)


def fit_pls(Z, y, n_components, sample_weight=None):
    """``[(coef, intercept), ...]``: partial least squares with each number
    of components in ``n_components``, as affine maps of ``Z``.

    One :class:`~sklearn.cross_decomposition.PLSRegression` of the most
    components serves them all: its components come one after the other,
    so the first ``k`` are those of a fit of ``k``, and each map is
    computed from them as scikit-learn computes ``coef_`` (weights times
    the inverse of the loadings' products with them, times the targets'
    loadings). It takes no weights: rows centred by the weighted means and
    scaled by the square roots of their weights have the weighted
    covariances (a weight of 2 is the row twice), and each row beside its
    negative keeps them centred where partial least squares centres its
    input again (their mean is zero; doubled covariances give the same
    maps)."""
    w = sample_weight
    z_mean = np.average(Z, axis=0, weights=w)
    y_mean = np.average(y, axis=0, weights=w)
    Z_c, y_c = Z - z_mean, y - y_mean
    if w is not None:
        root = np.sqrt(w)
        Z_c = Z_c * root[:, None]
        y_c = y_c * root.reshape(-1, *[1] * (y.ndim - 1))
        Z_c, y_c = np.concatenate([Z_c, -Z_c]), np.concatenate([y_c, -y_c])
    # no more components than the inputs have directions (identical
    # series, a step resampled at many points): beyond, the scores are 0
    most = min(max(n_components), np.linalg.matrix_rank(Z_c))
    maps = []
    if most:
        with warnings.catch_warnings():
            # the first components fit the targets exactly (a count of bits
            # is their sum): the later ones are zero, as they should be
            warnings.filterwarnings("ignore", "y residual is constant", UserWarning)
            pls = PLSRegression(most, scale=False).fit(Z_c, y_c)
        W, P, Q = pls.x_weights_, pls.x_loadings_, pls.y_loadings_
    for k in n_components:
        k = min(k, most)
        coef = np.zeros((1 if y.ndim == 1 else y.shape[1], Z.shape[1]))
        if k:
            rotations = W[:, :k] @ np.linalg.pinv(P[:, :k].T @ W[:, :k])
            coef = (rotations @ Q[:, :k].T).T
        maps.append((coef, np.atleast_1d(y_mean - coef @ z_mean)))
    return maps


def fit_linear_path(Z, y, sample_weight=None, random_state=0):
    """The path's linear map and how it was chosen.

    The ridge (its penalty chosen by its leave-one-out error on all the
    series, then fixed in the folds) and partial least squares with each
    number of components in ``PLS_COMPONENTS`` (fewer than a fold's series,
    at most the inputs' width) are compared by the (weighted) mean squared
    error of a shuffled ``PATH_FOLDS``-fold cross-validation; the best, the
    ridge on a tie, is refitted on all the series.

    Parameters
    ----------
    Z : array-like of shape (n_samples, n_inputs)
    y : array-like of shape (n_samples,) or (n_samples, n_outputs)
    sample_weight : array-like of shape (n_samples,), default=None
    random_state : int, default=0
        Seeds the folds.

    Returns
    -------
    coef : ndarray of shape (n_outputs, n_inputs)
    intercept : ndarray of shape (n_outputs,)
    report : dict
        ``"model"`` (``"ridge"`` or ``"pls"``), ``"n_components"`` (None
        for the ridge), ``"alpha"`` (the ridge's penalty; None for partial
        least squares) and ``"cv_mse"``, each candidate's cross-validated
        mean squared error by name (``"ridge"``, ``"pls 1"``, ...; empty
        where fewer than two series a fold leave no choice).

    Examples
    --------
    >>> from sklstm._linear_path import fit_linear_path
    >>> from sklstm.datasets import make_band_spectra
    >>> X, y = make_band_spectra(n_samples=100, n_steps=30, random_state=0)
    >>> coef, intercept, report = fit_linear_path(X, y)
    >>> coef.shape, intercept.shape, report["model"] in ("ridge", "pls")
    ((1, 30), (1,), True)
    """
    Z = np.asarray(Z, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    w = None if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    coef, intercept, alpha = fit_ridge(Z, y, w)
    report = {"model": "ridge", "n_components": None, "alpha": alpha, "cv_mse": {}}
    n_splits = min(PATH_FOLDS, len(Z) // 2)
    if n_splits < 2:
        return coef, intercept, report
    smallest_fold = len(Z) - math.ceil(len(Z) / n_splits)  # training series
    ks = [k for k in PLS_COMPONENTS if k < smallest_fold and k <= Z.shape[1]]
    names = ["ridge"] + [f"pls {k}" for k in ks]
    weights = np.ones(len(Z)) if w is None else w
    errors = np.zeros(len(names))
    folds = KFold(n_splits, shuffle=True, random_state=random_state)
    for train, test in folds.split(Z):
        w_train = None if w is None else w[train]
        ridge = Ridge(alpha=alpha).fit(Z[train], y[train], sample_weight=w_train)
        maps = [(np.atleast_2d(ridge.coef_), np.atleast_1d(ridge.intercept_))]
        maps += fit_pls(Z[train], y[train], ks, w_train) if ks else []
        for i, (c, b) in enumerate(maps):
            residual = (Z[test] @ c.T + b).reshape(y[test].shape) - y[test]
            errors[i] += weights[test] @ (residual.reshape(len(test), -1) ** 2).mean(1)
    errors /= weights.sum()
    report["cv_mse"] = dict(zip(names, errors.tolist()))
    best = int(np.argmin(errors))  # the first of equals: the ridge
    if best:
        ((coef, intercept),) = fit_pls(Z, y, [ks[best - 1]], w)
        report.update(model="pls", n_components=ks[best - 1], alpha=None)
    return coef, intercept, report


def describe_linear_path(report):
    """The path's model and its folds' errors in one line, as a verbose fit
    prints it.

    >>> errors = {"ridge": 0.25, "pls 4": 0.3, "pls 8": 0.2}
    >>> print(describe_linear_path(
    ...     {"model": "pls", "n_components": 8, "alpha": None, "cv_mse": errors}))
    partial least squares, 8 components; cross-validated mean squared error: ridge
    0.25, best partial least squares (8) 0.2
    """
    if report["model"] == "ridge":
        text = f"ridge regression, penalty {report['alpha']:.3g}"
    else:
        text = f"partial least squares, {report['n_components']} components"
    scores = dict(report["cv_mse"])
    if not scores:
        return text + " (too few series to compare)"
    text += f"; cross-validated mean squared error: ridge {scores.pop('ridge'):.3g}"
    if scores:
        name = min(scores, key=scores.get)
        text += f", best partial least squares ({name.split()[1]}) {scores[name]:.3g}"
    return text
