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
from itertools import islice

import numpy as np

from riskline.decisions._records import StoredDecision, VerifyReport
from riskline.decisions.engine import Row, Scorer, Thresholds
from riskline.decisions.log import DecisionLog
from riskline.errors import InvalidRequestError, UnknownDecisionError
from riskline.models import ACTIONS, CostMatrix
from riskline.registry import Registry
from riskline.rules import Verdict

Loader = Callable[[bytes], Scorer]
_SCORE_CHUNK = 50_000  # decisions per scoring call in a backtest
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
    costs use a known label when there is one, otherwise a calibrated score: each side's
    own, except that the logged side of a decision the rules made because the model gave no
    score (a fallback other than ``low_confidence``) is priced with the new version's score,
    since its logged score is a rule severity, for ranking, not a probability; those
    unlabelled decisions are counted in ``fallbacks_repriced``. The per-decision tuples
    (logged order) hold what the report plots: both scores as logged and as they would be,
    both actions and the label (None: not labelled). ``fraud_stopped`` counts the labelled
    frauds reviewed or declined, as logged and as they would be.
    """

    model_version: str
    thresholds: Thresholds
    decisions: int
    moved: Mapping[tuple[str, str], int]
    flips: tuple[Flip, ...]
    logged_cost_minor: float
    new_cost_minor: float
    by_action: Mapping[str, tuple[int, int]] = field(default_factory=dict)
    logged_scores: tuple[float, ...] = ()
    new_scores: tuple[float, ...] = ()
    logged_actions: tuple[Verdict, ...] = ()
    new_actions: tuple[Verdict, ...] = ()
    labels: tuple[bool | None, ...] = ()
    since: datetime | None = None
    until: datetime | None = None
    fallbacks_repriced: int = 0

    @property
    def cost_delta_minor(self) -> float:
        """New minus logged expected cost: negative means the new version saves money."""
        return self.new_cost_minor - self.logged_cost_minor

    @property
    def labelled(self) -> int:
        """Decisions of the period whose label is known."""
        return sum(label is not None for label in self.labels)

    @property
    def fraud_stopped(self) -> tuple[int, int, int]:
        """(labelled frauds, of them reviewed or declined as logged, as they would be)."""
        frauds = [i for i, label in enumerate(self.labels) if label]
        logged = sum(self.logged_actions[i] != "approve" for i in frauds)
        new = sum(self.new_actions[i] != "approve" for i in frauds)
        return len(frauds), logged, new


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
    version and its bands, scored ``_SCORE_CHUNK`` at a time (the log selects the period
    and its bodies are parsed and freed chunk by chunk, so a long period fits in memory);
    expected costs come from the business's ``costs`` (the matrix the bands were optimised
    for), as ``Backtest`` describes: a label where one is logged, else a calibrated score
    (the new version's on both sides for a decision the rules made without a model score).

    ``labels`` (transaction id -> is fraud) defaults to the labels logged beside the
    decisions (``{kind}_label`` records, ``POST /v1/fraud/labels``).
    """
    for name, at in (("since", since), ("until", until)):
        if at is not None and at.utcoffset() is None:
            raise InvalidRequestError(f"{name} must be timezone-aware (UTC), got {at!r}.")
    if until is not None and until <= since:
        raise InvalidRequestError(
            f"until ({until.isoformat()}) must be after since ({since.isoformat()})."
        )
    known = _logged_labels(log, kind) if labels is None else labels
    thresholds = Thresholds.from_policy(registry.get(model_version).decision_policy)
    model = loader(registry.load_artifact(model_version))
    moved: Counter[tuple[str, str]] = Counter()
    flips: list[Flip] = []
    old_s, new_s, old_a, new_a, marks, amounts = [], [], [], [], [], []
    old_p: list[float] = []  # the logged side's probability, for its expected cost
    repriced = 0
    period = log.read(kinds=(kind,), start=since, end=until)
    while records := list(islice(period, _SCORE_CHUNK)):  # bodies are freed chunk by chunk
        for record, new_score in zip(records, model.score([_row(r) for r in records]), strict=True):
            old_action: Verdict = record.body["action"]  # type: ignore[assignment]  # logged by the engine
            old_score = _number(record.body.get("score"))
            new_action = thresholds.band(new_score)
            label = known.get(record.transaction_id)
            by_rules = _rule_scored(record)
            repriced += by_rules and label is None
            old_s.append(old_score)
            old_p.append(float(new_score) if by_rules else old_score)
            new_s.append(float(new_score))
            old_a.append(old_action)
            new_a.append(new_action)
            marks.append(label)
            amounts.append(_amount(record))
            if old_action != new_action:
                moved[(old_action, new_action)] += 1
                flips.append(
                    Flip(
                        record.transaction_id,
                        record.decision_id,
                        old_action,
                        new_action,
                        old_score,
                        float(new_score),
                    )
                )
    amount = np.array(amounts, np.int64)
    rows = np.arange(len(amounts))

    def cost(p: list[float], actions: list[Verdict]) -> float:
        known_p = [s if label is None else float(label) for s, label in zip(p, marks, strict=True)]
        at = [ACTIONS.index(a) for a in actions]
        return float(costs.action_costs(np.array(known_p, np.float64), amount)[rows, at].sum())

    before, after = Counter(old_a), Counter(new_a)
    return Backtest(
        model_version,
        thresholds,
        len(amounts),
        dict(moved),
        tuple(flips),
        cost(old_p, old_a),
        cost(new_s, new_a),
        {a: (before[a], after[a]) for a in ACTIONS},
        tuple(old_s),
        tuple(new_s),
        tuple(old_a),
        tuple(new_a),
        tuple(marks),
        since,
        until,
        repriced,
    )


def _logged_labels(log: DecisionLog, kind: str) -> dict[str, bool]:
    """Every logged label of ``kind`` by transaction id (the last one logged wins)."""
    labels: dict[str, bool] = {}
    for r in log.read(kinds=(f"{kind}_label",)):
        is_fraud = r.body.get("is_fraud")
        if isinstance(is_fraud, bool):
            labels[r.transaction_id] = is_fraud
    return labels


def _row(record: StoredDecision) -> Row:
    features = record.body.get("features")
    if not isinstance(features, Mapping):
        raise InvalidRequestError(
            f"decision {record.decision_id!r} has no logged features; it cannot be replayed."
        )
    return {k: v if isinstance(v, int | float) else None for k, v in features.items()}


def _rule_scored(record: StoredDecision) -> bool:
    """Whether the logged score is the rules' severity (the model gave none: timed out,
    failed, no model or no features); a ``low_confidence`` decision logs the model's own
    calibrated score, though the rules decided it."""
    fallback = record.body.get("fallback")
    return isinstance(fallback, str) and fallback != "low_confidence"


def _number(value: object) -> float:
    return float(value) if isinstance(value, int | float) else 0.0


def _amount(record: StoredDecision) -> int:
    request = record.body.get("request")
    if isinstance(request, Mapping) and isinstance(request.get("amount_minor"), int):
        return int(request["amount_minor"])
    features = record.body.get("features")
    value = features.get("value_amount_minor") if isinstance(features, Mapping) else None
    return int(value) if isinstance(value, int | float) else 0
