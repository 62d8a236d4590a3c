"""Evaluate a rule set on a batch of events at once, condition by condition over columns.

Same outcomes as ``evaluate`` event by event (a test pins them together). A condition on a
feature of ``FeatureRows`` is one comparison over its float64 column; any other condition
(an event field, or plain mappings) checks each value as ``evaluate`` does. Events that fire
nothing share one ``Outcome``; those that fire the same rules share their verdict and score.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import cast

import numpy as np

from riskline.events import PaymentAttempt
from riskline.features import FeatureRows
from riskline.rules.outcome import (
    _OPS,
    FieldValue,
    Hit,
    Outcome,
    Verdict,
    _compiled,
    evaluate,
    lookup,
)
from riskline.rules.spec import Condition, Membership, Rule, RuleSet

_COLUMNAR_FROM = 32  # events; measured: 1 event 84 us by columns, 5 us by evaluate
_WORD = (1 << 64) - 1  # a word read unsigned (rule 63 makes its int64 negative)
_EXACT = 2.0**53  # float64 holds every integer up to here: past it, compare value by value


def evaluate_many(
    ruleset: RuleSet,
    events: Sequence[PaymentAttempt],
    features: Sequence[Mapping[str, FieldValue]],
) -> list[Outcome]:
    """``evaluate`` of each event with its features, in one pass per condition (below
    ``_COLUMNAR_FROM`` events, one by one: a pass costs ~10 us however short the batch)."""
    n = len(events)
    if n < _COLUMNAR_FROM:
        return [evaluate(ruleset, e, f) for e, f in zip(events, features, strict=True)]
    compiled = _compiled(ruleset)
    masks: list[np.ndarray] = []
    for rule, checks, _ in compiled:
        fires = np.ones(n, np.bool_)
        for condition, (name, check) in zip(rule.when, checks, strict=True):
            fires &= _holds(condition, name, check, events, features)
        masks.append(fires)
    quiet = Outcome("approve", (), 0.0, ruleset.version)
    outcomes = [quiet] * n
    # bit k % 64 of word k // 64: rule k fired (one int64 held only 64 rules)
    words = [np.zeros(n, np.int64) for _ in range(0, len(masks), 64)]
    for k, fires in enumerate(masks):
        words[k >> 6] |= fires.astype(np.int64) << (k & 63)
    if not words:
        return outcomes
    fired_at = np.flatnonzero(words[0] if len(words) == 1 else np.bitwise_or.reduce(words))
    keys = zip(*(word[fired_at].tolist() for word in words), strict=True)
    rules = [(rule, fields) for rule, _, fields in compiled]
    shapes: dict[tuple[int, ...], tuple[list[tuple[Rule, tuple[str, ...]]], Verdict, float]] = {}
    for i, key in zip(fired_at.tolist(), keys, strict=True):
        shape = shapes.get(key)
        if shape is None:
            bits = sum((word & _WORD) << (64 * j) for j, word in enumerate(key))
            which = [r for k, r in enumerate(rules) if bits >> k & 1]
            decline = any(rule.action == "decline" for rule, _ in which)
            severity = max(rule.severity for rule, _ in which)
            shape = shapes[key] = (which, "decline" if decline else "review", severity)
        event, values = events[i], features[i]
        hits = tuple(
            Hit(r.code, r.text, r.action, r.severity, {f: lookup(event, values, f) for f in fields})
            for r, fields in shape[0]
        )
        outcomes[i] = Outcome(shape[1], hits, shape[2], ruleset.version)
    return outcomes


def _holds(
    condition: Condition,
    name: str,
    check: Callable[[str | int | float | bool], bool],
    events: Sequence[PaymentAttempt],
    features: Sequence[Mapping[str, FieldValue]],
) -> np.ndarray:
    """Where ``condition`` holds, for each event (a null never satisfies it)."""
    rows = features if isinstance(features, FeatureRows) else None
    column = rows.column(name) if rows is not None else None
    if rows is not None and column is None:  # an event field: the rows are not read
        fields: list[FieldValue] = [getattr(e, name, None) for e in events]
        return np.fromiter((v is not None and check(v) for v in fields), np.bool_, len(fields))
    if column is not None:
        if isinstance(condition, Membership):  # features are numbers: never a member
            return np.zeros(len(column), np.bool_)
        bound = condition.value
        if abs(bound) < _EXACT and not (np.abs(column) >= _EXACT).any():
            compare = cast(Callable[[np.ndarray, float], np.ndarray], _OPS[condition.op])
            holds: np.ndarray = ~np.isnan(column) & compare(column, bound)
            return holds
    values = [lookup(e, f, name) for e, f in zip(events, features, strict=True)]
    return np.fromiter((v is not None and check(v) for v in values), np.bool_, len(values))
