"""Independent torch computations shared out over threads, each thread
running torch on its own share of the cores.

At the small shapes of sequence models on a few cores, one computation
spread over all cores keeps them poorly busy (an LSTM step of 64 sequences
of 24 units runs no faster on two threads than on one), while independent
computations (the networks of an ensemble) on one core each keep all of
them busy: torch releases Python's global lock while it computes, and a
thread's number of intra-op threads (``torch.set_num_threads``) is its own.
"""

import os
import threading
from concurrent.futures import ThreadPoolExecutor, wait

import torch

_pools = {}
_lock = threading.Lock()


def _forget_pools():
    # a forked child has none of the parent's threads: its pools would wait
    # for them for ever
    _pools.clear()


os.register_at_fork(after_in_child=_forget_pools)


def worker_count(n_tasks, device_type="cpu"):
    """How many threads run ``n_tasks`` independent computations: one per
    intra-op thread torch has here (``torch.get_num_threads()``, which the
    user can lower), at most one per task; one off the CPU, where the device
    runs the work and a single thread keeps it fed.

    >>> import torch
    >>> worker_count(5) == min(5, torch.get_num_threads())
    True
    >>> worker_count(5, "cuda")
    1
    """
    if device_type != "cpu":
        return 1
    return max(1, min(int(n_tasks), torch.get_num_threads()))


def _pool(n_workers, threads_each):
    key = (n_workers, threads_each)
    with _lock:
        if key not in _pools:
            _pools[key] = ThreadPoolExecutor(
                n_workers, thread_name_prefix="sklstm",
                initializer=torch.set_num_threads, initargs=(threads_each,),
            )
        return _pools[key]


def map_in_threads(fn, items, n_workers):
    """``[fn(item) for item in items]``, on ``n_workers`` threads.

    Each thread runs torch on ``torch.get_num_threads() // n_workers`` intra-op
    threads (at least one) and in the caller's gradient and inference modes
    (which are per thread in torch). Autocast, also per thread, is ``fn``'s
    to enter. The results keep the items' order; an exception in ``fn`` (or
    a ``KeyboardInterrupt`` here) is raised once no item is running any
    more, the items not started being dropped. With one worker or one item,
    ``fn`` runs here, in this thread.

    ``fn`` must not draw random numbers from torch's global generator:
    threads draw from it in no fixed order, and the results would not be
    reproducible.

    >>> map_in_threads(lambda x: 2 * x, [1, 2, 3], n_workers=2)
    [2, 4, 6]
    """
    items = list(items)
    if n_workers <= 1 or len(items) <= 1:
        return [fn(item) for item in items]
    threads_each = max(1, torch.get_num_threads() // n_workers)
    grad = torch.is_grad_enabled()
    inference = torch.is_inference_mode_enabled()

    def run(item):
        with torch.inference_mode(inference), torch.set_grad_enabled(grad):
            return fn(item)

    pool = _pool(n_workers, threads_each)
    futures = [pool.submit(run, item) for item in items]
    try:
        return [future.result() for future in futures]
    except BaseException:
        # an error, or Ctrl-C in this thread: nothing of this call goes on
        # running (a network half-way through its step) once it returns
        for future in futures:
            future.cancel()
        wait(futures)
        raise
