"""Preprocessing for sequence estimators: scaling, layouts and word vocabularies."""

from ._layout import channels_last
from ._scaler import SequenceScaler
from ._vocabulary import Vocabulary

__all__ = ["SequenceScaler", "Vocabulary", "channels_last"]
