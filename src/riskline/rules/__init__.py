"""Rules: pure, declarative conditions over features and event fields; the fallback policy."""

from riskline.rules.batch import Outcomes, evaluate_many
from riskline.rules.frame import evaluate_frame, score_frame
from riskline.rules.outcome import FieldValue, Hit, Outcome, Verdict, evaluate
from riskline.rules.spec import (
    ACTIONS,
    OPS,
    Action,
    Condition,
    Membership,
    Op,
    Rule,
    RuleSet,
    Threshold,
)

__all__ = [
    "ACTIONS",
    "OPS",
    "Action",
    "Condition",
    "FieldValue",
    "Hit",
    "Membership",
    "Op",
    "Outcome",
    "Outcomes",
    "Rule",
    "RuleSet",
    "Threshold",
    "Verdict",
    "evaluate",
    "evaluate_frame",
    "evaluate_many",
    "score_frame",
]
