"""The OpenAPI contract as published: what the framework derives from the routes and bodies,
corrected where only the configured app knows better."""

from __future__ import annotations

from typing import Any

from riskline.serving.gate import permission_for
from riskline.serving.settings import ServeSettings


def published(schema: dict[str, Any], settings: ServeSettings) -> dict[str, Any]:
    """``schema`` (changed in place) with this server's limits, and no security on the
    routes the gate leaves public.

    ``BatchRequest`` declares the largest batch any server may be configured to take
    (100,000); this one refuses more than ``settings.batch_max``. The API key is declared
    for the whole app, so every operation required it, the public health probes included.
    """
    bodies = schema["components"]["schemas"]
    bodies["BatchRequest"]["properties"]["attempts"]["maxItems"] = settings.batch_max
    ahead = f" (at most {settings.max_clock_skew.total_seconds():g} s ahead of the server's clock)"
    bodies["ScoreRequest"]["properties"]["ts"]["description"] += ahead
    bodies["LabelRequest"]["properties"]["label_available_at"]["description"] += ahead
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            if permission_for(method.upper(), path) is None:
                operation["security"] = []  # no key needed
    return schema
