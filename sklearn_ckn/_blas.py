"""The host BLAS's thread count: read, and held at one thread while chunk
threads run.

OpenBLAS's thread count is one setting of the whole process. Each
:class:`~sklearn_ckn._chunks.ChunkRunner` wants it at 1 while its threads
run; several runners (concurrent ``transform`` calls from different threads)
share one hold: the first to start saves the limits and sets 1, the last to
finish restores what the first saved, whatever the order in between. Saving
and restoring in each runner would race: a second runner would save the
first's 1 and restore it after the first had restored the original, leaving
the process at one thread for good.
"""

import functools
import threading

from threadpoolctl import ThreadpoolController

__all__ = [
    "blas_threads",
    "hold_single_threaded",
    "release_single_threaded",
    "thread_count_independent",
]

#: threadpoolctl's handle on the process's BLAS libraries, built at first use:
#: building one scans every loaded library (about 2 ms, paid twice by each
#: transform before), whereas reading or limiting its threads later is cheap.
#: NumPy's BLAS, the one the chunk threads call, is loaded with NumPy.
_CONTROLLER = None

_LOCK = threading.Lock()
#: runners holding BLAS at one thread, the limits to restore after the last,
#: and the threads BLAS had before the first
_HOLD = {"count": 0, "limits": None, "threads": None}


def _controller():
    global _CONTROLLER
    if _CONTROLLER is None:
        _CONTROLLER = ThreadpoolController().select(user_api="blas")
    return _CONTROLLER


def _current_threads():
    return max((info["num_threads"] for info in _controller().info()), default=1)


def blas_threads():
    """Threads BLAS may use (the user's threadpoolctl limits included); while
    runners hold it at one, the threads it had before they did."""
    with _LOCK:
        if _HOLD["count"]:
            return _HOLD["threads"]
        return _current_threads()


def hold_single_threaded():
    """Set BLAS to one thread until the matching :func:`release_single_threaded`
    (:func:`blas_threads` still reads the threads it had before)."""
    with _LOCK:
        if _HOLD["count"] == 0:
            _HOLD["threads"] = _current_threads()
            _HOLD["limits"] = _controller().limit(limits=1)
        _HOLD["count"] += 1


def release_single_threaded():
    """End one hold; the last restores the limits saved by the first."""
    with _LOCK:
        _HOLD["count"] -= 1
        if _HOLD["count"] == 0:
            limits, _HOLD["limits"] = _HOLD["limits"], None
            limits.restore_original_limits()


def thread_count_independent(method):
    """Run ``method`` with BLAS held at one thread.

    OpenBLAS splits a product over its threads differently for each thread
    count, and for products with a long inner dimension (X^T G over the
    samples, the cluster sums of k-means) or in LAPACK's eigh the rounding
    then differs: one ulp in the filters grows to different weights after
    training. Held at one thread, every product is computed the same way
    whatever the threads; the parallel work is the chunk threads' of
    :class:`~sklearn_ckn._chunks.ChunkRunner`, as many as BLAS had, over
    chunks whose boundaries do not depend on the thread count.
    """

    @functools.wraps(method)
    def held(*args, **kwargs):
        hold_single_threaded()
        try:
            return method(*args, **kwargs)
        finally:
            release_single_threaded()

    return held
