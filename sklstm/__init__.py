"""Recurrent networks (LSTM, GRU, RNN) as scikit-learn estimators."""

from ._classifier import SequenceClassifier

__version__ = "0.1.0.dev0"

__all__ = ["SequenceClassifier", "__version__"]
