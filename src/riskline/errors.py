"""Errors raised by riskline. Entrypoints (CLI, HTTP) map these to exit codes and statuses."""

from __future__ import annotations

__all__ = [
    "ArtifactIntegrityError",
    "ConfigError",
    "InvalidFeatureError",
    "InvalidRequestError",
    "LateEventError",
    "PromotionError",
    "RisklineError",
    "SchemaError",
    "ScorerUnavailableError",
    "StoreUnavailableError",
    "UnknownFeatureError",
    "UnknownVersionError",
]


class RisklineError(Exception):
    """Base class of every error riskline raises on purpose."""


class ConfigError(RisklineError):
    """A setting is missing or has a value that is not allowed."""


class SchemaError(RisklineError):
    """An events file or record does not follow the documented schema."""


class InvalidRequestError(RisklineError):
    """A user request (CLI argument, API body) is not valid."""


class InvalidFeatureError(RisklineError):
    """A feature definition is not valid; raised when it is built."""


class UnknownFeatureError(RisklineError):
    """A feature name is not part of the feature set."""


class LateEventError(RisklineError):
    """An event arrived later than the allowed lateness behind the watermark."""


class StoreUnavailableError(RisklineError):
    """The online feature store (e.g. Redis) could not be reached."""


class ScorerUnavailableError(RisklineError):
    """The model could not produce a score (missing, failed or too slow)."""


class UnknownVersionError(RisklineError):
    """A model version is not in the registry."""


class PromotionError(RisklineError):
    """A registry stage transition is not allowed."""


class ArtifactIntegrityError(RisklineError):
    """A stored artefact does not match the hash recorded for it."""
