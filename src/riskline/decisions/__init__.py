"""Decisions: the append-only, hash-chained decision log."""

from riskline.decisions._memory import InMemoryDecisionLog
from riskline.decisions._records import (
    GENESIS_HASH,
    BreakReason,
    DecisionRecord,
    StoredDecision,
    VerifyReport,
)
from riskline.decisions.log import DecisionLog, open_decision_log

__all__ = [
    "GENESIS_HASH",
    "BreakReason",
    "DecisionLog",
    "DecisionRecord",
    "InMemoryDecisionLog",
    "StoredDecision",
    "VerifyReport",
    "open_decision_log",
]
