"""ASGI gate in front of the routes: API-key roles and body size, checked before any body
is read, so a refused request is logged without its body."""

from __future__ import annotations

import logging

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from riskline.errors import AuthenticationError, PermissionDeniedError
from riskline.serving import fastpath
from riskline.serving.auth import KeyRing, Permission
from riskline.serving.metrics import Metrics

_log = logging.getLogger("riskline.serving.auth")

ROUTES: tuple[tuple[str, str, Permission], ...] = (
    ("POST", "/v1/fraud/score", "score"),
    ("POST", "/v1/fraud/labels", "label"),
    ("GET", "/v1/decisions/", "read"),
    ("POST", "/v1/admin/", "admin"),
    ("GET", "/metrics", "admin"),
)
"""(method, path prefix, permission); paths not listed (health, OpenAPI) are public."""


def permission_for(method: str, path: str) -> Permission | None:
    for m, prefix, permission in ROUTES:
        if method == m and path.startswith(prefix):
            return permission
    return None


class Gate:
    """Refuses a request without a key (401), with a key whose role may not (403), or with a
    body larger than ``max_body`` bytes (413: declared, or counted as it arrives); answers
    the scoring POSTs itself (``fastpath.HANDLERS``).

    Inside the app it guards every route. ``fast_only`` makes an outermost copy, around the
    whole app, that takes only the scoring POSTs (same checks) and passes everything else
    through untouched: scoring then skips the framework's middleware stack.
    """

    def __init__(
        self,
        app: ASGIApp,
        keys: KeyRing,
        metrics: Metrics,
        max_body: int,
        *,
        fast_only: bool = False,
    ) -> None:
        self.app = app
        self.keys = keys
        self.metrics = metrics
        self.max_body = max_body
        self.fast_only = fast_only

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or (
            self.fast_only and (scope["path"] not in fastpath.HANDLERS or scope["method"] != "POST")
        ):
            await self.app(scope, receive, send)
            return
        method, path = scope["method"], scope["path"]
        need = permission_for(method, path)
        if need is not None:
            presented = None
            length = None
            for name, value in scope["headers"]:
                if name == b"x-api-key":
                    presented = value.decode("latin-1")
                elif name == b"content-length":
                    length = value
            try:
                key = self.keys.check(presented, need)
            except (AuthenticationError, PermissionDeniedError) as exc:
                status = 401 if isinstance(exc, AuthenticationError) else 403
                code = "unauthenticated" if status == 401 else "forbidden"
                self.metrics.errors.labels(code).inc()
                _log.warning("refused %s %s: %d %s", method, path, status, exc)  # no body
                await _send(send, status, code, str(exc))
                return
            scope.setdefault("state", {})["api_key"] = key.name
            if length is not None and (not length.isdigit() or int(length) > self.max_body):
                await self._too_large(send)
                return
            if need == "score" and path in fastpath.HANDLERS:
                scope.setdefault("app", self.app)  # outermost: the app holding the service
                await fastpath.score(scope, receive, send, self.metrics, self.max_body)
                return
            # Counted as it arrives (a chunked body declares no length), then handed on whole.
            body = await fastpath.read_body(receive, self.max_body)
            if body == "too_large":
                await self._too_large(send)
                return
            if body == "disconnected":
                return  # nobody to answer
            receive = _replay(body, receive)
        await self.app(scope, receive, send)

    async def _too_large(self, send: Send) -> None:
        self.metrics.errors.labels("too_large").inc()
        await _send(send, 413, "too_large", f"body: at most {self.max_body} bytes per request.")


def _replay(body: bytes, receive: Receive) -> Receive:
    """``receive`` for the app: the body already read, then the client's next message."""
    pending = [{"type": "http.request", "body": body, "more_body": False}]

    async def replay() -> Message:
        return pending.pop() if pending else await receive()

    return replay


async def _send(send: Send, status: int, code: str, message: str) -> None:
    body = orjson.dumps({"error": code, "message": message, "fields": []})
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if status == 401:
        headers.append((b"www-authenticate", b'ApiKey header="X-API-Key"'))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
