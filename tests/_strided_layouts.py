"""Inputs in every memory layout NumPy allows, checked against contiguous copies.

Run as ``python -m tests._strided_layouts`` by tests/test_strided_inputs.py,
in a subprocess, so that a read outside an array's buffer shows as a crash
(a signal) instead of killing the test run. Prints one JSON line per layout
and check: the largest difference from the same computation on
``np.ascontiguousarray`` of the input (0.0 expected: same values, same path).
"""

import json
import sys
import warnings

import numpy as np
from array_api_compat import numpy as compat_numpy

from sklearn_ckn import CKNClassifier, CKNFeatureExtractor
from sklearn_ckn._ops.patches import extract_patches, patch_columns
from sklearn_ckn._ops.winograd import winograd_products

N = 12


def _structured(images, reverse=False):
    """``images`` as the field of a structured array: rows 2 bytes longer
    than the image (strides not a multiple of 4, data not aligned)."""
    record = np.dtype([("img", images.dtype, images.shape[1:]), ("tag", "u2")])
    s = np.zeros(len(images), dtype=record)
    s["img"] = images[::-1] if reverse else images
    return s["img"][::-1] if reverse else s["img"]


def _unaligned(images):
    """``images`` in a buffer that starts one byte off the item size."""
    raw = np.zeros(images.nbytes + 1, dtype=np.uint8)
    out = np.frombuffer(raw.data, dtype=images.dtype, offset=1, count=images.size)
    out = out.reshape(images.shape)
    out[...] = images
    return out


def _every_other(images):
    big = np.zeros((2 * len(images), *(2 * s for s in images.shape[1:])), images.dtype)
    big[::2, ::2, ::2, ::2] = images
    return big[::2, ::2, ::2, ::2]


def _channels_first_memory(images):
    return np.ascontiguousarray(np.moveaxis(images, -1, 1)).transpose(0, 2, 3, 1)


#: name -> function of a contiguous (n, H, W, C) array giving the same values
#: in another layout (broadcasts give other values: they repeat a slice)
LAYOUTS = {
    "structured field": _structured,
    "structured field, reversed": lambda x: _structured(x, reverse=True),
    "unaligned buffer": _unaligned,
    "negative strides": lambda x: np.ascontiguousarray(x[::-1, ::-1, ::-1, ::-1])[
        ::-1, ::-1, ::-1, ::-1
    ],
    "every other element": _every_other,
    "Fortran order": np.asfortranarray,
    "channels-first memory": _channels_first_memory,
    "broadcast samples": lambda x: np.broadcast_to(x[:1], x.shape),
    "broadcast channels": lambda x: np.broadcast_to(x[..., :1], x.shape),
    "broadcast rows": lambda x: np.broadcast_to(x[:, :1], x.shape),
}


def _diff(a, b):
    return float(np.max(np.abs(np.asarray(a, float) - np.asarray(b, float))))


def _ops(view):
    """The strided-view kernels on the map itself: patch rows, patch columns,
    Winograd tiles (16 channels or more)."""
    dense = np.ascontiguousarray(view)
    xp = compat_numpy
    out = {
        "extract_patches": _diff(
            extract_patches(view, (3, 2), xp), extract_patches(dense, (3, 2), xp)
        ),
        "patch_columns": _diff(
            patch_columns(view, (3, 3), xp), patch_columns(dense, (3, 3), xp)
        ),
    }
    c = view.shape[-1]
    z = np.random.default_rng(1).standard_normal((4, 9 * c)).astype(view.dtype)
    shape = (view.shape[1] - 2, view.shape[2] - 2)
    out["winograd_products"] = _diff(
        winograd_products(view, z, shape, xp), winograd_products(dense, z, shape, xp)
    )
    return out


def _estimators(view, base, images_2d):
    """fit, transform and decision_function on the view against the same on
    its contiguous copy; the models are fitted on ``base``, the contiguous
    images the view was made from (a broadcast view repeats one slice, too
    few distinct patches to learn from)."""
    dense = np.ascontiguousarray(view)
    out = {}
    if images_2d is not None:  # rows of pixels with image_shape, as the issue's
        rows, shape = images_2d
        est = CKNFeatureExtractor(
            n_filters=(4, 6), image_shape=shape, padding="valid", random_state=0
        ).fit(np.ascontiguousarray(rows))
        out["transform, 2-D rows"] = _diff(
            est.transform(rows), est.transform(np.ascontiguousarray(rows))
        )
    configs = {
        "valid 3x3": dict(n_filters=(4, 6), padding="valid"),
        "1x1 first layer": dict(n_filters=(3, 6), patch_size=(1, 3)),
        "same padding": dict(n_filters=(4, 6)),
    }
    for name, params in configs.items():
        reference = CKNFeatureExtractor(channel_axis=-1, random_state=0, **params)
        reference.fit(base)
        if view.shape == base.shape and np.array_equal(view, base):
            est = CKNFeatureExtractor(channel_axis=-1, random_state=0, **params)
            out[f"fit, {name}"] = max(
                _diff(a, b) for a, b in zip(est.fit(view).filters_, reference.filters_)
            )
        out[f"transform, {name}"] = _diff(
            reference.transform(view), reference.transform(dense)
        )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # two epochs on purpose
        clf = CKNClassifier(
            n_filters=(4, 6),
            padding="valid",
            channel_axis=-1,
            max_iter=2,
            random_state=0,
        ).fit(base, np.arange(len(base)) % 3)
    out["decision_function"] = _diff(
        clf.decision_function(view), clf.decision_function(dense)
    )
    return out


def main(names):
    rng = np.random.default_rng(0)
    color = rng.random((N, 8, 8, 3)).astype(np.float32)
    wide = rng.random((N, 6, 7, 16))
    for name in names:
        make = LAYOUTS[name]
        print(json.dumps({"layout": name, "started": True}), flush=True)
        results = {}
        for label, base in [("3 channels", color), ("16 channels", wide)]:
            try:
                results.update(
                    (f"{check}, {label}", d) for check, d in _ops(make(base)).items()
                )
            except Exception as error:
                results[f"error, {label}"] = repr(error)
        images_2d = None
        if name.startswith("structured"):
            gray = rng.random((60, 64)).astype(np.float32)  # as the issue
            images_2d = (_structured(gray, reverse="reversed" in name), (8, 8))
        try:  # an exception is reported, and the other layouts still run
            results.update(_estimators(make(color), color, images_2d))
        except Exception as error:
            results["error"] = repr(error)
        print(json.dumps({"layout": name, "results": results}), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:] or list(LAYOUTS))
