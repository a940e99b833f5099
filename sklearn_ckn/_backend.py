"""Array namespace and device selection: NumPy on the host, CuPy on a GPU.

The compute core is written against the array API standard; this module is
the only place that knows which library actually runs it and how arrays move
between the host and the device.
"""

import contextlib

import numpy as np
from array_api_compat import (
    array_namespace,
    is_array_api_obj,
    is_cupy_array,
    is_numpy_array,
)
from array_api_compat import device as array_device

__all__ = [
    "array_device",
    "array_namespace",
    "byte_strides",
    "compute_namespace",
    "cupy_available",
    "exp_in_place",
    "float_name",
    "gpu_context",
    "is_array_api_obj",
    "is_numpy_namespace",
    "max_float_dtype",
    "parse_device",
    "same_place",
    "strided_view",
    "to_namespace",
    "to_numpy",
]


def cupy_available():
    """Return True when CuPy imports and a CUDA device answers.

    ``import cupy`` succeeds on machines without a GPU, where any allocation
    then fails, so the device count is the real test.
    """
    try:
        import cupy
    except ImportError:
        return False
    try:
        return bool(cupy.is_available())
    except Exception:  # a broken CUDA install must read as "no GPU"
        return False


def _cupy_namespace():
    import cupy

    return array_namespace(cupy.empty(0))


def parse_device(device):
    """``device`` as (kind, GPU index): ``("auto" | "cpu" | "cuda", None)``,
    or ``("cuda", N)`` for ``"cuda:N"`` (CuPy's and PyTorch's spelling).

    Raises
    ------
    ValueError
        For any other value, naming the valid ones.
    """
    if device in ("auto", "cpu", "cuda"):
        return device, None
    kind, _, index = str(device).partition(":")
    if kind == "cuda" and index.isdecimal():
        return "cuda", int(index)
    raise ValueError(
        "The 'device' parameter must be 'auto', 'cpu', 'cuda' or 'cuda:N' with N "
        f"the index of a GPU (e.g. 'cuda:0'); got {device!r}."
    )


def gpu_context(device):
    """A context that makes GPU ``N`` CuPy's current device for
    ``device="cuda:N"`` (CuPy computes on the current device); a no-op for
    any other device, or without CuPy (compute_namespace then says why)."""
    kind, index = parse_device(device)
    if index is None or not cupy_available():
        return contextlib.nullcontext()
    import cupy

    n_gpus = cupy.cuda.runtime.getDeviceCount()
    if index >= n_gpus:
        raise ValueError(
            f"device={device!r} names GPU {index}, but CuPy sees {n_gpus} GPU(s), "
            f"numbered 0 to {n_gpus - 1}."
        )
    return cupy.cuda.Device(index)


def compute_namespace(X, device, *, follow_input):
    """Choose the namespace and device that run the computation.

    Parameters
    ----------
    X : array
        The validated input.
    device : {"auto", "cpu", "cuda"} or "cuda:N"
        The user's choice (see :class:`~sklearn_ckn.CKNFeatureExtractor`); a
        GPU index is entered by :func:`gpu_context`.
    follow_input : bool
        True when scikit-learn's ``array_api_dispatch`` is on: a non-NumPy
        input is then computed in its own namespace and on its own device,
        whatever ``device`` says, as scikit-learn does.

    Returns
    -------
    xp : module
        Array API compatible namespace.
    dev : object
        Device on which arrays are created.
    """
    if follow_input and not is_numpy_array(X):
        return array_namespace(X), array_device(X)
    if is_cupy_array(X):
        raise TypeError(
            "CuPy input needs scikit-learn's array API dispatch: wrap the call "
            "in sklearn.config_context(array_api_dispatch=True) (with "
            "SCIPY_ARRAY_API=1 set before SciPy is imported), or pass a NumPy "
            "array with device='cuda'."
        )
    kind, _ = parse_device(device)
    if kind == "cpu" or (kind == "auto" and not cupy_available()):
        return array_namespace(np.empty(0)), "cpu"
    if kind == "cuda" and not cupy_available():
        raise RuntimeError(
            f"device={device!r} requires CuPy and a CUDA GPU, and none is "
            "available (pip install 'sklearn-ckn[cuda]', or use device='cpu' or "
            "'auto')."
        )
    xp = _cupy_namespace()
    return xp, array_device(xp.empty(0))


def is_numpy_namespace(xp):
    """Return True when ``xp`` computes with NumPy."""
    return xp.__name__ in {"numpy", "array_api_compat.numpy"}


