"""Decisions: the engine (score + rules -> Decision), the hash-chained log, and its audit.

The engine and the audit load on first use: they import the models and features (LightGBM,
Polars: ~2 s), which the log alone does not need, so the decision log's writer process
(``open_decision_log(..., process=True)``) starts in a fraction of that.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from riskline.decisions._memory import InMemoryDecisionLog
from riskline.decisions._records import (
    GENESIS_HASH,
    BreakReason,
    DecisionRecord,
    StoredDecision,
    VerifyReport,
)
from riskline.decisions.log import DecisionLog, open_decision_log

if TYPE_CHECKING:
    from riskline.decisions.audit import (
        Backtest,
        Flip,
        Loader,
        Replay,
        backtest,
        replay,
        verify,
    )
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

_LAZY = {
    **dict.fromkeys(
        ("Backtest", "Flip", "Loader", "Replay", "backtest", "replay", "verify"),
        "riskline.decisions.audit",
    ),
    **dict.fromkeys(
        (
            "Decision",
            "Fallback",
            "ModelRunner",
            "Policy",
            "Reason",
            "ReasonLike",
            "Scored",
            "Scorer",
            "Thresholds",
            "decide",
            "score_rows",
        ),
        "riskline.decisions.engine",
    ),
}


def __getattr__(name: str) -> object:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


__all__ = [
    "GENESIS_HASH",
    "Backtest",
    "BreakReason",
    "Decision",
    "DecisionLog",
    "DecisionRecord",
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
]
