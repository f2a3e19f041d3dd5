"""The inner search that resolves ``"auto"`` architecture parameters: a
grid search cross-validated on the training data, its fits side by side on
the CPU's cores, its results kept for the fitted estimator."""

import itertools

import numpy as np
from sklearn.base import clone, is_classifier
from sklearn.model_selection import KFold, ParameterGrid, StratifiedKFold

from ._auto import SEARCH_FOLDS
from ._compat import safe_indexing
from ._threads import map_in_threads, stop_requested, stoppable


def search_folds(estimator, y, seed):
    """Shuffled folds for the search; stratified for a classifier whose
    classes all have enough members."""
    if is_classifier(estimator) and np.bincount(y).min() >= SEARCH_FOLDS:
        return StratifiedKFold(SEARCH_FOLDS, shuffle=True, random_state=seed)
    return KFold(SEARCH_FOLDS, shuffle=True, random_state=seed)


def inner_search(estimator, grid, X, y, *, cv, sample_weight=None, verbose=0,
                 n_workers=1, noise_se=0.0, log_error=False, sequential=False):
    """Cross-validate ``estimator`` with each combination of ``grid``.

    What :class:`~sklearn.model_selection.GridSearchCV` with ``refit=False``
    computes (the same folds and scores; by default the same candidates and
    choice), with the fits
    shared out over ``n_workers`` threads, each on its share of torch's
    intra-op threads (:func:`~sklstm._threads.map_in_threads`): one small
    network a core keeps the cores busier than one network at a time on
    all of them, and scikit-learn's joblib threads would each run torch on
    all the cores. The results do not depend on ``n_workers``: each fit
    seeds its own network (under :func:`~sklstm._random.preserved_rng_state`).
    Ctrl+C stops the whole search (:func:`~sklstm._threads.stoppable`): its
    fits end at their next batch, and it raises ``KeyboardInterrupt``.

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
    noise_se : float, default=0.0
        Above 0, a candidate other than the first is chosen only where it
        beats the first beyond the folds' noise (:func:`best_beyond_noise`).
    log_error : bool, default=False
        Judge that noise on the log of each fold's unexplained share,
        ``log(1 - score)``, for R² scores (:func:`best_beyond_noise`).
    sequential : bool, default=False
        Choose one parameter after the other, in the grid's order, instead
        of trying every combination: the first values of all, and the other
        values of the first parameter; then, from the one chosen, the other
        values of the next parameter; and so on. ``1 + sum(len(v) - 1)``
        candidates instead of their product (:func:`n_candidates`).

    Returns
    -------
    results : dict
        ``params`` (the candidates), ``mean_test_score``,
        ``std_test_score``, ``split_test_scores`` (candidates by folds)
        and ``best_params``: the best mean score (the first, simplest, of
        equal ones, as :class:`GridSearchCV` ranks), among the first
        candidate and those that beat it beyond the folds' noise
        (:func:`best_beyond_noise`; with ``sequential``, at each step
        against the candidate chosen so far). With ``sequential``, the
        candidates tried, in order.
    """
    folds = list(cv.split(np.zeros(len(y)), y))

    def fit_and_score(task):
        if stop_requested():  # Ctrl+C: the fits not begun are dropped
            return np.nan
        params, (train, test) = task
        fit_weight = score_weight = {}
        if sample_weight is not None:
            fit_weight = {"sample_weight": safe_indexing(sample_weight, train)}
            score_weight = {"sample_weight": safe_indexing(sample_weight, test)}
        model = clone(estimator).set_params(**params)
        model.fit(safe_indexing(X, train), safe_indexing(y, train), **fit_weight)
        if stop_requested():  # the fit ended early: its score means nothing
            return np.nan
        return model.score(safe_indexing(X, test), safe_indexing(y, test),
                           **score_weight)

    def cross_validate(candidates):
        # Ctrl+C ends the running fits at their next batch and raises
        # KeyboardInterrupt here, instead of ending one fit (skorch's way)
        # and going on with the others
        with stoppable():
            scores = map_in_threads(
                fit_and_score, itertools.product(candidates, folds), n_workers
            )
        return np.asarray(scores, dtype=float).reshape(len(candidates), len(folds))

    if sequential:
        chosen = {name: values[0] for name, values in grid.items()}
        candidates, scores = [], np.zeros((0, len(folds)))
        for name, values in grid.items():
            step = [{**chosen, name: value} for value in values if value != chosen[name]]
            if not candidates:
                step.insert(0, dict(chosen))  # the first values of all
            candidates += step
            scores = np.vstack([scores, cross_validate(step)])
            # this step's candidates against the one chosen so far (first)
            others = [c for c in step if c != chosen]
            rows = [candidates.index(c) for c in [chosen, *others]]
            chosen = candidates[rows[best_beyond_noise(scores[rows], noise_se, log_error)]]
        best = chosen
    else:
        candidates = list(ParameterGrid(grid))
        scores = cross_validate(candidates)
        best = candidates[best_beyond_noise(scores, noise_se, log_error)]
    means = scores.mean(axis=1)
    results = {
        "params": candidates,
        "mean_test_score": means,
        "std_test_score": scores.std(axis=1),
        "split_test_scores": scores,
        "best_params": best,
    }
    if verbose:
        name = type(estimator).__name__
        print(f"[{name}] inner search, {cv.get_n_splits()} folds of the training data:")
        for candidate, mean, std in zip(
            results["params"], results["mean_test_score"], results["std_test_score"]
        ):
            print(f"  {_describe(candidate)}: score {mean:.4f} (+/- {std:.4f})")
        chosen = f"  chosen: {_describe(results['best_params'])}"
        if not sequential and results["best_params"] != candidates[int(np.argmax(means))]:
            chosen += (f" (the best mean does not beat it beyond {noise_se:g} standard "
                       "errors of the fold-by-fold differences)")
        print(chosen)
    return results


