"""Prometheus metrics of one service instance (its own registry, so apps never share)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

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
        self.model_loaded = Gauge(
            "riskline_model_loaded", "1 when a champion model is loaded.", registry=self.registry
        )
        for action in ("approve", "review", "decline"):
            self.decisions.labels(action)
        for reason in ("timeout", "model_error", "low_confidence", "store_unavailable", "no_model"):
            self.fallbacks.labels(reason)

    def render(self) -> bytes:
        return generate_latest(self.registry)
