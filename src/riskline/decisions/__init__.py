"""Decisions: the engine (score + rules -> Decision), the hash-chained log, and its audit."""

from riskline.decisions._backtest_report import write_backtest_report
from riskline.decisions._memory import InMemoryDecisionLog
from riskline.decisions._records import (
    GENESIS_HASH,
    BreakReason,
    DecisionBatch,
    DecisionRecord,
    EncodedColumn,
    StoredDecision,
    VerifyReport,
)
from riskline.decisions.audit import Backtest, Flip, Loader, Replay, backtest, replay, verify
from riskline.decisions.engine import (
    Decision,
    Fallback,
    ModelRunner,
    Policy,
    Reason,
    ReasonLike,
    Scored,
    Scorer,
    Thresholds,
    decide,
    score_rows,
)
from riskline.decisions.log import DecisionLog, open_decision_log

__all__ = [
    "GENESIS_HASH",
    "Backtest",
    "BreakReason",
    "Decision",
    "DecisionBatch",
    "DecisionLog",
    "DecisionRecord",
    "EncodedColumn",
    "Fallback",
    "Flip",
    "InMemoryDecisionLog",
    "Loader",
    "ModelRunner",
    "Policy",
    "Reason",
    "ReasonLike",
    "Replay",
    "Scored",
    "Scorer",
    "StoredDecision",
    "Thresholds",
    "VerifyReport",
    "backtest",
    "decide",
    "open_decision_log",
    "replay",
    "score_rows",
    "verify",
    "write_backtest_report",
]
