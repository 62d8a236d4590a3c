"""Model registry: versioned opaque artefacts with lineage, stages and an audit trail.

Backed by SQL through SQLAlchemy Core (SQLite file by default, PostgreSQL by URL); artefact
bytes live in a content-addressed folder and are checked against their SHA-256 on load.
"""

from riskline.registry._gate import PromotionGate
from riskline.registry._registry import Registry
from riskline.registry._values import (
    REQUIRED_METRICS,
    STAGES,
    AuditEvent,
    Lineage,
    ModelVersion,
    ParamValue,
    Stage,
)

__all__ = [
    "REQUIRED_METRICS",
    "STAGES",
    "AuditEvent",
    "Lineage",
    "ModelVersion",
    "ParamValue",
    "PromotionGate",
    "Registry",
    "Stage",
]
