"""Fuzzing of the OpenAPI contract with schemathesis against a real uvicorn process: no 5xx
on any generated input (valid or not), responses match the contract, every 422 names its
fields. (schemathesis' pytest loader does not run under pytest 9, so strategies are driven
with Hypothesis directly.)"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.generation.modes import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.e2e.process import ServerProcess, free_port
from tests.serving.conftest import ADMIN, MODEL, register


def fields_named(ctx: object, response: Any, case: object) -> bool | None:
    """A 422 says which fields are wrong, in ``fields`` and in ``message``."""
    if response.status_code != 422:
        return None
    body = response.json()
    assert body["fields"], body
    assert all(f in body["message"] for f in body["fields"]), body
    return None


def takes_input(operation: Any) -> bool:
    """Whether a request to ``operation`` carries anything: a parameter, a body or a key (the
    public health probes take none, so they have no negative cases)."""
    raw = operation.definition.raw
    return bool(raw.get("parameters") or raw.get("requestBody") or raw.get("security"))


@pytest.mark.slow
@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_contract_holds_for_generated_input(tmp_path: Path, mode: GenerationMode) -> None:
    register(tmp_path, MODEL)
    server = ServerProcess(tmp_path, free_port())
    try:
        api = schemathesis.openapi.from_url(f"{server.url}/openapi.json")
        checks: list[Any] = [not_a_server_error, fields_named]
        if mode is GenerationMode.POSITIVE:
            checks += [
                status_code_conformance,
                content_type_conformance,
                response_schema_conformance,
            ]
        operations = [result.ok() for result in api.get_all_operations()]  # type: ignore[union-attr]
        assert len(operations) >= 8
        for operation in operations:
            if mode is GenerationMode.NEGATIVE and not takes_input(operation):
                continue  # nothing to make invalid

            @given(case=operation.as_strategy(mode))
            @settings(
                max_examples=20,
                deadline=None,
                derandomize=True,
                database=None,
                suppress_health_check=list(HealthCheck),
            )
            def run(case: schemathesis.Case[Any]) -> None:
                case.call_and_validate(base_url=server.url, headers=ADMIN, checks=checks)

            run()
    finally:
        server.stop()
