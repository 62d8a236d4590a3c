"""Test doubles of the ``riskline.models.Model`` interface (until that package lands).

``LinearModel`` is a real, deterministic scorer (logistic over weighted features) that
serialises to bytes, so it goes through the real registry; ``SlowModel`` and
``FailingModel`` wrap it to inject latency and errors.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import orjson

Row = Mapping[str, float | int | None]


@dataclass(frozen=True, slots=True)
class FakeReason:
    """Same fields as ``riskline.models.Reason``."""

    code: str
    text: str
    value: float | int | None
    typical: float | None
    contribution: float


class LinearModel:
    """P(fraud) = sigmoid(bias + sum(weight * value)); missing values count as 0."""

    def __init__(
        self,
        version: str,
        weights: Mapping[str, float],
        bias: float = -4.0,
        feature_set_version: str = "fraud-test",
    ) -> None:
        self.version = version
        self.weights = dict(weights)
        self.bias = bias
        self.feature_names = tuple(self.weights)
        self.feature_set_version = feature_set_version

    def _terms(self, row: Row) -> dict[str, float]:
        return {n: w * float(row.get(n) or 0) for n, w in self.weights.items()}

    def score(self, rows: Sequence[Row]) -> list[float]:
        return [1.0 / (1.0 + math.exp(-(self.bias + sum(self._terms(r).values())))) for r in rows]

    def explain(self, rows: Sequence[Row], top: int = 3) -> list[list[FakeReason]]:
        out = []
        for row in rows:
            terms = sorted(self._terms(row).items(), key=lambda kv: -kv[1])[:top]
            out.append(
                [FakeReason(n, f"{n} is high", row.get(n), None, c) for n, c in terms if c > 0]
            )
        return out

    def to_bytes(self) -> bytes:
        return orjson.dumps({"version": self.version, "weights": self.weights, "bias": self.bias})

    @classmethod
    def from_bytes(cls, data: bytes) -> LinearModel:
        raw = orjson.loads(data)
        return cls(raw["version"], raw["weights"], raw["bias"])


class SlowModel(LinearModel):
    """A model that sleeps ``delay_s`` before scoring (a stuck or overloaded model)."""

    def __init__(self, inner: LinearModel, delay_s: float) -> None:
        super().__init__(inner.version, inner.weights, inner.bias)
        self.delay_s = delay_s
        self.calls = 0
        self._lock = threading.Lock()

    def score(self, rows: Sequence[Row]) -> list[float]:
        with self._lock:
            self.calls += 1
        time.sleep(self.delay_s)
        return super().score(rows)


class FailingModel(LinearModel):
    """A model whose scoring always raises (a corrupt artefact, a bug)."""

    def score(self, rows: Sequence[Row]) -> list[float]:
        raise RuntimeError("model exploded")


VELOCITY = {"count_5m_by_card": 0.9, "value_amount_minor": 0.00005, "count_1h_by_customer": 0.3}
"""Weights of the standard test model over real fraud feature names."""


class UnexplainableModel(LinearModel):
    """A model that scores but whose explanations always fail."""

    def explain(self, rows: Sequence[Row], top: int = 3) -> list[list[FakeReason]]:
        raise RuntimeError("explainer exploded")


class SlowExplainer(LinearModel):
    """A model that scores at once but takes ``delay_s`` to explain."""

    delay_s = 1.0

    def explain(self, rows: Sequence[Row], top: int = 3) -> list[list[FakeReason]]:
        time.sleep(self.delay_s)
        return super().explain(rows, top)
