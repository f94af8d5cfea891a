"""Job params in one canonical form: a config that means the same thing plans the same params."""

import numpy as np

from taskladder.base.params import canonical


def test_keys_are_sorted_at_every_depth():
    a = canonical({"b": 1, "a": {"d": [1, {"z": 0, "y": 1}], "c": 2}})
    assert list(a) == ["a", "b"] and list(a["a"]) == ["c", "d"] and list(a["a"]["d"][1]) == ["y", "z"]
    assert repr(a) == repr(canonical({"a": {"c": 2, "d": [1, {"y": 1, "z": 0}]}, "b": 1}))  # what Snakemake compares


def test_whole_floats_are_ints_and_numpy_numbers_plain():
    values = canonical({"window": 5.0, "delta": 1e-3, "n": np.int64(7), "big": 6.9e9, "flag": np.bool_(True),
                        "huge": 1e300, "nan": float("nan"), "draws": [np.float64(200.0), 0.5]})
    assert values["window"] == 5 and type(values["window"]) is int
    assert type(values["n"]) is int and type(values["big"]) is int and values["big"] == 6_900_000_000
    assert values["flag"] is True and values["delta"] == 1e-3
    assert type(values["huge"]) is float  # beyond exact integers: left a float
    assert values["nan"] != values["nan"] and values["draws"] == [200, 0.5] and type(values["draws"][0]) is int


def test_tuples_are_lists_and_keys_strings():
    assert canonical({1: (1, 2), "x": ("a", (3.0,))}) == {"1": [1, 2], "x": ["a", [3]]}
    assert canonical(True) is True and canonical("5.0") == "5.0"  # strings are left alone
