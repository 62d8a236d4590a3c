"""Cost-based decisions: a business cost matrix and approve / review / decline bands.

All costs are in minor units of the settlement currency (floats: a margin share of an amount
is rarely whole). For a transaction of amount ``a`` whose positive-class probability is
``p``, the expected cost of each action is:

* approve: ``p * (a + chargeback_fee)`` (a missed fraud loses the amount and the fee);
* decline: ``(1 - p) * (margin_share * a + friction)`` (a false decline loses the margin and
  annoys the customer);
* review: ``review`` (an analyst's time; the analyst is assumed to catch fraud and release
  genuine payments).

Realised cost on labelled data replaces ``p`` by the 0/1 label.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from riskline.errors import ConfigError

Action = Literal["approve", "review", "decline"]
ACTIONS: tuple[Action, ...] = ("approve", "review", "decline")


@dataclass(frozen=True, slots=True)
class CostMatrix:
    """What each kind of mistake costs, in minor units (``margin_share`` is a fraction)."""

    chargeback_fee_minor: int
    margin_share: float
    friction_minor: int
    review_minor: int

    def __post_init__(self) -> None:
        for name in ("chargeback_fee_minor", "friction_minor", "review_minor"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ConfigError(f"{name} must be an int >= 0 (minor units), got {value!r}.")
        if not 0.0 <= self.margin_share <= 1.0:
            raise ConfigError(f"margin_share must lie in [0, 1], got {self.margin_share!r}.")

    def action_costs(self, p: np.ndarray, amount_minor: np.ndarray) -> np.ndarray:
        """Cost of (approve, review, decline) per row: shape ``(n, 3)``. ``p`` may be 0/1."""
        a = amount_minor.astype(np.float64)
        approve = p * (a + self.chargeback_fee_minor)
        review = np.full_like(a, float(self.review_minor))
        decline = (1.0 - p) * (self.margin_share * a + self.friction_minor)
        return np.column_stack([approve, review, decline])


@dataclass(frozen=True, slots=True)
class Bands:
    """Approve below ``review_at``, review in ``[review_at, decline_at)``, decline above.

    ``review_at == decline_at`` means no review band.
    """

    review_at: float
    decline_at: float

    def __post_init__(self) -> None:
        if not 0.0 <= self.review_at <= self.decline_at <= 1.0 + 1e-12:
            raise ConfigError(
                "bands need 0 <= review_at <= decline_at <= 1, got "
                f"review_at={self.review_at!r}, decline_at={self.decline_at!r}."
            )

    def actions(self, scores: np.ndarray) -> np.ndarray:
        """Action index per score: 0 approve, 1 review, 2 decline (see ``ACTIONS``)."""
        out: np.ndarray = (scores >= self.review_at).astype(np.int8) + (
            scores >= self.decline_at
        ).astype(np.int8)
        # With no review band a score at the threshold declines (index 2), never reviews.
        return out

    def policy(self) -> dict[str, float]:
        """The registry decision policy."""
        return {"review_at": self.review_at, "decline_at": self.decline_at}


@dataclass(frozen=True, slots=True)
class BandConstraints:
    """Optional limits on the chosen bands: share of declines, reviews per day."""

    max_decline_rate: float | None = None
    review_capacity_per_day: float | None = None

    def __post_init__(self) -> None:
        if self.max_decline_rate is not None and not 0.0 <= self.max_decline_rate <= 1.0:
            raise ConfigError(
                f"max_decline_rate must lie in [0, 1], got {self.max_decline_rate!r}."
            )
        if self.review_capacity_per_day is not None and self.review_capacity_per_day < 0:
            raise ConfigError(
                f"review_capacity_per_day must be >= 0, got {self.review_capacity_per_day!r}."
            )


def total_cost(costs: np.ndarray, actions: np.ndarray) -> float:
    """Sum of the cost of the chosen action per row (``costs`` from ``action_costs``)."""
    return float(costs[np.arange(actions.size), actions].sum())


def choose_bands(
    scores: np.ndarray,
    amount_minor: np.ndarray,
    costs: CostMatrix,
    days: float,
    constraints: BandConstraints = BandConstraints(),
    grid: int = 400,
) -> Bands:
    """Bands minimising expected cost (using ``scores`` as calibrated probabilities).

    Candidate thresholds are the distinct score quantiles (at most ``grid``) plus 0 and 1;
    every pair ``review_at <= decline_at`` is evaluated exactly with cumulative sums.
    ``days`` is the length of the period the scores cover (for the review capacity).
    Ties go to the pair with the fewest reviews and declines (highest thresholds).
    Raises ConfigError when no pair meets the constraints.

    Examples:
        >>> c = CostMatrix(chargeback_fee_minor=0, margin_share=0.0, friction_minor=100,
        ...                review_minor=1_000)
        >>> choose_bands(np.array([0.01, 0.9]), np.array([100, 100]), c, days=1.0)
        Bands(review_at=0.9, decline_at=0.9)
    """
    order = np.argsort(scores, kind="stable")
    p = scores[order]
    per_row = costs.action_costs(p, amount_minor[order])
    n = p.size
    cum = np.vstack([np.zeros((1, 3)), np.cumsum(per_row, axis=0)])
    qs = np.quantile(p, np.linspace(0.0, 1.0, grid)) if n else np.empty(0)
    cand = np.unique(np.concatenate([qs, p[-1:], [0.0, 1.0 + 1e-9]]))
    idx = np.searchsorted(p, cand, side="left")  # rows below threshold k: [0, idx[k])
    i, j = np.triu_indices(cand.size)  # review_at = cand[i] <= decline_at = cand[j]
    ri, dj = idx[i], idx[j]
    total = cum[ri, 0] + (cum[dj, 1] - cum[ri, 1]) + (cum[n, 2] - cum[dj, 2])
    ok = np.ones(total.size, dtype=bool)
    if constraints.max_decline_rate is not None:
        ok &= (n - dj) <= constraints.max_decline_rate * n + 1e-9
    if constraints.review_capacity_per_day is not None:
        ok &= (dj - ri) <= constraints.review_capacity_per_day * days + 1e-9
    if not ok.any():
        raise ConfigError(f"no approve/review/decline bands satisfy {constraints!r}.")
    total = np.where(ok, total, np.inf)
    best = np.flatnonzero(total <= total.min() + 1e-9 * max(1.0, abs(total.min())))
    pick = best[np.lexsort((-i[best], -j[best]))[0]]
    review_at, decline_at = float(cand[i[pick]]), float(cand[j[pick]])
    return Bands(min(review_at, 1.0), min(decline_at, 1.0))
