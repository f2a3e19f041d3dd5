"""The former name of :mod:`sklstm.nn`, kept so that code importing the
network's parts from here runs on."""

from .nn import *  # noqa: F401,F403
from .nn import __all__  # noqa: F401
