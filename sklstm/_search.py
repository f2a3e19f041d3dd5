"""The inner search that resolves ``"auto"`` architecture parameters: a
grid search cross-validated on the training data, its fits side by side on
the CPU's cores, its results kept for the fitted estimator."""

import itertools

import numpy as np
from sklearn.base import clone, is_classifier
from sklearn.model_selection import KFold, ParameterGrid, StratifiedKFold

from ._auto import SEARCH_FOLDS
from ._compat import safe_indexing
from ._threads import map_in_threads


def search_folds(estimator, y, seed):
    """Shuffled folds for the search; stratified for a classifier whose
    classes all have enough members."""
    if is_classifier(estimator) and np.bincount(y).min() >= SEARCH_FOLDS:
        return StratifiedKFold(SEARCH_FOLDS, shuffle=True, random_state=seed)
    return KFold(SEARCH_FOLDS, shuffle=True, random_state=seed)


def inner_search(estimator, grid, X, y, *, cv, sample_weight=None, verbose=0,
                 n_workers=1):
    """Cross-validate ``estimator`` with each combination of ``grid``.

    What :class:`~sklearn.model_selection.GridSearchCV` with ``refit=False``
    computes (the same candidates, folds, scores and choice), with the fits
    shared out over ``n_workers`` threads, each on its share of torch's
    intra-op threads (:func:`~sklstm._threads.map_in_threads`): one small
    network a core keeps the cores busier than one network at a time on
    all of them, and scikit-learn's joblib threads would each run torch on
    all the cores. The results do not depend on ``n_workers``: each fit
    seeds its own network (under :func:`~sklstm._random.preserved_rng_state`).

    Parameters
    ----------
    estimator : estimator
        Fitted once per candidate and fold (a clone of it).
    grid : dict
        Parameter name -> candidate values, the simplest first.
    X, y : training data, as the estimator takes it
    cv : cross-validation splitter
    sample_weight : array-like or None
        The folds' shares of it weigh each fit and each score.
    verbose : int
        At 1 or more, print each candidate's score and the choice.
    n_workers : int, default=1
        Threads that fit at once.

    Returns
    -------
    results : dict
        ``params`` (the candidates), ``mean_test_score``,
        ``std_test_score`` and ``best_params`` (the best mean score; the
        first, simplest, of equal ones, as :class:`GridSearchCV` ranks).
    """
    candidates = list(ParameterGrid(grid))
    folds = list(cv.split(np.zeros(len(y)), y))

    def fit_and_score(task):
        params, (train, test) = task
        fit_weight = score_weight = {}
        if sample_weight is not None:
            fit_weight = {"sample_weight": safe_indexing(sample_weight, train)}
            score_weight = {"sample_weight": safe_indexing(sample_weight, test)}
        model = clone(estimator).set_params(**params)
        model.fit(safe_indexing(X, train), safe_indexing(y, train), **fit_weight)
        return model.score(safe_indexing(X, test), safe_indexing(y, test),
                           **score_weight)

    scores = map_in_threads(fit_and_score, itertools.product(candidates, folds), n_workers)
    scores = np.asarray(scores, dtype=float).reshape(len(candidates), len(folds))
    means = scores.mean(axis=1)
    results = {
        "params": candidates,
        "mean_test_score": means,
        "std_test_score": scores.std(axis=1),
        "best_params": candidates[int(np.argmax(means))],
    }
    if verbose:
        name = type(estimator).__name__
        print(f"[{name}] inner search, {cv.get_n_splits()} folds of the training data:")
        for candidate, mean, std in zip(
            results["params"], results["mean_test_score"], results["std_test_score"]
        ):
            print(f"  {_describe(candidate)}: score {mean:.4f} (+/- {std:.4f})")
        print(f"  chosen: {_describe(results['best_params'])}")
    return results


def _describe(params):
    return ", ".join(f"{k}={v!r}" for k, v in params.items())
