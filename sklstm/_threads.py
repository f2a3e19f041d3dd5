"""Independent torch computations shared out over threads, each thread
running torch on its own share of the cores.

At the small shapes of sequence models on a few cores, one computation
spread over all cores keeps them poorly busy (an LSTM step of 64 sequences
of 24 units runs no faster on two threads than on one), while independent
computations (the networks of an ensemble) on one core each keep all of
them busy: torch releases Python's global lock while it computes, and a
thread's number of intra-op threads (``torch.set_num_threads``) is its own.
"""

import contextlib
import os
import signal
import threading
from concurrent.futures import ThreadPoolExecutor, wait

import torch

_pools = {}
_lock = threading.Lock()
# the stop request (a threading.Event) of the innermost stoppable() block
# that this thread works for: its own, or its caller's in map_in_threads
_local = threading.local()


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


def _set_threads(n_threads):
    """A worker thread's intra-op threads: torch's own set-up of the thread
    first (``get_num_threads``), then the share. With ``set_num_threads``
    alone, a pool made before a later ``set_num_threads`` in the main
    thread trained otherwise in the last bit than one made after it
    (measured: ``tests/test_batches.py``; torch's per-thread set-up reads
    the process's count, how exactly was not pinned down)."""
    torch.get_num_threads()
    torch.set_num_threads(n_threads)


def _pool(n_workers, threads_each):
    key = (n_workers, threads_each)
    with _lock:
        if key not in _pools:
            _pools[key] = ThreadPoolExecutor(
                n_workers, thread_name_prefix="sklstm",
                initializer=_set_threads, initargs=(threads_each,),
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
    stop = getattr(_local, "stop", None)

    def run(item):
        _local.stop = stop  # the caller's stop request (see stoppable)
        try:
            with torch.inference_mode(inference), torch.set_grad_enabled(grad):
                return fn(item)
        finally:
            _local.stop = None

    pool = _pool(n_workers, threads_each)
    futures = [pool.submit(run, item) for item in items]
    try:
        return [_result(future) for future in futures]
    except BaseException:
        # an error, or Ctrl-C in this thread: nothing of this call goes on
        # running (a network half-way through its step) once it returns
        for future in futures:
            future.cancel()
        wait(futures)
        raise


# how often a thread waiting for results wakes (see _result)
_WAKE_S = 0.05


def _result(future):
    """``future.result()``, waking every ``_WAKE_S`` seconds: Ctrl+C's
    signal can reach another thread than the main one (the kernel picks
    any), and the main thread runs Python's handler only once it wakes."""
    while True:
        try:
            return future.result(timeout=_WAKE_S)
        except TimeoutError:
            continue


@contextlib.contextmanager
def stoppable():
    """A block of work that Ctrl+C stops as a whole, raising
    ``KeyboardInterrupt`` at its end.

    Inside, in the main thread, SIGINT (Ctrl+C) no longer raises where the
    main thread happens to be: it requests a stop, which
    :func:`stop_requested` reports here and in the threads of
    :func:`map_in_threads` calls made from here. Work that checks it (the
    networks' training loop, before each batch) ends early, and the block
    raises ``KeyboardInterrupt`` once it is done. Work that runs whole fits
    in threads needs this: a ``KeyboardInterrupt`` reaches only the main
    thread, and skorch's loop takes one as the end of that fit alone.

    Elsewhere than in the main thread, or where SIGINT does not raise
    ``KeyboardInterrupt`` (a handler of the user's, or ignored), the block
    runs as it is and SIGINT is left alone.

    >>> with stoppable():
    ...     stop_requested()
    False
    """
    outer = getattr(_local, "stop", None)
    if outer is not None:
        # within another block (in this thread, or in a thread working for
        # one): part of it, and stopped with it
        yield
        if outer.is_set():
            raise KeyboardInterrupt
        return
    event = threading.Event()
    _local.stop = event
    takes_sigint = (
        threading.current_thread() is threading.main_thread()
        and signal.getsignal(signal.SIGINT) is signal.default_int_handler
    )
    if takes_sigint:
        signal.signal(signal.SIGINT, lambda signum, frame: event.set())
    try:
        yield
    finally:
        if takes_sigint:
            signal.signal(signal.SIGINT, signal.default_int_handler)
        _local.stop = None
    if event.is_set():
        raise KeyboardInterrupt


def stop_requested():
    """Whether Ctrl+C asked the :func:`stoppable` block that this thread
    works for to stop (False outside one)."""
    event = getattr(_local, "stop", None)
    return event is not None and event.is_set()
