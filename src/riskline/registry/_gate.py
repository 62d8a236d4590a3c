"""The promotion gate: absolute metric bounds plus "no worse than the current champion"."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from riskline.errors import ConfigError
from riskline.registry._values import ModelVersion


@dataclass(frozen=True, slots=True)
class PromotionGate:
    """Bounds a version must meet to become champion without an override.

    ``test_ece`` (expected calibration error, lower is better) must be at most ``max_ece``
    and ``test_pr_auc`` (higher is better) at least ``min_pr_auc``; neither may be worse than
    the current champion's.

    Examples:
        >>> PromotionGate().violations({"test_ece": 0.05, "test_pr_auc": 0.4}, None)
        ['test_ece=0.05 is above the bound max_ece=0.02']
    """

    max_ece: float = 0.02
    min_pr_auc: float = 0.0

    def __post_init__(self) -> None:
        for name, value in (("max_ece", self.max_ece), ("min_pr_auc", self.min_pr_auc)):
            if not (math.isfinite(value) and 0.0 <= value <= 1.0):
                raise ConfigError(f"PromotionGate.{name} must be in [0, 1], got {value!r}.")

    def violations(self, metrics: Mapping[str, float], champion: ModelVersion | None) -> list[str]:
        """Describe each bound ``metrics`` break (metric, value, bound); empty when it passes."""
        ece, pr_auc = metrics["test_ece"], metrics["test_pr_auc"]
        found: list[str] = []
        if ece > self.max_ece:
            found.append(f"test_ece={ece!r} is above the bound max_ece={self.max_ece!r}")
        if pr_auc < self.min_pr_auc:
            found.append(
                f"test_pr_auc={pr_auc!r} is below the bound min_pr_auc={self.min_pr_auc!r}"
            )
        if champion is not None:
            best_ece, best_pr_auc = champion.metrics["test_ece"], champion.metrics["test_pr_auc"]
            if pr_auc < best_pr_auc:
                found.append(
                    f"test_pr_auc={pr_auc!r} is below the champion {champion.version!r} "
                    f"bound test_pr_auc={best_pr_auc!r}"
                )
            if ece > best_ece:
                found.append(
                    f"test_ece={ece!r} is above the champion {champion.version!r} "
                    f"bound test_ece={best_ece!r}"
                )
        return found
