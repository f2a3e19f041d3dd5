"""Numerical rules shared by the data checks (numpy) and the network (torch)."""

import numpy as np

# a feature is constant where its standard deviation is at most this many
# times its mean's magnitude: ten float32 roundings, relative, so that
# features of any scale (1e-30 as 1e30) keep their own standard deviation
CONSTANT_RTOL = 10 * float(np.finfo(np.float32).eps)


def is_constant(mean, std):
    """Where a feature of ``mean`` and ``std`` (numpy arrays or torch
    tensors alike) is constant up to float32 rounding.

    >>> import numpy as np
    >>> is_constant(np.array([1e30, 1.0, 1.0]), np.array([1e20, 1e-9, 0.5])).tolist()
    [True, True, False]
    """
    return std <= CONSTANT_RTOL * abs(mean)
