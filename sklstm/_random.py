"""The caller's global random state, kept as it was around sklstm's own draws."""

import torch


def preserved_rng_state():
    """Context manager that restores torch's global generators on exit.

    :func:`torch.manual_seed` seeds the CPU generator and every CUDA
    device's; ``torch.random.fork_rng(devices=[])`` would restore only the
    CPU one. This forks every CUDA device that torch sees as well (without
    initialising CUDA where it is absent).

    Examples
    --------
    >>> import torch
    >>> from sklstm._random import preserved_rng_state
    >>> before = torch.random.get_rng_state()
    >>> with preserved_rng_state():
    ...     _ = torch.manual_seed(0)
    >>> torch.equal(torch.random.get_rng_state(), before)
    True
    """
    cuda = torch.cuda.is_available()
    devices = list(range(torch.cuda.device_count())) if cuda else []
    return torch.random.fork_rng(devices=devices)
