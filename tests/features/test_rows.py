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
