"""The inner search that resolves ``"auto"`` architecture parameters:
scikit-learn's :class:`~sklearn.model_selection.GridSearchCV` on the
training data, its results kept for the fitted estimator."""

import numpy as np
from sklearn.base import is_classifier
from sklearn.model_selection import GridSearchCV, KFold, StratifiedKFold

from ._auto import SEARCH_FOLDS


def search_folds(estimator, y, seed):
    """Shuffled folds for the search; stratified for a classifier whose
    classes all have enough members."""
    if is_classifier(estimator) and np.bincount(y).min() >= SEARCH_FOLDS:
        return StratifiedKFold(SEARCH_FOLDS, shuffle=True, random_state=seed)
    return KFold(SEARCH_FOLDS, shuffle=True, random_state=seed)


def inner_search(estimator, grid, X, y, *, cv, sample_weight=None, verbose=0):
    """Cross-validate ``estimator`` with each combination of ``grid``.

    Parameters
    ----------
    estimator : estimator
        Fitted once per candidate and fold (a clone of it).
    grid : dict
        Parameter name -> candidate values, the simplest first.
    X, y : training data, as the estimator takes it
    cv : cross-validation splitter
    sample_weight : array-like or None
        Passed to each fit.
    verbose : int
        At 1 or more, print each candidate's score and the choice.

    Returns
    -------
    results : dict
        ``params`` (the candidates), ``mean_test_score``,
        ``std_test_score`` and ``best_params`` (the best mean score; the
        first, simplest, of equal ones, as :class:`GridSearchCV` ranks).
    """
    search = GridSearchCV(estimator, grid, cv=cv, refit=False)
    params = {} if sample_weight is None else {"sample_weight": sample_weight}
    search.fit(X, y, **params)
    cv_results = search.cv_results_
    results = {
        "params": list(cv_results["params"]),
        "mean_test_score": np.asarray(cv_results["mean_test_score"]),
        "std_test_score": np.asarray(cv_results["std_test_score"]),
        "best_params": search.best_params_,
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
