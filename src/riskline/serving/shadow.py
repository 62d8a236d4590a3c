"""Shadow scoring: the staged shadow model scores the champion's rows, logged beside them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta

from riskline.decisions import DecisionRecord
from riskline.serving.answers import new_id
from riskline.serving.champion import Champion

SHADOW_TIMEOUT = timedelta(seconds=1)


async def shadow_records(
    shadow: Champion,
    kind: str,
    decided: Sequence[tuple[str, str]],
    rows: Sequence[Mapping[str, float | int | None]],
    at: datetime,
) -> list[DecisionRecord]:
    """One ``<kind>_shadow`` record per champion decision, given as ``(decision_id,
    transaction_id)`` (same transaction id): the shadow's version, score and action under its
    own bands, or why it has no score."""
    scored = await shadow.runner.run_async(rows, 2.0, 0, SHADOW_TIMEOUT)  # 2.0: never explain
    records = []
    for i, (decision_id, transaction_id) in enumerate(decided):
        score = scored[i].score if isinstance(scored, list) else None
        body: dict[str, object] = {
            "champion_decision_id": decision_id,
            "model_version": shadow.version,
            "score": score,
            "action": None if score is None else shadow.thresholds.band(score),
            "fallback": None if isinstance(scored, list) else scored,
        }
        records.append(DecisionRecord(new_id(), transaction_id, f"{kind}_shadow", at, body))
    return records
