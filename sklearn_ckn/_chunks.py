"""Work split over chunks of samples fixed in advance, run in threads on the
host, and the products over rows that the head's fit makes that way.

The chunks' boundaries never depend on the number of threads, and results
come back (and are summed) in chunk order, with BLAS held at one thread: the
same numbers whatever the threads (docs/reliability.md, "Determinism").
"""

import threading
from concurrent.futures import ThreadPoolExecutor

from ._backend import is_numpy_namespace
from ._blas import blas_threads, hold_single_threaded, release_single_threaded

__all__ = ["HOST_CHUNK", "ChunkRunner", "rows_gram", "rows_times"]

#: images per task when NumPy runs the forward pass of a batch on the CPU
HOST_CHUNK = 16


class ChunkRunner:
    """Maps a function over chunks of a batch, in parallel on the host.

    On NumPy the batch is cut into chunks of ``chunk`` samples (default
    ``HOST_CHUNK``; :func:`sklearn_ckn._network.host_chunk` sizes them for a
    network), run by as many threads as BLAS had (the caller and helper
    threads), with BLAS single-threaded: small chunks keep each layer's
    intermediates in cache, and NumPy releases the GIL in BLAS and in its
    ufuncs, so the threads run in parallel (on two cores transform is about
    1.5 to 2 times as fast as with one call per batch and two BLAS threads,
    docs/benchmarks.md). Other
    namespaces (a GPU, the array API test namespace) get the whole batch in
    one call. Use as a context manager; results come back in chunk order, so
    sums over them do not depend on thread timing.
    """

    def __init__(self, xp, chunk=HOST_CHUNK):
        self.xp = xp
        self.chunk = chunk
        self.threaded = is_numpy_namespace(xp)
        self.n_threads = blas_threads() if self.threaded else 1

    def __enter__(self):
        # one process-wide hold, shared with concurrent runners (_blas)
        if self.threaded:
            hold_single_threaded()
        # the calling thread works too: n_threads - 1 helpers
        helpers = self.n_threads - 1
        self._pool = ThreadPoolExecutor(helpers) if helpers > 0 else None
        return self

    def __exit__(self, *exc):
        try:
            if self._pool is not None:
                self._pool.shutdown()
        finally:
            if self.threaded:
                release_single_threaded()

    def map(self, function, n_samples, first=0):
        """``[function(rows) for rows in chunks]``, ``rows`` a slice of the batch.

        ``first``: the batch's first sample's index in the whole data; on the
        host the chunks then end at that numbering's multiples of ``chunk``
        (the first chunk of a batch may be shorter), so that a sample falls
        in the same place of its chunk whatever the batch size
        (:func:`sklearn_ckn._network.forward_chunk`).
        """
        cuts = []
        if self.threaded:
            cuts = range(self.chunk - first % self.chunk, n_samples, self.chunk)
        bounds = [0, *cuts, n_samples]
        chunks = [slice(a, b) for a, b in zip(bounds, bounds[1:]) if a < b]
        if self._pool is None:
            return [function(rows) for rows in chunks]
        # every thread, the caller's included, takes the next chunk as it
        # finishes one: the caller computes instead of waking up for each
        # finished chunk (the lock keeps the hand-out exact without a GIL too)
        results = [None] * len(chunks)
        todo, lock = iter(range(len(chunks))), threading.Lock()

        def take():
            with lock:
                return next(todo, None)

        def work():
            try:
                while (index := take()) is not None:
                    results[index] = function(chunks[index])
            except BaseException:
                with lock:  # a chunk failed: no thread starts another
                    for _ in todo:
                        pass
                raise

        helpers = [self._pool.submit(work) for _ in range(self.n_threads - 1)]
        try:
            work()
        finally:
            for helper in helpers:  # wait for them, then raise what they raised
                helper.result()
        return results


def rows_times(runner, a, m, xp):
    """``a @ m``, computed ``runner.chunk`` rows of ``a`` at a time."""
    parts = runner.map(lambda rows: a[rows, ...] @ m, a.shape[0])
    return xp.concat(parts, axis=0) if len(parts) > 1 else parts[0]


def rows_gram(runner, a, b, xp):
    """``a^T @ b`` for ``a`` and ``b`` with the same rows: a sum over the
    samples, of the chunks' products in chunk order.

    The chunks are computed a round (one per thread) at a time and added to
    the total in order, so at most one product per thread is held beside the
    total (a 3,072 x 3,072 covariance is 75 MB a chunk); the order of the
    additions does not depend on the rounds, nor on the threads.
    """
    n = a.shape[0]
    if n == 0:
        return xp.matrix_transpose(a) @ b
    per_round = runner.chunk * runner.n_threads
    total = None
    for first in range(0, n, per_round):
        count = min(per_round, n - first)

        def product(rows, first=first):
            rows = slice(first + rows.start, first + rows.stop)
            return xp.matrix_transpose(a[rows, ...]) @ b[rows, ...]

        for part in runner.map(product, count):
            total = part if total is None else total + part
    return total
