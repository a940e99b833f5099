"""Spherical k-means: unit-norm centroids maximizing the summed cosine to their patches.

Written against the array API so that it runs where the patches live (NumPy or
CuPy); randomness comes from a host NumPy generator so that ``random_state``
gives the same centroids on every backend.
"""

from .._backend import array_device
from .._chunks import ChunkRunner, rows_gram, rows_times

__all__ = ["TooFewDistinctPatchesError", "spherical_kmeans"]

#: points per chunk of the products over the points: fixed, so that the
#: centroids do not depend on the number of threads
ROWS = 2048


class TooFewDistinctPatchesError(ValueError):
    """Fewer distinct points than requested clusters.

    Attributes
    ----------
    n_distinct : int
        Number of distinct points found before the seeding ran out.
    """

    def __init__(self, n_clusters, n_distinct):
        self.n_clusters = n_clusters
        self.n_distinct = n_distinct
        super().__init__(
            f"cannot make {n_clusters} clusters from {n_distinct} distinct points"
        )


def _duplicate_tolerance(dtype, xp):
    # two unit vectors closer than this (in 2 - 2 cos) are the same point up to rounding
    return 64 * float(xp.finfo(dtype).eps)


def _kmeans_plus_plus(x, n_clusters, rng, xp, runner):
    """k-means++ seeding on the sphere, with squared chord 2 - 2 cos as distance.

    Raises :class:`TooFewDistinctPatchesError` when every point already
    coincides with a chosen centre before ``n_clusters`` are chosen.
    """
    n = x.shape[0]
    tol = _duplicate_tolerance(x.dtype, xp)
    first = int(rng.integers(n))
    centers = [x[first, :]]
    dist = xp.clip(2.0 - 2.0 * rows_times(runner, x, centers[0], xp), 0.0, None)
    for j in range(1, n_clusters):
        dist = xp.where(dist > tol, dist, xp.zeros_like(dist))
        cumulative = xp.cumulative_sum(dist)
        total = float(cumulative[-1])
        if total <= 0.0:
            raise TooFewDistinctPatchesError(n_clusters, j)
        threshold = xp.asarray(
            rng.random() * total, dtype=x.dtype, device=array_device(x)
        )
        pick = min(int(xp.searchsorted(cumulative, threshold, side="right")), n - 1)
        # rounding can land the draw on a zero-weight point: step to the next valid one
        if float(dist[pick]) <= 0.0:
            pick = int(xp.argmax(dist))
        centers.append(x[pick, :])
        cosines = rows_times(runner, x, centers[-1], xp)
        dist = xp.minimum(dist, xp.clip(2.0 - 2.0 * cosines, 0.0, None))
    return xp.stack(centers, axis=0)


def _new_centroids(sums, counts, previous, xp):
    """The normalized cluster sums; a cluster whose members cancel out keeps
    its previous centroid.

    Every unit vector has the same summed cosine (zero) to members that sum
    to zero, so the previous centroid is as good as any, and it stays of
    unit norm where the normalized (near-)zero sum would be zero or noise.
    """
    norms = xp.sqrt(xp.sum(sums * sums, axis=1, keepdims=True))
    members = xp.reshape(xp.clip(counts, 1.0, None), (-1, 1))
    cancelled = norms <= _duplicate_tolerance(sums.dtype, xp) * members
    safe_norms = xp.where(cancelled, xp.ones_like(norms), norms)
    return xp.where(cancelled, previous, sums / safe_norms)


def spherical_kmeans(x, n_clusters, *, rng, xp, max_iter=100, tol=1e-5):
    """Cluster unit-norm rows of ``x`` by cosine similarity.

    Parameters
    ----------
    x : array of shape (n, d)
        Points, each of unit L2 norm.
    n_clusters : int
        Number of centroids.
    rng : numpy.random.Generator
        Source of randomness for the seeding.
    xp : module
        Array namespace of ``x``.
    max_iter : int, default=100
        Maximum number of Lloyd iterations.
    tol : float, default=1e-5
        Stop when the mean cosine improves by less than ``tol`` between
        iterations (it never decreases).

    Returns
    -------
    centroids : array of shape (n_clusters, d)
        Unit-norm centroids.
    n_iter : int
        Number of Lloyd iterations run.

    Raises
    ------
    TooFewDistinctPatchesError
        If ``x`` holds fewer than ``n_clusters`` distinct points.
    """
    with ChunkRunner(xp, ROWS) as runner:
        return _lloyd(x, n_clusters, rng, xp, runner, max_iter, tol)


def _lloyd(x, n_clusters, rng, xp, runner, max_iter, tol):
    """k-means++ seeding, then Lloyd iterations; the products over the points
    run in ``runner``'s chunks (the same centroids whatever the threads)."""
    centroids = _kmeans_plus_plus(x, n_clusters, rng, xp, runner)
    cluster_ids = xp.reshape(xp.arange(n_clusters, device=array_device(x)), (1, -1))
    previous = -float("inf")
    n_iter = 0
    while n_iter < max_iter:
        n_iter += 1
        similarity = rows_times(runner, x, xp.matrix_transpose(centroids), xp)
        labels = xp.argmax(similarity, axis=1)
        best = xp.max(similarity, axis=1)
        objective = float(xp.mean(best))
        # a one-hot product replaces the scatter-add the standard lacks
        onehot = xp.astype(xp.reshape(labels, (-1, 1)) == cluster_ids, x.dtype)
        sums = rows_gram(runner, onehot, x, xp)
        counts = xp.sum(onehot, axis=0)
        empty = []
        if (
            float(xp.min(counts)) == 0.0
        ):  # one host sync per iteration, not one per cluster
            empty = [j for j in range(n_clusters) if float(counts[j]) == 0.0]
        if empty:
            # reseed empty clusters with the points worst served by their centroid
            worst = xp.argsort(best)
            for rank, j in enumerate(empty):
                sums[j, :] = x[int(worst[rank]), :]
        centroids = _new_centroids(sums, counts, centroids, xp)
        if objective - previous < tol and not empty:
            break
        previous = objective
    return centroids, n_iter
