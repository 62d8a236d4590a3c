"""Rule definitions: conditions over feature values and event fields, rules, versioned sets.

A definition is plain data that validates itself when built; ``RuleSet.version`` is a hash
of the whole definition, so any change (a threshold, a list member) is a new version.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal, get_args

from riskline.errors import InvalidRuleError, UnknownFeatureError

Op = Literal["<", "<=", ">", ">=", "==", "!="]
Action = Literal["review", "decline"]
OPS: tuple[Op, ...] = get_args(Op)
ACTIONS: tuple[Action, ...] = get_args(Action)
_CODE = re.compile(r"[a-z][a-z0-9_]{0,63}")


@dataclass(frozen=True, slots=True)
class Threshold:
    """``field op value``, numeric; a missing (None) field never satisfies it."""

    field: str
    op: Op
    value: float

    def __post_init__(self) -> None:
        _check_field(self.field)
        if self.op not in OPS:
            raise InvalidRuleError(
                f"condition on {self.field!r}: op must be one of {', '.join(OPS)}, got {self.op!r}."
            )
        value = self.value
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
        ):
            raise InvalidRuleError(
                f"condition on {self.field!r}: value must be a finite number, got {value!r}."
            )

    def describe(self) -> dict[str, object]:
        return {"field": self.field, "op": self.op, "value": self.value}


@dataclass(frozen=True, slots=True)
class Membership:
    """``field in values`` (strings, e.g. a compromised-terminal list); None never matches.

    An empty list is allowed and never matches (a list configured later).
    """

    field: str
    values: frozenset[str]

    def __post_init__(self) -> None:
        _check_field(self.field)
        if not isinstance(self.values, frozenset):
            raise InvalidRuleError(
                f"condition on {self.field!r}: values must be a frozenset of strings, "
                f"got {type(self.values).__name__}."
            )
        bad = sorted(repr(v) for v in self.values if not isinstance(v, str) or not v)
        if bad:
            raise InvalidRuleError(
                f"condition on {self.field!r}: list members must be non-empty strings, "
                f"got {', '.join(bad)}."
            )

    def describe(self) -> dict[str, object]:
        return {"field": self.field, "in": sorted(self.values)}


Condition = Threshold | Membership


@dataclass(frozen=True, slots=True)
class Rule:
    """Fires when all of ``when`` hold; ``severity`` in (0, 1] ranks it (rule score)."""

    code: str
    text: str
    action: Action
    when: tuple[Condition, ...]
    severity: float

    def __post_init__(self) -> None:
        if not isinstance(self.code, str) or not _CODE.fullmatch(self.code):
            raise InvalidRuleError(
                "rule code must be lowercase letters, digits or '_' starting with a letter "
                f"(at most 64 characters), e.g. 'velocity_card_5m', got {self.code!r}."
            )
        if not isinstance(self.text, str) or not self.text.strip():
            raise InvalidRuleError(f"rule {self.code!r}: text must say why it fires, got ''.")
        if self.action not in ACTIONS:
            raise InvalidRuleError(
                f"rule {self.code!r}: action must be one of {', '.join(ACTIONS)}, "
                f"got {self.action!r}."
            )
        if not self.when:
            raise InvalidRuleError(
                f"rule {self.code!r} has no conditions; give at least one in 'when'."
            )
        for c in self.when:
            if not isinstance(c, Threshold | Membership):
                raise InvalidRuleError(
                    f"rule {self.code!r}: conditions must be Threshold or Membership, got {c!r}."
                )
        sev = self.severity
        if isinstance(sev, bool) or not isinstance(sev, int | float) or not 0.0 < sev <= 1.0:
            raise InvalidRuleError(f"rule {self.code!r}: severity must be in (0, 1], got {sev!r}.")

    @property
    def fields(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(c.field for c in self.when))

    def describe(self) -> dict[str, object]:
        return {
            "code": self.code,
            "text": self.text,
            "action": self.action,
            "severity": self.severity,
            "when": [c.describe() for c in self.when],
        }


@dataclass(frozen=True, slots=True)
class RuleSet:
    """Named rules with unique codes; ``version`` = ``<name>-<sha256 of definition>[:12]``."""

    name: str
    rules: tuple[Rule, ...]
    version: str = field(init=False)

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not _CODE.fullmatch(self.name):
            raise InvalidRuleError(
                f"rule set name must be lowercase letters, digits or '_', got {self.name!r}."
            )
        codes = [r.code for r in self.rules]
        dupes = sorted({c for c in codes if codes.count(c) > 1})
        if dupes:
            raise InvalidRuleError(
                f"rule codes must be unique in rule set {self.name!r}; repeated: {dupes}."
            )
        payload = json.dumps(self.describe(), sort_keys=True).encode()
        digest = hashlib.sha256(payload).hexdigest()[:12]
        object.__setattr__(self, "version", f"{self.name}-{digest}")

    @property
    def fields(self) -> tuple[str, ...]:
        """Every field any rule reads, in first-use order."""
        return tuple(dict.fromkeys(f for r in self.rules for f in r.fields))

    def restrict(self, available: Collection[str]) -> tuple[RuleSet, list[str]]:
        """Keep the rules whose fields are all available; say which were left out and why."""
        have = set(available)
        kept: list[Rule] = []
        notes: list[str] = []
        for rule in self.rules:
            missing = [f for f in rule.fields if f not in have]
            if missing:
                notes.append(f"left out rule {rule.code}: no {', '.join(missing)}")
            else:
                kept.append(rule)
        return RuleSet(self.name, tuple(kept)), notes

    def describe(self) -> dict[str, object]:
        return {"name": self.name, "rules": [r.describe() for r in self.rules]}

    def check_fields(self, known: Collection[str]) -> None:
        """Raise ``UnknownFeatureError`` unless every field a rule reads is in ``known``."""
        unknown = [f for f in self.fields if f not in known]
        if unknown:
            raise UnknownFeatureError(
                f"rule set {self.name!r} reads unknown field(s) {', '.join(map(repr, unknown))}. "
                f"Known fields: {', '.join(sorted(known))}."
            )

    @classmethod
    def from_mapping(cls, data: Mapping[str, object]) -> RuleSet:
        """Build a rule set from plain data (e.g. parsed JSON); the inverse of ``describe``.

        Examples:
            >>> rs = RuleSet.from_mapping({"name": "demo", "rules": [{
            ...     "code": "fast", "text": "5+ card payments in 5 min", "action": "decline",
            ...     "severity": 0.9,
            ...     "when": [{"field": "count_5m_by_card", "op": ">=", "value": 5}],
            ... }]})
            >>> rs.rules[0].when
            (Threshold(field='count_5m_by_card', op='>=', value=5),)
        """
        name = data.get("name")
        rules = data.get("rules")
        if not isinstance(rules, Sequence) or isinstance(rules, str):
            raise InvalidRuleError(f"rule set needs a list 'rules', got {rules!r}.")
        return cls(str(name) if name is not None else "", tuple(_rule(r) for r in rules))


def _check_field(name: object) -> None:
    if not isinstance(name, str) or not name:
        raise InvalidRuleError(f"condition field must be a non-empty string, got {name!r}.")


def _rule(data: object) -> Rule:
    if not isinstance(data, Mapping):
        raise InvalidRuleError(f"each rule must be a mapping, got {data!r}.")
    extra = sorted(set(data) - {"code", "text", "action", "severity", "when"})
    if extra:
        raise InvalidRuleError(
            f"rule {data.get('code')!r} has unknown key(s) {extra}; "
            "allowed: code, text, action, severity, when."
        )
    when = data.get("when")
    if not isinstance(when, Sequence) or isinstance(when, str):
        raise InvalidRuleError(f"rule {data.get('code')!r}: 'when' must be a list, got {when!r}.")
    return Rule(
        code=data.get("code", ""),  # every value is validated by Rule
        text=data.get("text", ""),
        action=data.get("action", ""),
        when=tuple(_condition(data.get("code"), c) for c in when),
        severity=data.get("severity", 0.0),
    )


def _condition(code: object, data: object) -> Condition:
    if not isinstance(data, Mapping):
        raise InvalidRuleError(f"rule {code!r}: each condition must be a mapping, got {data!r}.")
    keys = set(data)
    if keys == {"field", "op", "value"}:
        return Threshold(data["field"], data["op"], data["value"])
    if keys == {"field", "in"}:
        members = data["in"]
        if not isinstance(members, Sequence) or isinstance(members, str):
            raise InvalidRuleError(
                f"rule {code!r}: 'in' of {data['field']!r} must be a list, got {members!r}."
            )
        return Membership(data["field"], frozenset(members))
    raise InvalidRuleError(
        f"rule {code!r}: a condition is {{field, op, value}} or {{field, in}}, "
        f"got keys {sorted(keys)}."
    )
