"""``riskline serve``: the HTTP scoring service (settings from the environment)."""

from __future__ import annotations

import os
from typing import Annotated

import typer

from riskline.cli._common import fail, run_work
from riskline.models import Model
from riskline.serving import ServeSettings, serve


def serve_command(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
) -> None:
    """Serve POST /v1/fraud/score and friends with the registry's champion (see /openapi.json).

    Settings come from the environment: RISKLINE_HOME, RISKLINE_API_KEYS or
    RISKLINE_API_KEYS_FILE, RISKLINE_BUDGET_MS, RISKLINE_LOW_CONFIDENCE, RISKLINE_BATCH_MAX,
    RISKLINE_COMPROMISED_TERMINALS, RISKLINE_TOKEN_KEY, RISKLINE_REGISTRY_URL,
    RISKLINE_DECISION_LOG_URL, RISKLINE_REDIS_URL and RISKLINE_REDIS_PREFIX (the online state
    in Redis), RISKLINE_SNAPSHOT_EVERY_MB (the embedded store's snapshots while it runs),
    RISKLINE_MAX_CLOCK_SKEW_S (how far ahead of the server's clock a ts may be, 300).
    """
    if not 0 < port < 65536:
        fail(f"--port must be in 1..65535, got {port!r}.")

    def work() -> None:
        settings = ServeSettings.from_env(os.environ)
        serve(settings, Model.from_bytes, host=host, port=port)

    run_work(work)
