"""POST /v1/fraud/score as a plain ASGI handler: the same validation, answers and errors as
the FastAPI route (which documents it in OpenAPI), without the framework's per-request
dependency solving and double JSON parsing. Measured in bench/serve.py."""

from __future__ import annotations

import logging

import orjson
from pydantic import ValidationError
from starlette.types import Receive, Scope, Send

from riskline.errors import RisklineError
from riskline.serving.metrics import Metrics
from riskline.serving.schemas import ScoreRequest
from riskline.serving.status import error_body, for_error, for_validation

_log = logging.getLogger("riskline.serving")
PATH = "/v1/fraud/score"


async def score(
    scope: Scope, receive: Receive, send: Send, metrics: Metrics, max_body: int
) -> None:
    """Answer one scoring request; the caller has checked the key and the declared size."""
    body = bytearray()
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return
        body += message.get("body", b"")
        if len(body) > max_body:
            metrics.errors.labels("too_large").inc()
            await _reply(send, 413, error_body("too_large", f"body: at most {max_body} bytes."))
            return
        if not message.get("more_body"):
            break
    try:
        request = ScoreRequest.model_validate_json(bytes(body))
        answer = await scope["app"].state.service.score(request)
        status, content = 200, answer
    except ValidationError as exc:
        metrics.errors.labels("invalid_request").inc()
        status, content = 422, for_validation(exc.errors(include_input=False), ("body",))
    except RisklineError as exc:
        status, content = for_error(exc)
        metrics.errors.labels(str(content["error"])).inc()
    except Exception:
        metrics.errors.labels("internal").inc()
        _log.exception("POST %s crashed", PATH)
        status, content = 500, error_body("internal", "internal error; it has been logged.")
    await _reply(send, status, content)


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
