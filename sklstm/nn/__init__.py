"""The PyTorch modules behind the sklstm estimators, one small part per job.

They are public so that they can be reused in plain PyTorch or skorch code.
A :class:`RecurrentNetwork` reads as its parts: in training, random
windows of the sequences (:class:`RandomCrop`, when asked for); the input stage
(:class:`NumericInput` or :class:`TokenEmbedding`), the convolutional
front-end (:class:`ConvFrontEnd`), the recurrent layers
(:class:`RecurrentStack`), the readout (:class:`Readout`), the activation
penalties (:class:`ActivationPenalties`) and the head (:class:`LinearHead`
or :class:`TwoLevelSoftmaxHead`); :class:`NetworkEnsemble` trains several
side by side.
"""

from ._conv import ConvBlock, ConvFrontEnd, DilatedConvs
from ._ensemble import NetworkEnsemble
from ._heads import LinearHead, SummaryPath, TwoLevelSoftmaxHead
from ._input import (
    Differences,
    NumericInput,
    SequenceStandardize,
    Standardize,
    TokenEmbedding,
)
from ._network import NetworkOutputs, RecurrentNetwork
from ._readout import Pooling, Readout
from ._recurrent import RecurrentStack, low_precision_supported
from ._regularization import ActivationPenalties, RandomCrop, SequenceDropout

__all__ = [
    "ActivationPenalties",
    "ConvBlock",
    "ConvFrontEnd",
    "Differences",
    "DilatedConvs",
    "LinearHead",
    "NetworkEnsemble",
    "NetworkOutputs",
    "NumericInput",
    "Pooling",
    "Readout",
    "RandomCrop",
    "RecurrentNetwork",
    "RecurrentStack",
    "SequenceDropout",
    "SequenceStandardize",
    "Standardize",
    "SummaryPath",
    "TokenEmbedding",
    "TwoLevelSoftmaxHead",
    "low_precision_supported",
]
