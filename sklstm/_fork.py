"""Processes forked from one that may have run torch's OpenMP threads.

Accelerate's ``debug_launcher`` and ``notebook_launcher`` start their
processes with ``fork``. If the parent has run a parallel torch operation,
GNU OpenMP (which torch's CPU builds use) leaves the child a thread pool
whose threads did not survive the fork, and the child's first parallel
operation waits for them for ever. Torch's own data-loader workers avoid
this the same way: one intra-op thread in a forked child (a parallel
region with one thread runs inline, without the pool).
"""

import multiprocessing
import os
import sys

import torch


def _started_by_fork():
    """Whether multiprocessing forked this process (a child started by
    ``spawn`` or ``forkserver`` runs its parent's script as ``__mp_main__``)."""
    main = sys.modules.get("__main__")
    return (
        multiprocessing.parent_process() is not None
        and getattr(main, "__name__", "__main__") != "__mp_main__"
    )


# forked before sklstm was imported (the launchers' children import it in
# the training function), or after (the hook below)
_forked = _started_by_fork()


def _after_fork_in_child():
    global _forked
    _forked = True


os.register_at_fork(after_in_child=_after_fork_in_child)


def guard_forked_process():
    """In a forked process, use one torch thread.

    Returns whether it did. Called before training and prediction; a
    no-op elsewhere (and in processes started by ``spawn`` or ``torchrun``,
    which are fresh interpreters).
    """
    if _forked and torch.get_num_threads() > 1:
        torch.set_num_threads(1)
        return True
    return False
