"""Every private name of another library that sklstm uses, in one place.

Each import or access says why there is no public alternative (or names
it), so that a new release of scikit-learn, skorch or torch that moves one
of them breaks here, in one file, and the upper bounds in ``pyproject.toml``
can say which releases were tested.
"""

from skorch.callbacks import EarlyStopping, LRScheduler
from torch.nn.modules.utils import consume_prefix_in_state_dict_if_present

# scikit-learn's parameter declarations and the validation that reads them.
# No public equivalent: scikit-learn keeps them private, and contrib
# packages (imbalanced-learn's utils/_sklearn_compat.py) import them as we do.
from sklearn.base import _fit_context as fit_context  # noqa: F401
from sklearn.utils._param_validation import (  # noqa: F401
    HasMethods,
    Interval,
    StrOptions,
    validate_params,
)

# Sample weights checked as every scikit-learn estimator checks them (shape,
# dtype, non-negative, a scalar broadcast). No public equivalent.
from sklearn.utils.validation import _check_sample_weight as check_sample_weight  # noqa: F401

# Rows of arrays, lists (ragged sequences) or frames taken by index, as
# scikit-learn's cross-validation takes its folds. No public equivalent.
from sklearn.utils import _safe_indexing as safe_indexing  # noqa: F401


def validate_estimator_params(estimator):
    """Check an estimator's parameters against ``_parameter_constraints``,
    as ``fit`` does (:func:`sklearn.base._fit_context`), for an estimator
    that a loaded file builds without fitting. Private:
    ``BaseEstimator._validate_params``."""
    estimator._validate_params()


def param_names(cls):
    """The parameters of an estimator class's ``__init__``, sorted. Private:
    ``BaseEstimator._get_param_names``; the public ``get_params`` needs an
    instance."""
    return cls._get_param_names()


def set_training(net, training):
    """Put every module and criterion of a skorch net in training (or
    evaluation) mode. Private: ``NeuralNet._set_training``, which skorch's
    own steps call; it knows the net's registered modules and criteria."""
    net._set_training(training)


def module_inputs(net, x, fit_params):
    """The keyword arguments that skorch's ``infer`` passes a module for a
    batch given as a dict, with the fit parameters. Private:
    ``NeuralNet._merge_x_and_fit_params``, which ``infer`` calls; sklstm runs
    one network of an ensemble at a time with the same inputs."""
    return net._merge_x_and_fit_params(x, fit_params)


def prepare_criteria_with_parameters(net, prepare):
    """Run skorch's ``AccelerateMixin._initialize_accelerator`` (``prepare``,
    the bound super method) with only the criteria that have parameters:
    ``DistributedDataParallel`` refuses modules without any. Private:
    ``NeuralNet._criteria``, the names of the net's criteria."""
    criteria = net._criteria
    net._criteria = [
        name for name in criteria if any(getattr(net, name + "_").parameters())
    ]
    try:
        return prepare()
    finally:
        net._criteria = criteria


def callback_state(cb):
    """The state of a skorch learning-rate schedule or early stopping that a
    checkpoint keeps, as ``(JSON-able dict, torch state dict or None,
    best weights or None)``; None for other callbacks or before training.
    skorch has no ``state_dict`` for callbacks: these are its fitted
    attributes (``lr_scheduler_``, ``batch_idx_``, ``misses_``,
    ``dynamic_threshold_``, ``best_epoch_``, ``best_model_weights_``)."""
    if isinstance(cb, LRScheduler) and hasattr(cb, "lr_scheduler_"):
        return {"batch_idx": cb.batch_idx_}, cb.lr_scheduler_.state_dict(), None
    if isinstance(cb, EarlyStopping) and hasattr(cb, "misses_"):
        state = {
            "misses": cb.misses_,
            "threshold": float(cb.dynamic_threshold_),
            "best_epoch": cb.best_epoch_,
        }
        return state, None, cb.best_model_weights_ or {}
    return None


def set_best_score(cb, scores):
    """Set a skorch scoring callback's best score so far (its fitted
    ``best_score_``, which marks the next epochs' ``*_best`` flags) from the
    scores already in the history."""
    if scores and cb.lower_is_better is not None:
        cb.best_score_ = (min if cb.lower_is_better else max)(scores)


def restore_callback_state(cb, state, scheduler_state, best_weights):
    """Put back what :func:`callback_state` returned into a new callback of
    the same kind, already initialised by the net."""
    if isinstance(cb, LRScheduler):
        cb.lr_scheduler_.load_state_dict(scheduler_state)
        cb.batch_idx_ = state["batch_idx"]
    elif isinstance(cb, EarlyStopping):
        cb.misses_ = state["misses"]
        cb.dynamic_threshold_ = state["threshold"]
        cb.best_epoch_ = state["best_epoch"]
        cb.best_model_weights_ = best_weights or None


def unwrap_best_weights(cb, prefix):
    """Strip ``prefix`` from the keys of the best weights that a skorch
    early stopping kept from a wrapped module (``DistributedDataParallel``
    names its module's parameters ``module.*``), so that they load into the
    unwrapped module that skorch's ``AccelerateMixin`` leaves after training
    (before the callback restores them). Private: ``best_model_weights_``."""
    if isinstance(cb, EarlyStopping) and getattr(cb, "best_model_weights_", None):
        consume_prefix_in_state_dict_if_present(cb.best_model_weights_, prefix)
