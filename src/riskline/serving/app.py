"""The HTTP app: routes, the one table from error class to HTTP status, and composition."""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

import orjson
from fastapi import FastAPI, Request, Security
from fastapi.exceptions import RequestValidationError
from fastapi.security import APIKeyHeader
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import PlainTextResponse, Response

from riskline.decisions import DecisionLog, Loader, open_decision_log
from riskline.errors import RisklineError
from riskline.features import EmbeddedStore, OnlineEngine, RedisStore, StateStore
from riskline.fraud import FRAUD_FEATURES
from riskline.registry import Registry
from riskline.serving.champion import Models
from riskline.serving.contract import published
from riskline.serving.gate import Gate
from riskline.serving.metrics import Metrics
from riskline.serving.schemas import (
    BatchRequest,
    BatchResponse,
    DecisionBody,
    ErrorBody,
    LabelRequest,
    LabelResponse,
    ScoreRequest,
    ScoreResponse,
)
from riskline.serving.service import Service
from riskline.serving.settings import ServeSettings
from riskline.serving.status import error_body, for_error, for_http, for_validation

_log = logging.getLogger("riskline.serving")

_ERRORS = {401: ErrorBody, 403: ErrorBody, 413: ErrorBody, 422: ErrorBody, 503: ErrorBody}
_RESPONSES: dict[int | str, dict[str, object]] = {
    s: {"model": m, "description": "error"} for s, m in _ERRORS.items()
}
_KEY = APIKeyHeader(name="X-API-Key", auto_error=False, description="API key (role-based)")


def json_response(content: object, status: int = 200) -> Response:
    return Response(orjson.dumps(content), status, media_type="application/json")


def _error(status: int, code: str, message: str, fields: list[str] | None = None) -> Response:
    return json_response(error_body(code, message, fields or []), status)


def create_app(
    settings: ServeSettings,
    loader: Loader,
    *,
    store: StateStore | None = None,
    log: DecisionLog | None = None,
    clock: Callable[[], datetime] | None = None,
) -> FastAPI:
    """The scoring service. Opens the registry, decision log and online store at startup
    (``store`` and ``log`` override the ones the settings name) and closes them at
    shutdown."""
    metrics = Metrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        registry = Registry.open(settings.base.registry_url, settings.artifacts_dir)
        decisions = log if log is not None else _decision_log(settings)
        state = store or _online_store(settings)
        models = Models(registry, loader, settings.kind, settings.model_workers)
        try:
            models.reload()
        except RisklineError:
            _log.exception("could not load the champion; deciding by rules until reloaded")
        metrics.model_loaded.set(1 if models.champion.version else 0)
        service = Service(
            settings,
            OnlineEngine(FRAUD_FEATURES, state),
            decisions,
            models,
            metrics,
            **({"clock": clock} if clock else {}),
        )
        app.state.service = service
        try:
            yield
        finally:
            await service.close()
            models.close()
            decisions.close()
            state.close()
            registry.close()

    app = FastAPI(
        title="riskline fraud scoring",
        version="1",
        lifespan=lifespan,
        dependencies=[Security(_KEY)],
        description="Score payment attempts within a latency budget; every decision is logged.",
    )
    app.add_middleware(Gate, keys=settings.keys, metrics=metrics, max_body=settings.max_body_bytes)
    app.state.metrics = metrics

    def service_of(request: Request) -> Service:
        svc: Service = request.app.state.service
        return svc

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> Response:
        metrics.errors.labels("invalid_request").inc()
        return json_response(for_validation(exc.errors()), 422)

    @app.exception_handler(StarletteHTTPException)
    async def refused(request: Request, exc: StarletteHTTPException) -> Response:
        """The framework's own refusals (no such route, wrong method, an unreadable body)
        in the documented error body instead of its ``{"detail": ...}``."""
        headers = exc.headers or {}
        method, path = request.method, request.url.path
        status, body = for_http(
            exc.status_code, str(exc.detail), method, path, headers.get("Allow")
        )
        metrics.errors.labels(str(body["error"])).inc()
        response = json_response(body, status)
        response.headers.update(headers)  # Allow, on a 405
        return response

    @app.exception_handler(RisklineError)
    async def failed(request: Request, exc: RisklineError) -> Response:
        status, body = for_error(exc)
        metrics.errors.labels(str(body["error"])).inc()
        if status >= 500:
            _log.error("%s %s failed: %s", request.method, request.url.path, exc)
        return json_response(body, status)

    @app.exception_handler(Exception)
    async def crashed(request: Request, exc: Exception) -> Response:
        metrics.errors.labels("internal").inc()
        _log.exception("%s %s crashed", request.method, request.url.path)
        return _error(500, "internal", "internal error; it has been logged.")

    @app.post("/v1/fraud/score", response_model=ScoreResponse, responses=_RESPONSES)
    async def score(body: ScoreRequest, request: Request) -> Response:
        """Decide one payment attempt (the same answer again for a known transaction_id)."""
        raise AssertionError("the gate answers this route (fastpath.HANDLERS)")

    @app.post("/v1/fraud/score:batch", response_model=BatchResponse, responses=_RESPONSES)
    async def score_batch(body: BatchRequest, request: Request) -> Response:
        """Decide up to the configured number of attempts with one model call; ``server_ms``
        is the time from the request's arrival to its answers being committed."""
        raise AssertionError("the gate answers this route (fastpath.HANDLERS)")

    @app.post(
        "/v1/fraud/labels",
        response_model=LabelResponse,
        responses={**_RESPONSES, 404: {"model": ErrorBody, "description": "unknown transaction"}},
    )
    async def label(body: LabelRequest, request: Request) -> Response:
        """Chargeback / confirmed-fraud feedback for a decided transaction (once per id)."""
        return json_response(await service_of(request).label(body))

    @app.get(
        "/v1/decisions/{decision_id}",
        response_model=DecisionBody,
        responses={**_RESPONSES, 404: {"model": ErrorBody, "description": "unknown id"}},
    )
    async def decision(decision_id: str, request: Request) -> Response:
        """The full logged record of one decision, with its chain hashes."""
        record = await service_of(request).decision(decision_id)
        return json_response(
            {
                "seq": record.seq,
                "decision_id": record.decision_id,
                "transaction_id": record.transaction_id,
                "kind": record.kind,
                "decided_at": record.decided_at.isoformat(),
                "body": record.body,
                "prev_hash": record.prev_hash,
                "hash": record.hash,
            }
        )

    @app.post("/v1/admin/reload", responses=_RESPONSES)
    async def reload(request: Request) -> Response:
        """Serve the registry's current champion and shadow (admin)."""
        service = service_of(request)
        await service.drain()  # pending shadow work finishes on the models it started with
        # Loading a model (parsing its trees, building its Tree SHAP tables: ~0.4 s for 200
        # trees) runs in a thread, so the requests scored meanwhile keep their budget; the
        # new champion is swapped in whole when it is ready.
        champion = await asyncio.to_thread(service.models.reload)
        metrics.model_loaded.set(1 if champion.version else 0)
        shadow = champion.shadow.version if champion.shadow else None
        return json_response({"champion": champion.version, "shadow": shadow})

    @app.get("/healthz")
    async def healthz() -> Response:
        """The process answers."""
        return json_response({"status": "ok"})

    @app.get("/readyz", responses={503: {"description": "not ready"}})
    async def readyz(request: Request) -> Response:
        """Ready when a champion is loaded and the online store and decision log answer."""
        svc = service_of(request)
        store, log = await asyncio.gather(svc.ping_store(), svc.ping_log())
        model = svc.models.champion.version is not None
        checks = {"model": model, "store": store, "decision_log": log}
        ok = all(checks.values())
        return json_response({"ready": ok, "checks": checks}, 200 if ok else 503)

    @app.get("/metrics", response_class=PlainTextResponse, responses=_RESPONSES)
    async def prometheus() -> Response:
        """Prometheus metrics (admin)."""
        return Response(metrics.render(), media_type="text/plain; version=0.0.4")

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = published(FastAPI.openapi(app), settings)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app


