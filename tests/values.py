"""Typed access to Polars scalars in tests (Polars returns a wide union)."""

from __future__ import annotations

from datetime import timedelta


def num(value: object) -> float:
    """A numeric scalar as float; fails the test on null or a non-number."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise AssertionError(f"expected a number, got {value!r}")
    return float(value)


def span(value: object) -> timedelta:
    """A duration scalar; fails the test on anything else."""
    if not isinstance(value, timedelta):
        raise AssertionError(f"expected a timedelta, got {value!r}")
    return value