def float_name(dtype):
    """'float32' or 'float64': a float dtype's name in every namespace."""
    return "float32" if "float32" in str(dtype) else "float64"


def same_place(xp, dev, other_xp, other_dev):
    """Whether arrays of ``xp`` on ``dev`` and of ``other_xp`` on ``other_dev``
    live in one library on one device (NumPy's namespaces count as one)."""
    if is_numpy_namespace(xp) and is_numpy_namespace(other_xp):
        return True
    return xp.__name__ == other_xp.__name__ and str(dev) == str(other_dev)


def exp_in_place(x, xp):
    """exp(x), overwriting ``x`` where the library can (NumPy and CuPy ufuncs
    take ``out=``; the array API standard has no such argument)."""
    if is_numpy_namespace(xp) or xp.__name__.endswith("cupy"):
        return xp.exp(x, out=x)
    return xp.exp(x)


def _byte_extent(shape, strides):
    """Byte offsets (lowest, highest) of the first and last elements an array
    of ``shape`` and byte ``strides`` reaches, relative to its element 0."""
    low = sum((n - 1) * s for n, s in zip(shape, strides) if s < 0)
    high = sum((n - 1) * s for n, s in zip(shape, strides) if s > 0)
    return low, high


def strided_view(x, shape, strides, xp, start=None):
    """A read-only view of ``x`` with ``shape`` and byte ``strides`` that
    begins at index ``start`` of ``x`` (default: its first element), or None
    where the view would reach outside ``x``.

    Only for arrays whose :func:`byte_strides` are not None; the callers build
    ``strides`` from those exact byte strides, which keeps every element of
    the view at an element of ``x`` whatever the layout (negative, zero or
    unaligned strides included). The bounds are checked here: the view's
    lowest and highest elements must lie between ``x``'s own (both inside its
    buffer, which is contiguous memory), so a view that could read outside the
    buffer is never built and the caller copies instead. Never written to.
    """
    if any(n == 0 for n in shape):
        return None  # nothing to read: the callers' other path handles it
    start = tuple(start or (0,) * x.ndim)
    if x.size == 0 or any(not 0 <= i < n for i, n in zip(start, x.shape)):
        return None
    offset = sum(i * s for i, s in zip(start, x.strides))
    low, high = _byte_extent(shape, strides)
    x_low, x_high = _byte_extent(x.shape, x.strides)
    if offset + low < x_low or offset + high > x_high:
        return None
    if is_numpy_namespace(xp) and x.flags.c_contiguous:
        # the ndarray constructor costs a fifth of as_strided's Python, which
        # holds the GIL in every chunk of transform's threads
        return np.ndarray(shape, x.dtype, buffer=x, offset=offset, strides=strides)
    if any(start):
        x = x[tuple(slice(i, None) for i in start)]
    if is_numpy_namespace(xp):
        return np.lib.stride_tricks.as_strided(
            x, shape=shape, strides=strides, writeable=False
        )
    from cupy.lib.stride_tricks import as_strided

    return as_strided(x, shape=shape, strides=strides)


def byte_strides(x, xp):
    """Strides of ``x`` in bytes where :func:`strided_view` can read it (NumPy
    and CuPy); None elsewhere (the array API standard has no strided views).

    Bytes, exactly: a stride need not be a multiple of the item size (a
    field of a structured array), and one floored to whole items would
    address the wrong memory.
    """
    if not (is_numpy_namespace(xp) or xp.__name__.endswith("cupy")):
        return None
    return tuple(x.strides)


def max_float_dtype(xp, dev):
    """The most precise real floating dtype that ``xp`` offers on ``dev``."""
    if is_numpy_namespace(xp):
        return xp.float64
    try:
        dtypes = xp.__array_namespace_info__().dtypes(kind="real floating", device=dev)
    except AttributeError:  # namespaces predating the inspection API
        return xp.float64
    return xp.float64 if "float64" in dtypes else xp.float32


def to_namespace(x, xp, dev, dtype=None):
    """Return ``x`` as an array of ``xp`` on ``dev`` (no copy when it already is)."""
    if is_cupy_array(x) and is_numpy_namespace(xp):
        x = x.get()
    out = xp.asarray(x, device=dev)
    if dtype is not None and out.dtype != dtype:
        out = xp.astype(out, dtype)
    return out


def to_numpy(x):
    """Return a host NumPy copy (or view) of an array of any supported namespace."""
    if is_numpy_array(x):
        return x
    if is_cupy_array(x):
        return x.get()
    return np.from_dlpack(x)
