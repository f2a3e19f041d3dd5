"""The caller's global random state, kept as it was around sklstm's own draws."""

import contextlib
import threading

import torch

# one thread at a time seeds torch's global generators and draws from them
_GLOBAL_GENERATORS = threading.RLock()


@contextlib.contextmanager
def preserved_rng_state():
    """Context manager that restores torch's global generators on exit.

    While it lasts it also holds a process-wide lock, so that fits running
    in parallel threads (the inner search's) seed and draw from the global
    generators one at a time: each gets the numbers its own seed gives, and
    the caller gets its state back.

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
    with _GLOBAL_GENERATORS, torch.random.fork_rng(devices=devices):
        yield
