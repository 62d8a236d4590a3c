"""FeatureRows: a batch's features as mappings and as one matrix that agree; the API pin."""

from __future__ import annotations

import math

import numpy as np
import pytest

from riskline import features
from riskline.features import FeatureRows, FeatureVector


def _vectors() -> list[FeatureVector]:
    return [
        FeatureVector("a", {"n": 1, "x": None}, 10, True),
        FeatureVector("b", {"n": 2**40, "x": 0.5}, 11, False),
        FeatureVector("c", {"n": None, "x": -3.25}, 12, True),
    ]


def test_rows_and_matrix_hold_the_same_values() -> None:
    rows = FeatureRows.of(("n", "x"), _vectors())
    assert list(rows) == [v.values for v in _vectors()]
    assert rows[1] == {"n": 2**40, "x": 0.5}
    assert len(rows) == 3
    for i, row in enumerate(rows):
        for j, name in enumerate(rows.names):
            value = rows.matrix[i, j]
            assert math.isnan(value) if row[name] is None else value == row[name]
    assert rows.vectors == _vectors()  # admission kept


def test_columns_take_and_missing_names() -> None:
    rows = FeatureRows.of(("n", "x"), _vectors())
    assert rows.columns(("n", "x")) is rows.matrix
    assert np.array_equal(rows.columns(("x", "n")), rows.matrix[:, ::-1], equal_nan=True)  # type: ignore[arg-type]
    assert rows.columns(("x", "y")) is None
    assert rows.column("y") is None
    assert np.array_equal(rows.column("x"), [np.nan, 0.5, -3.25], equal_nan=True)  # type: ignore[arg-type]
    two = rows.take([2, 0])
    assert list(two) == [rows[2], rows[0]]
    assert [v.transaction_id for v in two.vectors] == ["c", "a"]
    assert np.array_equal(two.matrix, rows.matrix[[2, 0]], equal_nan=True)


def _from_objects() -> FeatureRows:
    built = FeatureRows.of(("n", "x"), _vectors())
    objects = np.array([[v.values["n"], v.values["x"]] for v in _vectors()], dtype=object)
    admitted = [(v.eff_us, v.counted) for v in _vectors()]
    return FeatureRows.from_objects(built.names, objects, built.matrix, ["a", "b", "c"], admitted)


def test_rows_from_a_value_matrix_are_the_same_rows() -> None:
    made, built = _from_objects(), FeatureRows.of(("n", "x"), _vectors())
    assert made[2] == built[2] == {"n": None, "x": -3.25}
    assert type(made[1]["n"]) is int  # the values as given, not the float64 matrix's
    assert list(made) == list(built)
    assert made.vectors == _vectors()
    assert made.by_name() == built.by_name() == {"n": [1, 2**40, None], "x": [None, 0.5, -3.25]}
    two = made.take([2, 0])
    assert list(two) == [built[2], built[0]]
    assert two.by_name() == {"n": [None, 1], "x": [-3.25, None]}
    with pytest.raises(ValueError, match=r"objects of shape \(2, 2\) for a matrix of \(3, 2\)"):
        FeatureRows.from_objects(("n", "x"), np.empty((2, 2), object), made.matrix, [], [])


def test_a_matrix_of_the_wrong_shape_is_refused() -> None:
    with pytest.raises(ValueError, match=r"matrix of shape \(2, 2\) for 3 rows"):
        FeatureRows(("n", "x"), [v.values for v in _vectors()], np.zeros((2, 2)), ["a"] * 3, [])


def test_features_public_api() -> None:
    assert features.__all__ == [
        "ACCOUNT",
        "CARD",
        "CUSTOMER",
        "CUSTOMER_DEVICE",
        "DEVICE",
        "MERCHANT",
        "TERMINAL",
        "CheckReport",
        "EmbeddedStore",
        "Entity",
        "Feature",
        "FeatureRows",
        "FeatureSet",
        "FeatureVector",
        "Filter",
        "MemoryStore",
        "OnlineEngine",
        "RedisStore",
        "StateStore",
        "backfill",
        "check",
        "compute_offline",
        "duration_label",
        "matrix_of",
        "replay",
    ]
