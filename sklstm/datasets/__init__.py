"""Datasets for sequence learning: generated tasks and loaders."""

from ._bit_counting import make_bit_counting

__all__ = ["make_bit_counting"]
