"""Prometheus metrics of one service instance (its own registry, so apps never share)."""

from __future__ import annotations

from collections import Counter as _Counter
from collections.abc import Iterable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

_BATCH_BUCKETS = (0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1.0, 2.5)
_BUCKETS = (0.0005, 0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.02, 0.05, 0.1, 0.25, 1.0)


class Metrics:
    """Decisions by action, fallbacks by reason, errors by kind, latency, shadow scores."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.decisions = Counter(
            "riskline_decisions",
            "Decisions answered, by action.",
            ["action"],
            registry=self.registry,
        )
        self.fallbacks = Counter(
            "riskline_fallbacks",
            "Decisions made by the fallback rules, by reason.",
            ["reason"],
            registry=self.registry,
        )
        self.errors = Counter(
            "riskline_errors",
            "Requests that failed or were refused, by kind.",
            ["kind"],
            registry=self.registry,
        )
        self.duplicates = Counter(
            "riskline_duplicates",
            "Requests answered with an already logged decision.",
            registry=self.registry,
        )
        self.latency = Histogram(
            "riskline_decision_seconds",
            "Server time to decide one attempt (seconds).",
            buckets=_BUCKETS,
            registry=self.registry,
        )
        self.batch_latency = Histogram(
            "riskline_batch_seconds",
            "Server time to decide one batch request (seconds).",
            buckets=_BATCH_BUCKETS,
            registry=self.registry,
        )
        self.model_loaded = Gauge(
            "riskline_model_loaded", "1 when a champion model is loaded.", registry=self.registry
        )
        self._actions = {a: self.decisions.labels(a) for a in ("approve", "review", "decline")}
        self._fallbacks = {
            r: self.fallbacks.labels(r)
            for r in ("timeout", "model_error", "low_confidence", "store_unavailable", "no_model")
        }

    def decided(
        self, outcomes: Iterable[tuple[str, str | None]], seconds: float, *, batch: bool
    ) -> None:
        """Count answered decisions, each an ``(action, fallback)``; observe ``seconds`` as
        one attempt's latency, or one batch's."""
        for (action, fallback), n in _Counter(outcomes).items():
            self._actions[action].inc(n)
            if fallback is not None:
                self._fallbacks[fallback].inc(n)
        (self.batch_latency if batch else self.latency).observe(seconds)

    def render(self) -> bytes:
        return generate_latest(self.registry)
