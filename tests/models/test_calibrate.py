"""Calibration choice: cross-fitted, isotonic only with enough positives."""

from __future__ import annotations

import functools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import log_loss

from riskline.errors import InvalidModelError
from riskline.models import CalibrationMethod, Calibrator, choose_calibrator, fit_calibrator


def _data(n: int, rate: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    margin = rng.normal(-4.0, 2.0, n)
    target = (rng.random(n) < 1 / (1 + np.exp(-(1.5 * margin + 1.0)))).astype(np.float64)
    return margin, target * (rng.random(n) < rate / max(target.mean(), 1e-9))


def test_few_positives_use_platt_only() -> None:
    margin, target = _data(5_000, 0.004)
    assert 0 < target.sum() < 200
    calibrator, losses = choose_calibrator(margin, target)
    assert calibrator.method == "platt"
    assert set(losses) == {"platt"}


def test_choice_is_the_lower_cross_fitted_log_loss() -> None:
    margin, target = _data(40_000, 0.05)
    calibrator, losses = choose_calibrator(margin, target)
    assert set(losses) == {"platt", "isotonic"}
    assert losses[calibrator.method] == min(losses.values())
    in_sample = log_loss(target, np.clip(calibrator.apply(margin), 1e-6, 1 - 1e-6))
    assert in_sample <= losses[calibrator.method] + 1e-3


def test_description_round_trip() -> None:
    margin, target = _data(40_000, 0.05)
    methods: tuple[CalibrationMethod, ...] = ("platt", "isotonic")
    for method in methods:
        c = fit_calibrator(margin, target, method)
        again = Calibrator.from_description(c.describe())
        assert np.array_equal(again.apply(margin), c.apply(margin))


def test_one_class_is_refused() -> None:
    with pytest.raises(InvalidModelError, match="calibration needs both classes"):
        choose_calibrator(np.zeros(10), np.zeros(10))


@functools.cache
def _fitted() -> tuple[Calibrator, Calibrator]:
    margin, target = _data(40_000, 0.05)
    return fit_calibrator(margin, target, "platt"), fit_calibrator(margin, target, "isotonic")


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.floats(-1e4, 1e4, allow_nan=False) | st.sampled_from([-800.0, 0.0, 800.0]),
        min_size=1,
        max_size=64,
    )
)
def test_one_margin_calibrates_exactly_as_in_an_array(margins: list[float]) -> None:
    """A single request (``apply_one``) gets the very probability a batch would give."""
    array = np.array(margins * 9)  # long enough for NumPy's vector loops and their tails
    for calibrator in _fitted():
        assert [calibrator.apply_one(m) for m in array.tolist()] == calibrator.apply(array).tolist()
