"""Datasets for sequence learning: generated tasks and loaders."""

from ._bit_counting import make_bit_counting
from ._ptb import get_data_home, load_ptb
from ._sequences import make_echo, make_parity, make_sine
from ._stress import (
    make_band_spectra,
    make_bump_position,
    make_few_shot,
    make_hidden_pattern,
    make_informative_channel,
    make_ragged_lengths,
    make_scatter_spectra,
)

__all__ = [
    "get_data_home",
    "load_ptb",
    "make_band_spectra",
    "make_bit_counting",
    "make_bump_position",
    "make_echo",
    "make_few_shot",
    "make_hidden_pattern",
    "make_informative_channel",
    "make_parity",
    "make_ragged_lengths",
    "make_scatter_spectra",
    "make_sine",
]
