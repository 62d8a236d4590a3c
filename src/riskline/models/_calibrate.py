"""Probability calibration of raw LightGBM margins: isotonic or Platt, chosen on validation.

The choice is made by cross-fitting on the validation rows (``folds`` contiguous time
blocks): each method is fitted on all blocks but one and scored on the held-out block, so a
method is never judged on the rows it was fitted on. The method with the lower out-of-fold
log-loss (probabilities clipped to ``[1e-6, 1 - 1e-6]``) wins, ties go to Platt (fewer
parameters); the winner is then refitted on the whole validation period.

Isotonic is only a candidate with at least ``MIN_ISOTONIC_POSITIVES`` positives: with fewer
it fits a handful of plateaus, and the ties it creates among the highest scores destroy the
ranking (on 1M generated payments with 12 known validation positives isotonic won the
log-loss by noise yet had 8 distinct output values, PR-AUC 0.90 against Platt's 0.985).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss

from riskline.errors import InvalidModelError

CalibrationMethod = Literal["isotonic", "platt"]
Method = CalibrationMethod
_CLIP = 1e-6
MIN_ISOTONIC_POSITIVES = 200


@dataclass(frozen=True, slots=True)
class Calibrator:
    """A monotone map from raw margin (log-odds) to probability.

    ``platt``: ``sigmoid(a * m + b)`` with ``params = (a, b)``. ``isotonic``: linear
    interpolation through ``(xs, ys)``, constant beyond the ends.
    """

    method: Method
    params: tuple[float, ...] = ()
    xs: tuple[float, ...] = ()
    ys: tuple[float, ...] = ()

    def apply(self, margin: np.ndarray) -> np.ndarray:
        """Calibrated probabilities for raw margins (float64 array of the same shape)."""
        if margin.shape == (1,):  # one request: the scalar path, bit for bit the same
            return np.array([self.apply_one(float(margin[0]))])
        if self.method == "platt":
            a, b = self.params
            z: np.ndarray = np.clip(a * margin + b, -500.0, 500.0)
            sig: np.ndarray = 1.0 / (1.0 + np.exp(-z))
            return sig
        out: np.ndarray = np.interp(margin, np.asarray(self.xs), np.asarray(self.ys))
        return out

    def apply_one(self, margin: float) -> float:
        """``apply`` of a single margin, bit for bit, without the array calls around it (one
        request: 5 us -> 1 us). The same float64 operations in the same order, and NumPy's own
        ``exp``/``interp`` for the one element (tests/models/test_calibrate.py)."""
        if self.method == "platt":
            a, b = self.params
            z = min(max(a * margin + b, -500.0), 500.0)
            return float(1.0 / (1.0 + np.exp(np.float64(-z))))
        return float(np.interp(margin, self.xs, self.ys))

    def describe(self) -> dict[str, object]:
        """JSON-able form (stored in the model artefact)."""
        return {"method": self.method, "params": self.params, "xs": self.xs, "ys": self.ys}

    @classmethod
    def from_description(cls, data: dict[str, object]) -> Calibrator:
        method = data.get("method")
        if method not in ("isotonic", "platt"):
            raise InvalidModelError(f"unknown calibration method {method!r} in model artefact.")
        params, xs, ys = (tuple(_floats(data.get(key))) for key in ("params", "xs", "ys"))
        return cls(method, params, xs, ys)


def _floats(value: object) -> list[float]:
    if not isinstance(value, list | tuple):
        raise InvalidModelError(f"calibrator values must be a list, got {value!r}.")
    return [float(v) for v in value]


def fit_calibrator(margin: np.ndarray, target: np.ndarray, method: Method) -> Calibrator:
    """Fit one calibration method on raw margins and 0/1 targets."""
    if method == "platt":
        lr = LogisticRegression(C=1e6, solver="lbfgs", max_iter=1000)
        lr.fit(margin.reshape(-1, 1), target)
        return Calibrator("platt", (float(lr.coef_[0, 0]), float(lr.intercept_[0])))
    iso = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip")
    iso.fit(margin, target)
    xs = tuple(float(x) for x in iso.X_thresholds_)
    ys = tuple(float(y) for y in iso.y_thresholds_)
    return Calibrator("isotonic", xs=xs, ys=ys)


def choose_calibrator(
    margin: np.ndarray, target: np.ndarray, folds: int = 5
) -> tuple[Calibrator, dict[str, float]]:
    """Pick isotonic or Platt by cross-fitted log-loss; return it and the candidates' losses.

    Raises InvalidModelError when the targets do not hold both classes.
    """
    if target.min(initial=1) == target.max(initial=0):
        raise InvalidModelError(
            "calibration needs both classes in the validation period, got only "
            f"{int(target[0]) if target.size else 'no'} labels; widen the validation period "
            "or move labels_at later."
        )
    blocks = np.array_split(np.arange(margin.size), folds)
    losses: dict[str, float] = {}
    methods: tuple[Method, ...] = ("platt", "isotonic")
    if target.sum() < MIN_ISOTONIC_POSITIVES:
        methods = ("platt",)
    for method in methods:
        oof = np.empty(margin.size)
        for held in blocks:
            rest = np.setdiff1d(np.arange(margin.size), held, assume_unique=True)
            if target[rest].min() == target[rest].max():
                oof[held] = target[rest].mean()
                continue
            oof[held] = fit_calibrator(margin[rest], target[rest], method).apply(margin[held])
        clipped = np.clip(oof, _CLIP, 1.0 - _CLIP)
        losses[method] = float(log_loss(target, clipped, labels=[0, 1]))
    best: Method = "platt"
    if "isotonic" in losses and losses["isotonic"] < losses["platt"]:
        best = "isotonic"
    return fit_calibrator(margin, target, best), losses
