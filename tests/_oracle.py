"""Loading the reference outputs of the original CKN implementation (tests/data)."""

import json
from pathlib import Path

import numpy as np

DATA = Path(__file__).parent / "data"
CASES = ("a_1layer_exp", "b_2layer_exp", "c2_poly_3x3")


def load_case(name):
    """Arrays of one oracle case and its parsed metadata."""
    with np.load(DATA / f"{name}.npz") as data:
        arrays = {key: data[key] for key in data.files if key != "meta"}
        meta = json.loads(str(data["meta"]))
    return arrays, meta


def channels_last(a):
    """(n, C, *spatial) -> (n, *spatial, C)."""
    return np.moveaxis(a, 1, -1)


def max_relative_error(actual, expected):
    """max |actual - expected| / max |expected|: error relative to the map's scale."""
    actual = np.asarray(actual, dtype=np.float64)
    return float(np.max(np.abs(actual - expected)) / np.max(np.abs(expected)))
