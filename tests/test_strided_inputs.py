"""Inputs of any memory layout read correctly, and never outside their buffer.

The patch and Winograd kernels read maps (the user's input among them, where
no padding copy comes first) through strided views built from the map's
strides. Each layout of tests/_strided_layouts.py (strides that are odd,
negative, zero or unaligned) runs in a subprocess, where a read outside the
buffer shows as a signal, and must give exactly what its contiguous copy
gives.
"""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from array_api_compat import numpy as compat_numpy

from sklearn_ckn._backend import byte_strides, strided_view
from sklearn_ckn._ops import patches as _patches
from sklearn_ckn._ops import winograd as _winograd
from sklearn_ckn._ops.patches import extract_patches, patch_columns
from sklearn_ckn._ops.winograd import winograd_products

from ._strided_layouts import LAYOUTS

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def layout_results():
    """Every layout's checks, from one subprocess; None for a layout it never
    reported (the process died while on it)."""
    result = subprocess.run(
        [sys.executable, "-W", "ignore", "-m", "tests._strided_layouts"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    reported, last = {}, None
    for line in result.stdout.splitlines():
        entry = json.loads(line)
        last = entry["layout"]
        if "results" in entry:
            reported[last] = entry["results"]
    return result, reported, last


@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_every_layout_gives_what_its_contiguous_copy_gives(layout_results, layout):
    result, reported, last = layout_results
    if layout not in reported:
        pytest.fail(
            f"the subprocess ended with code {result.returncode} (a negative code "
            f"is a signal: -11 a segmentation fault) while on layout {last!r}, "
            f"before {layout!r}: {result.stderr[-2000:]}"
        )
    checks = reported[layout]
    assert not [name for name in checks if name.startswith("error")], checks
    assert len(checks) >= 10
    assert {name: d for name, d in checks.items() if d != 0.0} == {}


def test_the_subprocess_ran_every_layout(layout_results):
    result, reported, _ = layout_results
    assert result.returncode == 0, result.stderr[-2000:]
    assert set(reported) == set(LAYOUTS)


def test_strides_are_exact_bytes():
    record = np.dtype([("img", "f4", (64,)), ("tag", "u2")])
    field = np.zeros(3, dtype=record)["img"]
    assert byte_strides(field, compat_numpy) == (258, 4)  # not a multiple of 4
    assert byte_strides(field[::-1], compat_numpy) == (-258, 4)
    assert byte_strides(np.broadcast_to(field[:1], (3, 64)), compat_numpy) == (0, 4)


@pytest.mark.parametrize(
    "make",
    [
        lambda b: b,
        lambda b: b[::-1, :, ::-1],
        lambda b: b[:, ::2],
        lambda b: np.broadcast_to(b[:1], b.shape),
    ],
    ids=["contiguous", "reversed", "every other row", "broadcast"],
)
def test_a_view_that_would_leave_the_array_is_refused(make):
    """strided_view builds a view whose extreme elements lie between the
    array's own, and returns None (the caller copies) for one reaching a
    single item beyond them, on either side."""
    x = make(np.arange(4 * 6 * 5, dtype=np.float32).reshape(4, 6, 5))
    np.testing.assert_array_equal(strided_view(x, x.shape, x.strides, compat_numpy), x)
    # byte offsets of the array's lowest and highest elements from element 0
    offsets = [(n - 1) * s for n, s in zip(x.shape, x.strides)]
    low = sum(o for o in offsets if o < 0)
    high = sum(o for o in offsets if o > 0)
    item = x.itemsize
    for end in (low, high):
        if end:  # element 0 and the extreme one: inside
            pair = strided_view(x, (2,), (end,), compat_numpy)
            assert pair is not None and pair[0] == x.flat[0]
    assert strided_view(x, (2,), (low - item,), compat_numpy) is None
    assert strided_view(x, (2,), (high + item,), compat_numpy) is None
    # a start inside the array, a view of the rest of its first column
    sh = x.strides[1]
    rest = strided_view(x, (x.shape[1] - 1,), (sh,), compat_numpy, start=(0, 1, 0))
    np.testing.assert_array_equal(rest, x[0, 1:, 0])
    # a start outside it
    assert strided_view(x, (1,), (sh,), compat_numpy, start=(0, x.shape[1], 0)) is None


def test_kernels_fall_back_to_copies_where_no_view_is_built(monkeypatch):
    """Where strided_view refuses, each caller computes the same values by
    stacking slices (the path of namespaces without strided views)."""
    rng = np.random.default_rng(0)
    h = rng.standard_normal((2, 6, 7, 16))
    z = rng.standard_normal((4, 9 * 16))
    xp = compat_numpy
    expected = (
        extract_patches(h, (3, 2), xp),
        patch_columns(h, (3, 3), xp),
        winograd_products(h, z, (4, 5), xp),
    )
    for module in (_patches, _winograd):
        monkeypatch.setattr(module, "strided_view", lambda *args, **kw: None)
    got = (
        extract_patches(h, (3, 2), xp),
        patch_columns(h, (3, 3), xp),
        winograd_products(h, z, (4, 5), xp),
    )
    for a, b in zip(got, expected):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)
