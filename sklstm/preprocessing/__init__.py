"""Preprocessing for sequence estimators: word vocabularies."""

from ._vocabulary import Vocabulary

__all__ = ["Vocabulary"]
