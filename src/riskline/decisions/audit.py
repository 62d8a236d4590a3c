"""Audit the decision log: verify the chain, replay one decision, backtest a model version.

Replay and backtest load model versions from the registry through a ``loader`` (normally
``riskline.models.Model.from_bytes``); the artefact hash is checked on every load.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np

from riskline.decisions._records import StoredDecision, VerifyReport
from riskline.decisions.engine import Row, Scorer, Thresholds
from riskline.decisions.log import DecisionLog
from riskline.errors import InvalidRequestError, UnknownDecisionError
from riskline.models import ACTIONS, CostMatrix
from riskline.registry import Registry
from riskline.rules import Verdict

Loader = Callable[[bytes], Scorer]
"""Builds a scorer from a registry artefact (``riskline.models.Model.from_bytes``)."""


def verify(log: DecisionLog) -> VerifyReport:
    """Check the whole hash chain; the report names the first broken record, if any."""
    return log.verify()


@dataclass(frozen=True, slots=True)
class Replay:
    """A decision's score recomputed from its logged features and logged model version.

    ``logged_score`` is None when the logged decision has no model score (the model timed
    out or failed); ``matches`` then is False and ``replayed_score`` shows what it would be.
    """

    decision_id: str
    transaction_id: str
    model_version: str
    logged_score: float | None
    replayed_score: float
    fallback: str | None

    @property
    def matches(self) -> bool:
        return self.logged_score is not None and math.isclose(
            self.logged_score, self.replayed_score, rel_tol=1e-12, abs_tol=1e-12
        )


def replay(log: DecisionLog, registry: Registry, loader: Loader, decision_id: str) -> Replay:
    """Recompute one decision's score with the model version it was logged with.

    Raises ``UnknownDecisionError`` for an unknown id, ``InvalidRequestError`` if the
    decision was made without a model, ``UnknownVersionError``/``ArtifactIntegrityError``
    from the registry.
    """
    record = log.get(decision_id)
    if record is None:
        raise UnknownDecisionError(f"decision {decision_id!r} is not in the decision log.")
    version = record.body.get("model_version")
    if not isinstance(version, str):
        raise InvalidRequestError(
            f"decision {decision_id!r} was made without a model (fallback "
            f"{record.body.get('fallback')!r}); there is no score to replay."
        )
    model = loader(registry.load_artifact(version))
    replayed = model.score([_row(record)])[0]
    fallback = record.body.get("fallback")
    logged = record.body.get("score") if fallback in (None, "low_confidence") else None
    return Replay(
        decision_id,
        record.transaction_id,
        version,
        float(logged) if isinstance(logged, int | float) else None,
        float(replayed),
        fallback if isinstance(fallback, str) else None,
    )


@dataclass(frozen=True, slots=True)
class Flip:
    """One transaction whose action would change under the backtested model."""

    transaction_id: str
    decision_id: str
    logged_action: Verdict
    new_action: Verdict
    logged_score: float
    new_score: float


@dataclass(frozen=True, slots=True)
class Backtest:
    """How the logged decisions of ``[since, until)`` would move under ``model_version``.

    ``moved[(a, b)]`` counts decisions logged as ``a`` that would be ``b`` (a != b). Expected
    costs use a known label when given, otherwise each side's own calibrated score.
    """

    model_version: str
    thresholds: Thresholds
    decisions: int
    moved: Mapping[tuple[str, str], int]
    flips: tuple[Flip, ...]
    logged_cost_minor: float
    new_cost_minor: float
    by_action: Mapping[str, tuple[int, int]] = field(default_factory=dict)

    @property
    def cost_delta_minor(self) -> float:
        """New minus logged expected cost: negative means the new version saves money."""
        return self.new_cost_minor - self.logged_cost_minor


def backtest(
    log: DecisionLog,
    registry: Registry,
    loader: Loader,
    model_version: str,
    since: datetime,
    *,
    until: datetime | None = None,
    costs: CostMatrix,
    kind: str = "fraud",
    labels: Mapping[str, bool] | None = None,
) -> Backtest:
    """Replay the logged ``kind`` decisions decided in ``[since, until)`` under another
    version and its bands, in one vectorised scoring call; expected costs come from the
    business's ``costs`` (the same matrix the bands were optimised for)."""
    if since.tzinfo is None:
        raise InvalidRequestError(f"since must be timezone-aware (UTC), got {since!r}.")
    records = [
        r
        for r in log.read()
        if r.kind == kind and r.decided_at >= since and (until is None or r.decided_at < until)
    ]
    thresholds = Thresholds.from_policy(registry.get(model_version).decision_policy)
    model = loader(registry.load_artifact(model_version))
    scores = model.score([_row(r) for r in records]) if records else []
    moved: Counter[tuple[str, str]] = Counter()
    before: Counter[str] = Counter()
    after: Counter[str] = Counter()
    flips: list[Flip] = []
    known = labels or {}
    old_p, new_p, amounts, old_at, new_at = [], [], [], [], []
    for record, new_score in zip(records, scores, strict=True):
        old_action = str(record.body["action"])
        old_score = _number(record.body.get("score"))
        new_action = thresholds.band(new_score)
        before[old_action] += 1
        after[new_action] += 1
        label = known.get(record.transaction_id)
        old_p.append(old_score if label is None else float(label))
        new_p.append(new_score if label is None else float(label))
        amounts.append(_amount(record))
        old_at.append(ACTIONS.index(old_action))  # logged by the engine
        new_at.append(ACTIONS.index(new_action))
        if old_action != new_action:
            moved[(old_action, new_action)] += 1
            flips.append(
                Flip(
                    record.transaction_id,
                    record.decision_id,
                    old_action,  # type: ignore[arg-type]  # logged by the engine
                    new_action,
                    old_score,
                    float(new_score),
                )
            )
    amount = np.array(amounts, np.int64)
    rows = np.arange(len(records))
    old_cost = costs.action_costs(np.array(old_p, np.float64), amount)[rows, old_at].sum()
    new_cost = costs.action_costs(np.array(new_p, np.float64), amount)[rows, new_at].sum()
    return Backtest(
        model_version,
        thresholds,
        len(records),
        dict(moved),
        tuple(flips),
        float(old_cost),
        float(new_cost),
        {a: (before[a], after[a]) for a in ACTIONS},
    )


def _row(record: StoredDecision) -> Row:
    features = record.body.get("features")
    if not isinstance(features, Mapping):
        raise InvalidRequestError(
            f"decision {record.decision_id!r} has no logged features; it cannot be replayed."
        )
    return {k: v if isinstance(v, int | float) else None for k, v in features.items()}


def _number(value: object) -> float:
    return float(value) if isinstance(value, int | float) else 0.0


def _amount(record: StoredDecision) -> int:
    request = record.body.get("request")
    if isinstance(request, Mapping) and isinstance(request.get("amount_minor"), int):
        return int(request["amount_minor"])
    features = record.body.get("features")
    value = features.get("value_amount_minor") if isinstance(features, Mapping) else None
    return int(value) if isinstance(value, int | float) else 0
