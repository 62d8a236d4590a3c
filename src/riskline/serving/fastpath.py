"""POST /v1/fraud/score and /v1/fraud/score:batch as plain ASGI handlers: the same
validation, answers and errors as the FastAPI routes (which document them in OpenAPI),
without the framework's per-request dependency solving and double JSON parsing (one
``model_validate_json`` of the raw body). Measured in bench/serve.py."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Literal

import orjson
from pydantic import ValidationError
from starlette.types import Receive, Scope, Send

from riskline.errors import RisklineError
from riskline.serving.metrics import Metrics
from riskline.serving.schemas import BatchRequest, ScoreRequest
from riskline.serving.status import error_body, for_error, for_validation

if TYPE_CHECKING:
    from riskline.serving.service import Service

_log = logging.getLogger("riskline.serving")
PATH = "/v1/fraud/score"
BATCH_PATH = "/v1/fraud/score:batch"


async def _one(service: Service, raw: bytes, started: float) -> object:
    return await service.score(ScoreRequest.model_validate_json(raw))


async def _batch(service: Service, raw: bytes, started: float) -> object:
    answers = await service.score_batch(BatchRequest.model_validate_json(raw).attempts)
    took = (time.perf_counter() - started) * 1000  # arrival to answers committed, parsing included
    return {"decisions": answers, "server_ms": round(took, 3)}


HANDLERS: dict[str, Callable[[Service, bytes, float], Awaitable[object]]] = {
    PATH: _one,
    BATCH_PATH: _batch,
}
"""Path -> handler of the validated body; every one is a POST needing the score permission."""


async def score(
    scope: Scope, receive: Receive, send: Send, metrics: Metrics, max_body: int
) -> None:
    """Answer a scoring request; the caller has checked the key and the declared size."""
    started = time.perf_counter()
    handle = HANDLERS[scope["path"]]
    body = await read_body(receive, max_body)
    if body == "disconnected":
        return
    if body == "too_large":
        metrics.errors.labels("too_large").inc()
        await _reply(send, 413, error_body("too_large", f"body: at most {max_body} bytes."))
        return
    try:
        content = await handle(scope["app"].state.service, body, started)
        status = 200
    except ValidationError as exc:
        metrics.errors.labels("invalid_request").inc()
        status, content = 422, for_validation(exc.errors(include_input=False), ("body",))
    except RisklineError as exc:
        status, content = for_error(exc)
        metrics.errors.labels(str(content["error"])).inc()
    except Exception:
        metrics.errors.labels("internal").inc()
        _log.exception("POST %s crashed", scope["path"])
        status, content = 500, error_body("internal", "internal error; it has been logged.")
    await _reply(send, status, content)


async def read_body(receive: Receive, limit: int) -> bytes | Literal["too_large", "disconnected"]:
    """The whole body, counted as it arrives (a chunked body declares no length), unless it
    grows past ``limit`` bytes or the client leaves first."""
    body = bytearray()
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return "disconnected"
        body += message.get("body", b"")
        if len(body) > limit:
            return "too_large"
        if not message.get("more_body"):
            return bytes(body)


async def _reply(send: Send, status: int, content: object) -> None:
    payload = orjson.dumps(content)
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})
