"""``decide`` for a whole batch at once: the same decisions, as columns.

A batch of a thousand made a ``Decision``, a body and a record per row, about 6 us each of
interpreter time; here the bands are one comparison over the scores, and only the rows the
rules decide (a fallback, low confidence) or the model explained are visited one by one. The
columns go to the decision log as a ``DecisionBatch`` and to the answers as they are. A test
pins every row to what ``decide`` gives it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from riskline.decisions.engine import Fallback, Policy, Reason, reason_json, rule_reason
from riskline.rules import FieldValue, Outcome, Outcomes

ReasonJson = list[dict[str, FieldValue]]
_VERDICTS = np.array(["approve", "review", "decline"], dtype=object)
_NONE: ReasonJson = []  # shared by every row without reasons: never changed


@dataclass(frozen=True, slots=True)
class Decided:
    """A batch's decisions, one value per row in each column (as ``Decision``'s fields)."""

    action: list[str]
    score: list[float]
    rule_score: list[float]
    reasons: list[ReasonJson]
    fallback: list[Fallback | None]
    rules_fired: list[list[str]]

    def explain(self, reasons: Mapping[int, Sequence[Reason]]) -> None:
        """Give row ``i`` the model's ``reasons[i]``, unless the rules decide it."""
        why, fallback = self.reasons, self.fallback
        for i, given in reasons.items():
            if fallback[i] is None:
                why[i] = [reason_json(r) for r in given]

    def rule(self, outcomes: Outcomes, rows: Mapping[int, Fallback]) -> None:
        """Let the rules decide row ``i``, flagged ``rows[i]``: with the rules' score too,
        unless the model's is only unsure (``low_confidence``)."""
        for i, reason in rows.items():
            outcome = outcomes[i]
            self.fallback[i], self.action[i] = reason, outcome.action
            self.reasons[i] = _rule_reasons(outcome)
            if reason != "low_confidence":
                self.score[i] = outcome.score

    def columns(self) -> dict[str, object]:
        """The columns of the decisions' log bodies (as ``Decision.to_body``'s keys)."""
        return {
            "action": self.action,
            "score": self.score,
            "rule_score": self.rule_score,
            "reasons": self.reasons,
            "fallback": self.fallback,
            "rules_fired": self.rules_fired,
        }


def decide_columns(
    outcomes: Outcomes,
    scores: Sequence[float] | Fallback,
    policy: Policy,
    *,
    reasons: Mapping[int, Sequence[Reason]] | None = None,
    failed: Mapping[int, Fallback] | None = None,
) -> Decided:
    """Row ``i``'s decision from its rules' ``outcomes[i]`` and the model's ``scores[i]``
    (with ``reasons[i]``, when it explained the row), exactly as ``decide`` makes it: the
    rules decide, flagged, when the model gave the batch no scores (``scores`` is why), when
    row ``i`` has a reason in ``failed`` (its explanation timed out or failed), or when its
    score falls in ``policy.low_confidence``. ``reasons`` and ``failed`` can also come later
    (``Decided.explain``, ``Decided.rule``): a batch is decided while its flagged rows are
    being explained."""
    rule_score, fired = outcomes.score, outcomes.codes
    n = len(outcomes)
    if isinstance(scores, str):
        decided = Decided(list(outcomes.action), list(rule_score), rule_score, [], [], fired)
        decided.fallback.extend([scores] * n)
        decided.reasons.extend(_rule_reasons(o) for o in outcomes)
        return decided
    s = np.asarray(scores, np.float64)
    bands = policy.thresholds
    at = (s >= bands.review_at).astype(np.intp) + (s >= bands.decline_at)
    decided = Decided(
        _VERDICTS[at].tolist(), s.tolist(), rule_score, [_NONE] * n, [None] * n, fired
    )
    band = policy.low_confidence
    if band is not None:
        unsure = np.flatnonzero((band[0] <= s) & (s < band[1])).tolist()
        decided.rule(outcomes, dict.fromkeys(unsure, "low_confidence"))
    if reasons:
        decided.explain(reasons)
    if failed:
        decided.rule(outcomes, failed)
    return decided


def _rule_reasons(outcome: Outcome) -> ReasonJson:
    return [reason_json(rule_reason(h)) for h in outcome.fired] if outcome.fired else _NONE