def _decision_log(settings: ServeSettings) -> DecisionLog:
    """The log at ``RISKLINE_DECISION_LOG_URL``, in ``RISKLINE_DECISION_LOG_SCHEMA`` if set."""
    base = settings.base
    return open_decision_log(base.decision_log_url, schema=base.decision_log_schema)


def _online_store(settings: ServeSettings) -> StateStore | EmbeddedStore:
    """Redis at ``RISKLINE_REDIS_URL`` if set (shared by every server of a deployment), else
    the embedded store under ``RISKLINE_HOME``."""
    base = settings.base
    if base.redis_url:
        return RedisStore(base.redis_url, prefix=base.redis_prefix).open()
    path, every = settings.online_store_path, settings.snapshot_every_bytes
    return EmbeddedStore(path, snapshot_every_bytes=every).open()


def quiet_gc() -> tuple[int, int, int]:
    """The service's garbage-collection policy; returns the thresholds it replaced.

    The online state is millions of long-lived, acyclic objects: a full collection scans all
    of them and was the p99 (16 ms at 1,000 req/s, 5-7 ms without; bench/serve.py). Young
    generations still collect (a request's cycles die young), after 50,000 net allocations
    rather than 700: a batch of 1,000 attempts ran ~30 young collections (2-3 ms) and keeps
    about as many objects alive until answered. The oldest is left to an explicit
    ``gc.collect()``; what is already allocated is frozen (``gc.unfreeze`` undoes it).
    """
    previous = gc.get_threshold()
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 10, 1_000_000_000)
    return previous


def serve(
    settings: ServeSettings, loader: Loader, host: str = "127.0.0.1", port: int = 8000
) -> None:
    """Run the service with uvicorn until interrupted (the ``riskline serve`` command).

    One process, one event loop; the access log is off (decisions are in the decision log,
    refusals in the ``riskline.serving.auth`` logger).
    """
    import uvicorn

    quiet_gc()
    app = create_app(settings, loader)
    keys, metrics, limit = settings.keys, app.state.metrics, settings.max_body_bytes
    uvicorn.run(
        Gate(app, keys, metrics, limit, fast_only=True),
        host=host,
        port=port,
        log_level="warning",
        access_log=False,
        proxy_headers=False,  # not behind a proxy by default; client addresses are not logged
        http="httptools" if _has("httptools") else "h11",
        loop="uvloop" if _has("uvloop") else "asyncio",
    )


def _has(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None
