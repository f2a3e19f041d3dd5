"""Recurrent networks (LSTM, GRU, RNN) as scikit-learn estimators."""

from ._classifier import SequenceClassifier
from ._language_model import SequenceLanguageModel
from ._onnx import to_onnx
from ._persistence import load, save
from ._regressor import SequenceRegressor
from ._tagger import SequenceTagger
from ._version import __version__

__all__ = [
    "SequenceClassifier",
    "SequenceLanguageModel",
    "SequenceRegressor",
    "SequenceTagger",
    "__version__",
    "load",
    "save",
    "to_onnx",
]
