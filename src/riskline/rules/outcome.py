"""Evaluate a rule set on one event and its features: the action, the rules that fired."""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal

from riskline.events import PaymentAttempt
from riskline.rules.spec import Condition, Membership, Rule, RuleSet

Verdict = Literal["approve", "review", "decline"]
FieldValue = str | int | float | bool | None

_OPS: dict[str, Callable[[float, float], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "==": operator.eq,
    "!=": operator.ne,
}


@dataclass(frozen=True, slots=True)
class Hit:
    """One rule that fired, with the values of the fields it read."""

    code: str
    text: str
    action: Literal["review", "decline"]
    severity: float
    values: dict[str, FieldValue]


@dataclass(frozen=True, slots=True)
class Outcome:
    """What the rules say: ``action`` is the strongest fired action (approve if none fired);
    ``score`` in [0, 1] is the highest severity fired (0.0 if none), for ranking."""

    action: Verdict
    fired: tuple[Hit, ...]
    score: float
    rules_version: str


def lookup(event: PaymentAttempt, features: Mapping[str, FieldValue], name: str) -> FieldValue:
    """A feature value if ``name`` is a feature, else the event field (None if neither)."""
    if name in features:
        return features[name]
    value: FieldValue = getattr(event, name, None)
    return value


def evaluate(
    ruleset: RuleSet, event: PaymentAttempt, features: Mapping[str, FieldValue]
) -> Outcome:
    """Apply every rule to one event (fields looked up in ``features`` first, then ``event``).

    Examples:
        >>> from datetime import UTC, datetime
        >>> from riskline.rules.spec import Rule, Threshold
        >>> rs = RuleSet("demo", (Rule("fast", "card velocity", "decline",
        ...     (Threshold("count_5m_by_card", ">=", 5),), 0.9),))
        >>> e = PaymentAttempt("t1", datetime(2026, 1, 1, tzinfo=UTC), 100, card_token="c")
        >>> evaluate(rs, e, {"count_5m_by_card": 6}).action
        'decline'
        >>> evaluate(rs, e, {"count_5m_by_card": None}).score
        0.0
    """
    fired = []
    for rule, checks, fields in _compiled(ruleset):
        for name, check in checks:
            value = features[name] if name in features else getattr(event, name, None)
            if value is None or not check(value):
                break
        else:
            values = {name: lookup(event, features, name) for name in fields}
            fired.append(Hit(rule.code, rule.text, rule.action, rule.severity, values))
    hits = tuple(fired)
    return Outcome(
        strongest(hits), hits, max((h.severity for h in hits), default=0.0), ruleset.version
    )


Check = Callable[[str | int | float | bool], bool]
Compiled = list[tuple[Rule, list[tuple[str, Check]], tuple[str, ...]]]
_CACHE: dict[int, tuple[RuleSet, Compiled]] = {}


def _compiled(ruleset: RuleSet) -> Compiled:
    """Each rule's conditions as (field, predicate on a non-None value), and the fields it
    reads, built once per set."""
    entry = _CACHE.get(id(ruleset))
    if entry is not None and entry[0] is ruleset:
        return entry[1]
    compiled = [
        (rule, [(c.field, _check(c)) for c in rule.when], rule.fields) for rule in ruleset.rules
    ]
    if len(_CACHE) > 64:
        _CACHE.clear()
    _CACHE[id(ruleset)] = (ruleset, compiled)
    return compiled


def _check(condition: Condition) -> Check:
    if isinstance(condition, Membership):
        members = condition.values
        return lambda v: isinstance(v, str) and v in members
    op, bound = _OPS[condition.op], condition.value
    return lambda v: not isinstance(v, str) and op(v, bound)


def strongest(fired: tuple[Hit, ...]) -> Verdict:
    if any(h.action == "decline" for h in fired):
        return "decline"
    return "review" if fired else "approve"