def n_candidates(grid, sequential=False):
    """Candidates that :func:`inner_search` tries for ``grid``.

    >>> grid = {"a": [0, 1], "b": [0, 1], "c": [0, 1, 2]}
    >>> n_candidates(grid), n_candidates(grid, sequential=True)
    (12, 5)
    """
    if not grid:
        return 0
    if sequential:
        return 1 + sum(len(values) - 1 for values in grid.values())
    return len(ParameterGrid(grid))


def best_beyond_noise(scores, noise_se, log_error=False):
    """Index of the candidate chosen from ``scores`` of shape
    ``(n_candidates, n_folds)`` (the same folds for each; higher is better):
    the best mean among the first candidate (the simplest) and those that
    beat it beyond the folds' noise, where the mean of the paired
    fold-by-fold differences is more than ``noise_se`` standard errors
    above zero. With ``noise_se=0``, the best mean, the first of equal ones
    (:class:`GridSearchCV`'s choice).

    With ``log_error``, for R² scores, the differences are those of
    ``-log(1 - score)``: the log of the ratio of the two candidates' mean
    squared errors on each fold (each fold's variance of the targets
    cancels). On R² itself, one fold where the first candidate fails (R²
    -0.16 against 0.71 and 0.78 on the others) spreads the differences so
    widely that a candidate better on every fold (R² 0.93, 0.92 and 0.95)
    did not count as beyond the noise; as ratios of errors it does.

    >>> scores = np.array([[0.80, 0.90, 0.70], [1.0, 0.85, 0.85], [0.88, 0.98, 0.78]])
    >>> best_beyond_noise(scores, noise_se=2), best_beyond_noise(scores, noise_se=0)
    (2, 1)
    >>> r2 = np.array([[-0.157, 0.710, 0.778], [0.929, 0.916, 0.952]])
    >>> best_beyond_noise(r2, noise_se=2), best_beyond_noise(r2, 2, log_error=True)
    (0, 1)
    """
    scores = np.asarray(scores, dtype=float)
    compared = -np.log(np.maximum(1.0 - scores, 1e-12)) if log_error else scores
    diffs = compared - compared[0]
    n_folds = scores.shape[1]
    se = diffs.std(axis=1, ddof=1) / np.sqrt(n_folds) if n_folds > 1 else 0 * diffs[:, 0]
    gain = diffs.mean(axis=1)
    eligible = (gain > noise_se * se) & (gain > 0)
    eligible[0] = True
    means = np.where(eligible, scores.mean(axis=1), -np.inf)
    return int(np.argmax(means))


def _describe(params):
    return ", ".join(f"{k}={v!r}" for k, v in params.items())
