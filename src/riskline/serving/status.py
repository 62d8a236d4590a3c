"""The one table from error class to HTTP status, and the error body every 4xx/5xx carries."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from http import HTTPStatus

from riskline.errors import (
    AuthenticationError,
    ConfigError,
    DecisionLogUnavailableError,
    InvalidRequestError,
    PermissionDeniedError,
    RegistryUnavailableError,
    RisklineError,
    SchemaError,
    UnknownDecisionError,
    UnknownVersionError,
)

STATUS: tuple[tuple[type[RisklineError], int, str], ...] = (
    (AuthenticationError, 401, "unauthenticated"),
    (PermissionDeniedError, 403, "forbidden"),
    (UnknownDecisionError, 404, "not_found"),
    (UnknownVersionError, 404, "not_found"),
    (InvalidRequestError, 422, "invalid_request"),
    (SchemaError, 422, "invalid_request"),
    (DecisionLogUnavailableError, 503, "log_unavailable"),
    (RegistryUnavailableError, 503, "registry_unavailable"),
    (ConfigError, 500, "misconfigured"),
    (RisklineError, 500, "internal"),
)
"""Error class -> (HTTP status, error code); the first matching row wins."""


def error_body(code: str, message: str, fields: Sequence[str] = ()) -> dict[str, object]:
    return {"error": code, "message": message, "fields": list(fields)}


def for_error(exc: RisklineError) -> tuple[int, dict[str, object]]:
    """Status and body of a riskline error; a 422 message ``field: why`` names its field."""
    status, code = next((s, c) for t, s, c in STATUS if isinstance(exc, t))
    text = str(exc)
    field = text.split(":", 1)[0] if status == 422 and ":" in text else None
    return status, error_body(code, text, [field] if field else [])


def for_http(
    status: int, detail: str, method: str, path: str, allow: str | None = None
) -> tuple[int, dict[str, object]]:
    """Status and body of an HTTP error raised by the framework itself (its router, its body
    parsing), which says only ``detail``; ``allow``: the methods a path takes (on a 405)."""
    if status == 404:
        return 404, error_body("not_found", f"no route {method} {path}; see /openapi.json.")
    if status == 405:
        takes = f"; it takes {allow}" if allow else ""
        return 405, error_body("method_not_allowed", f"{method} is not allowed on {path}{takes}.")
    if status == 400:  # the framework could not read the body as JSON (invalid UTF-8, ...)
        message = "body: could not be read as JSON; send JSON text in UTF-8."
        return 400, error_body("bad_request", message, ["body"])
    try:
        code = HTTPStatus(status).phrase.lower().replace(" ", "_")
    except ValueError:
        code = "http_error"
    return status, error_body(code, f"{detail.rstrip('.')}.")


def for_validation(
    errors: Iterable[Mapping[str, object]], prefix: tuple[str, ...] = ()
) -> dict[str, object]:
    """The 422 body for pydantic errors: each field path and why, never the input value."""
    fields, parts = [], []
    for e in errors:
        loc = e.get("loc", ())
        path = _path((*prefix, *(loc if isinstance(loc, tuple) else ())))
        fields.append(path or "body")
        parts.append(f"{path or 'body'}: {e.get('msg', 'invalid')}")
    return error_body("invalid_request", "; ".join(parts), fields)


def _path(loc: tuple[object, ...]) -> str:
    """``("body", "attempts", 1, "ts")`` -> ``body.attempts[1].ts``."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else f".{part}" if out else str(part)
    return out
