"""Datasets for sequence learning: generated tasks and loaders."""

from ._bit_counting import make_bit_counting
from ._ptb import get_data_home, load_ptb
from ._sequences import make_echo, make_parity, make_sine

__all__ = [
    "get_data_home",
    "load_ptb",
    "make_bit_counting",
    "make_echo",
    "make_parity",
    "make_sine",
]
