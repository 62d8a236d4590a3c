"""Errors raised by riskline. Entrypoints (CLI, HTTP) map these to exit codes and statuses."""

from __future__ import annotations

__all__ = [
    "ArtifactIntegrityError",
    "AuthenticationError",
    "ConfigError",
    "DecisionLogUnavailableError",
    "DuplicateDecisionError",
    "InvalidDecisionError",
    "InvalidFeatureError",
    "InvalidModelError",
    "InvalidRegistrationError",
    "InvalidRequestError",
    "InvalidRuleError",
    "InvalidSplitError",
    "LateEventError",
    "PermissionDeniedError",
    "PromotionError",
    "RegistryUnavailableError",
    "RisklineError",
    "SchemaError",
    "ScorerUnavailableError",
    "StoreUnavailableError",
    "UnknownDecisionError",
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


class InvalidRuleError(RisklineError):
    """A rule or rule set definition is not valid; raised when it is built."""


class AuthenticationError(RisklineError):
    """A request carries no API key or a key that is not configured."""


class PermissionDeniedError(RisklineError):
    """A request's API key is valid but its role may not do this."""


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


class InvalidRegistrationError(RisklineError):
    """A model version's kind, lineage, parameters, metrics or decision policy are not valid."""


class PromotionError(RisklineError):
    """A registry stage transition is not allowed."""


class ArtifactIntegrityError(RisklineError):
    """A stored artefact does not match the hash recorded for it."""


class InvalidDecisionError(RisklineError):
    """A decision record cannot be logged (empty id, naive time, body not JSON)."""


class DuplicateDecisionError(RisklineError):
    """A decision with this ``(kind, transaction_id)`` or ``decision_id`` is already logged.

    ``existing`` is the record already in the log (a ``riskline.decisions.StoredDecision``;
    typed ``object`` here because errors sit below every other layer). It is committed, so a
    caller may answer with it instead of deciding again.
    """

    def __init__(self, message: str, existing: object) -> None:
        super().__init__(message)
        self.existing = existing

    def __reduce__(self) -> tuple[type[DuplicateDecisionError], tuple[str, object]]:
        return (type(self), (str(self), self.existing))


class UnknownDecisionError(RisklineError):
    """No decision with this id is in the decision log."""


class DecisionLogUnavailableError(RisklineError):
    """The decision log could not commit a record (writer failed or log closed).

    The record was not acknowledged; it may be retried with the same ``transaction_id``.
    """


class InvalidSplitError(RisklineError):
    """A train / validation / test time split is not valid for the events given."""


class InvalidModelError(RisklineError):
    """A model cannot be trained or loaded (no positive labels, corrupt artefact bytes)."""


class RegistryUnavailableError(RisklineError):
    """The model registry's database could not be opened (unreachable, missing, refused) or
    failed a query once open (server gone, lock not granted, tables dropped or changed)."""
