"""Vectorised rule evaluation over a Polars frame of backfilled features and event columns.

Same semantics as ``evaluate`` row by row: a null never satisfies a condition, a Membership
condition matches strings only, the score is the highest severity fired (0.0 if none).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import polars as pl

from riskline.rules.spec import Condition, Membership, Rule, RuleSet


def _condition(condition: Condition, schema: pl.Schema) -> pl.Expr:
    col = pl.col(condition.field)
    dtype = schema[condition.field]
    if isinstance(condition, Membership):
        if dtype != pl.String():
            return pl.lit(False)
        return col.is_in(sorted(condition.values)).fill_null(False)
    if not (dtype.is_numeric() or dtype == pl.Boolean()):
        return pl.lit(False)
    x = col.cast(pl.Float64)
    v = condition.value
    expr = {
        "<": x < v,
        "<=": x <= v,
        ">": x > v,
        ">=": x >= v,
        "==": x == v,
        "!=": x != v,
    }[condition.op]
    return expr.fill_null(False)


def _fires(rule: Rule, schema: pl.Schema) -> pl.Expr:
    return pl.all_horizontal([_condition(c, schema) for c in rule.when])


def evaluate_frame(ruleset: RuleSet, frame: pl.DataFrame) -> pl.DataFrame:
    """One row per input row: ``rule_action`` (approve/review/decline), ``rule_score``,
    and ``rule_<code>`` (bool) for each rule.

    Raises ``UnknownFeatureError`` if a field a rule reads is not a column of ``frame``.

    Examples:
        >>> from riskline.rules.spec import Rule, Threshold
        >>> rs = RuleSet("demo", (Rule("fast", "card velocity", "decline",
        ...     (Threshold("count_5m_by_card", ">=", 5),), 0.9),))
        >>> frame = pl.DataFrame({"count_5m_by_card": [1, 7, None]})
        >>> evaluate_frame(rs, frame)["rule_action"].to_list()
        ['approve', 'decline', 'approve']
    """
    ruleset.check_fields(frame.columns)
    schema = frame.schema
    codes = [f"rule_{r.code}" for r in ruleset.rules]
    if not codes:
        return pl.DataFrame(
            {"rule_action": ["approve"] * frame.height, "rule_score": [0.0] * frame.height},
            schema={"rule_action": pl.String, "rule_score": pl.Float64},
        )
    hits = frame.select(
        [_fires(r, schema).alias(c) for r, c in zip(ruleset.rules, codes, strict=True)]
    )
    decline = [
        pl.col(c) for r, c in zip(ruleset.rules, codes, strict=True) if r.action == "decline"
    ]
    review = [pl.col(c) for r, c in zip(ruleset.rules, codes, strict=True) if r.action == "review"]
    action = (
        pl.when(pl.any_horizontal(decline) if decline else pl.lit(False))
        .then(pl.lit("decline"))
        .when(pl.any_horizontal(review) if review else pl.lit(False))
        .then(pl.lit("review"))
        .otherwise(pl.lit("approve"))
    )
    score = pl.max_horizontal(
        [
            pl.when(pl.col(c)).then(pl.lit(float(r.severity))).otherwise(pl.lit(0.0))
            for r, c in zip(ruleset.rules, codes, strict=True)
        ]
    )
    return hits.with_columns(rule_action=action, rule_score=score.cast(pl.Float64)).select(
        "rule_action", "rule_score", *codes
    )


def score_frame(ruleset: RuleSet, frame: pl.DataFrame) -> npt.NDArray[np.float64]:
    """The rule score of every row (highest severity fired, 0.0 if none) as float64.

    A rules-only baseline score column for model evaluation.

    Examples:
        >>> from riskline.rules.spec import Rule, Threshold
        >>> rs = RuleSet("demo", (Rule("fast", "card velocity", "decline",
        ...     (Threshold("count_5m_by_card", ">=", 5),), 0.9),))
        >>> score_frame(rs, pl.DataFrame({"count_5m_by_card": [1, 7]})).tolist()
        [0.0, 0.9]
    """
    return evaluate_frame(ruleset, frame)["rule_score"].to_numpy().astype(np.float64)
