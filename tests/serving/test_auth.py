"""Each role can do exactly what it should; refusals are 401/403 and logged without body."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import orjson
import pytest
from fastapi import FastAPI

from riskline.errors import ConfigError
from riskline.serving import KeyRing, ServeSettings, hash_key
from tests.serving.conftest import KEYS, attempt, serve

# (method, path, body) -> the roles allowed
EVERYONE: set[str | None] = {"scorer", "analyst", "admin", None, "bogus"}
MATRIX: list[tuple[str, str, object, set[str | None]]] = [
    ("POST", "/v1/fraud/score", attempt("auth1"), {"scorer", "admin"}),
    ("POST", "/v1/fraud/score:batch", {"attempts": [attempt("auth2")]}, {"scorer", "admin"}),
    ("POST", "/v1/fraud/labels", {"transaction_id": "t0", "is_fraud": False}, {"scorer", "admin"}),
    ("GET", "/v1/decisions/x", None, {"analyst", "admin"}),
    ("POST", "/v1/admin/reload", None, {"admin"}),
    ("GET", "/metrics", None, {"admin"}),
    ("GET", "/healthz", None, EVERYONE),
    ("GET", "/readyz", None, EVERYONE),
    ("GET", "/openapi.json", None, EVERYONE),
]


def test_each_role_can_do_exactly_what_it_should(
    app: FastAPI, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, "riskline.serving.auth")

    async def main() -> None:
        async with serve(app) as client:
            await client.post(
                "/v1/fraud/score", json=attempt("t0"), headers={"X-API-Key": KEYS["scorer"]}
            )
            for method, path, body, allowed in MATRIX:
                for role in ("scorer", "analyst", "admin", None, "bogus"):
                    headers = {} if role is None else {"X-API-Key": KEYS.get(role, "nope")}
                    r = await client.request(method, path, json=body, headers=headers)
                    if role in allowed:
                        assert r.status_code not in (401, 403), (method, path, role)
                    elif role is None or role == "bogus":
                        assert r.status_code == 401, (method, path, role)
                        assert r.headers["www-authenticate"].startswith("ApiKey")
                    else:
                        assert r.status_code == 403, (method, path, role)
                        assert f"has role {role!r}" in r.json()["message"]

    asyncio.run(main())
    refused = [r.getMessage() for r in caplog.records if r.name == "riskline.serving.auth"]
    assert refused
    assert all("auth1" not in m and "amount_minor" not in m for m in refused)


def test_keys_are_stored_hashed(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    path.write_text(
        f'{{"keys": [{{"name": "ops", "role": "admin", "sha256": "{hash_key("k")}"}}]}}'
    )
    ring = KeyRing.from_file(path)
    assert ring.check("k", "admin").name == "ops"
    spec = KeyRing.from_spec(f"a:scorer:{hash_key('s')}, b:analyst:{hash_key('r')}")
    assert len(spec) == 2
    with pytest.raises(ConfigError, match="not the key itself"):
        KeyRing.from_spec("a:scorer:plaintext-key")
    with pytest.raises(ConfigError, match="role must be one of scorer, analyst, admin, got 'root'"):
        KeyRing.from_spec(f"a:root:{hash_key('s')}")
    with pytest.raises(ConfigError, match="must be name:role:sha256"):
        KeyRing.from_spec("justakey")
    path.write_text("[]")
    with pytest.raises(ConfigError, match="must be JSON"):
        KeyRing.from_file(path)


def test_one_key_listed_twice_is_refused_naming_both_entries() -> None:
    """Both entries hash to one key: it used to get the last entry's role, silently."""
    same = hash_key("shared")
    with pytest.raises(ConfigError) as raised:
        KeyRing.from_spec(f"reports:analyst:{same},ops:admin:{same}")
    assert str(raised.value) == (
        "API keys 'reports' and 'ops' have the same sha256: they are one key, which would get "
        "only the last entry's role; give each caller a key of its own."
    )


def test_an_empty_key_ring_is_refused(tmp_path: Path) -> None:
    environment = {"RISKLINE_HOME": str(tmp_path), "RISKLINE_API_KEYS": ","}
    with pytest.raises(ConfigError) as raised:
        ServeSettings.from_env(environment)
    assert str(raised.value) == (
        "RISKLINE_API_KEYS: no API key entries in ','; give name:role:sha256,..."
    )
    path = tmp_path / "keys.json"
    path.write_text('{"keys": []}')
    with pytest.raises(ConfigError, match=r"^API key file '.*keys.json' lists no keys"):
        KeyRing.from_file(path)


KEY = hash_key("k")


@pytest.mark.parametrize(
    ("entry", "why"),
    [
        (
            {"name": None, "role": "scorer", "sha256": KEY},
            "keys[1].name must be a string, got None.",
        ),
        ({"name": "a", "role": 3, "sha256": KEY}, "keys[1].role must be a string, got 3."),
        ({"name": "a", "role": "scorer"}, "keys[1].sha256 must be a string, got nothing."),
        (["a"], "keys[1] must be an object with name, role and sha256, got a JSON array."),
    ],
)
def test_a_key_file_entry_of_the_wrong_type_is_named(
    tmp_path: Path, entry: object, why: str
) -> None:
    path = tmp_path / "keys.json"
    good = {"name": "ops", "role": "admin", "sha256": hash_key("ops")}
    path.write_bytes(orjson.dumps({"keys": [good, entry]}))
    environment = {"RISKLINE_HOME": str(tmp_path), "RISKLINE_API_KEYS_FILE": str(path)}
    with pytest.raises(ConfigError) as raised:
        ServeSettings.from_env(environment)
    assert str(raised.value) == f"RISKLINE_API_KEYS_FILE: API key file {str(path)!r}: {why}"
