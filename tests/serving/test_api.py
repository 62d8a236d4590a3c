"""The HTTP contract: scoring, batch, labels, decisions, health, metrics and clear 4xx."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
from fastapi import FastAPI

import riskline.serving as serving_api
from riskline.decisions import DecisionRecord, open_decision_log
from riskline.events import PAYMENT_COLUMNS, tokenize_pan
from riskline.fraud.features import LABEL_DELAY
from riskline.serving import create_app
from riskline.serving.schemas import LABEL_COLUMNS, ScoreRequest
from tests.serving.conftest import ADMIN, ANALYST, MODEL, SCORER, attempt, serve, settings_for
from tests.serving.fakes import LinearModel


def test_serving_public_api() -> None:
    assert serving_api.__all__ == [
        "GRANTS",
        "ROLES",
        "STATUS",
        "ApiKey",
        "KeyRing",
        "Role",
        "ServeSettings",
        "create_app",
        "hash_key",
        "serve",
    ]


def test_request_model_is_the_payment_schema() -> None:
    columns = {c.name for c in PAYMENT_COLUMNS} - set(LABEL_COLUMNS)
    assert set(ScoreRequest.model_fields) == columns | {"card_number"}


def test_score_answers_and_logs_the_decision(app: FastAPI) -> None:
    async def main() -> None:
        async with serve(app) as client:
            r = await client.post("/v1/fraud/score", json=attempt(), headers=SCORER)
            assert r.status_code == 200
            body = r.json()
            expected = MODEL.score(
                [{"value_amount_minor": 2_500, "count_5m_by_card": 0, "count_1h_by_customer": 0}]
            )[0]
            assert body["score"] == expected
            assert (body["decision"], body["fallback"], body["duplicate"]) == (
                "approve",
                None,
                False,
            )
            assert body["model_version"] == "fraud-v1"
            assert body["rules_version"].startswith("fraud_rules-")
            logged = await client.get(f"/v1/decisions/{body['decision_id']}", headers=ANALYST)
            assert logged.status_code == 200
            record = logged.json()
            assert (record["seq"], record["transaction_id"]) == (1, "t1")
            assert record["body"]["score"] == expected
            assert record["body"]["request"]["amount_minor"] == 2_500
            assert record["body"]["features"]["value_amount_minor"] == 2_500

    asyncio.run(main())


def test_batch_scores_many_and_rejects_oversized_and_repeated(home: Path) -> None:
    app = create_app(settings_for(home, batch_max=3), LinearModel.from_bytes)

    async def main() -> None:
        async with serve(app) as client:
            ok = await client.post(
                "/v1/fraud/score:batch",
                json={"attempts": [attempt(f"b{i}", amount_minor=i * 40_000) for i in range(3)]},
                headers=SCORER,
            )
            assert ok.status_code == 200
            decisions = ok.json()["decisions"]
            assert [d["transaction_id"] for d in decisions] == ["b0", "b1", "b2"]
            assert decisions[2]["score"] > decisions[0]["score"]
            big = await client.post(
                "/v1/fraud/score:batch",
                json={"attempts": [attempt(f"c{i}") for i in range(4)]},
                headers=SCORER,
            )
            assert big.status_code == 422
            assert big.json()["message"] == "attempts: at most 3 per batch, got 4; split the batch."
            same = await client.post(
                "/v1/fraud/score:batch",
                json={"attempts": [attempt("d"), attempt("d")]},
                headers=SCORER,
            )
            assert same.status_code == 422
            assert same.json()["fields"] == ["attempts[1].transaction_id"]
            typed = await client.post(
                "/v1/fraud/score:batch",
                json={"attempts": [attempt("e0"), attempt("e1", amount_minor="12")]},
                headers=SCORER,
            )
            assert typed.status_code == 422
            assert typed.json()["fields"] == ["body.attempts[1].amount_minor"]
            again = await client.post(
                "/v1/fraud/score:batch",
                json={"attempts": [attempt("b1", amount_minor=40_000), attempt("b3")]},
                headers=SCORER,
            )
            assert [d["duplicate"] for d in again.json()["decisions"]] == [True, False]
            assert again.json()["decisions"][0]["decision_id"] == decisions[1]["decision_id"]
            assert ok.json()["server_ms"] > 0
            fresh = [*decisions, again.json()["decisions"][1]]  # answered once committed
            assert all(0 < d["latency_ms"] <= ok.json()["server_ms"] for d in decisions)
            assert all(d["duplicate"] is False and d["latency_ms"] > 0 for d in fresh)

    asyncio.run(main())


def test_a_batch_decision_reads_back_as_a_single_one_does(app: FastAPI) -> None:
    """A batch is logged as columns; each of its decisions reads back, is answered again to
    a retry, and takes a label, exactly as a decision logged alone."""

    async def main() -> None:
        async with serve(app) as client:
            one = await client.post("/v1/fraud/score", json=attempt("s1"), headers=SCORER)
            attempts = [attempt(f"m{i}", amount_minor=900_000 * (i % 2) + 2_500) for i in range(6)]
            many = await client.post(
                "/v1/fraud/score:batch", json={"attempts": attempts}, headers=SCORER
            )
            answers = many.json()["decisions"]
            assert {a["decision"] for a in answers} == {"approve", "decline"}
            single = (
                await client.get(f"/v1/decisions/{one.json()['decision_id']}", headers=ANALYST)
            ).json()
            for i, answer in enumerate(answers):
                got = await client.get(f"/v1/decisions/{answer['decision_id']}", headers=ANALYST)
                record = got.json()
                assert (record["transaction_id"], record["kind"]) == (f"m{i}", "fraud")
                body = record["body"]
                assert set(body) == set(single["body"])
                for key in ("score", "reasons", "fallback", "model_version", "rules_version"):
                    assert body[key] == answer[key]
                assert body["action"] == answer["decision"]
                assert body["request"]["amount_minor"] == attempts[i]["amount_minor"]
                assert {k: type(v) for k, v in body["features"].items()} == {
                    k: type(v) for k, v in single["body"]["features"].items()
                }
                assert body["thresholds"] == single["body"]["thresholds"]
            seqs = [
                (await client.get(f"/v1/decisions/{a['decision_id']}", headers=ANALYST)).json()[
                    "seq"
                ]
                for a in answers
            ]
            assert seqs == list(range(seqs[0], seqs[0] + 6))
            retry = await client.post("/v1/fraud/score", json=attempts[3], headers=SCORER)
            assert retry.json() == {
                **answers[3],
                "duplicate": True,
                "latency_ms": retry.json()["latency_ms"],
            }
            label = {"transaction_id": "m3", "is_fraud": True}
            labelled = await client.post("/v1/fraud/labels", json=label, headers=SCORER)
            assert labelled.status_code == 200
            assert labelled.json()["duplicate"] is False

    asyncio.run(main())


def test_bad_input_gets_422_naming_the_field(app: FastAPI) -> None:
    cases = [
        (attempt(amount_minor="12"), "body.amount_minor"),
        (attempt(amount_minor=-1), "body.amount_minor"),
        (attempt(ts="2026-03-01T12:00:00"), "body.ts"),
        (attempt(currency="euro"), "body.currency"),
        (attempt(channel="phone"), "body.channel"),
        (attempt(surprise=1), "body.surprise"),
        (attempt(card_token="4111 1111 1111 1111"), "body.card_token"),
        ({k: v for k, v in attempt().items() if k != "transaction_id"}, "body.transaction_id"),
    ]

    async def main() -> None:
        async with serve(app) as client:
            for body, field in cases:
                r = await client.post("/v1/fraud/score", json=body, headers=SCORER)
                assert r.status_code == 422, body
                assert field in r.json()["fields"], r.json()
                assert field in r.json()["message"]
            r = await client.post("/v1/fraud/score", content=b"{not json", headers=SCORER)
            assert r.status_code == 422
            no_entity = {
                k: v for k, v in attempt().items() if k not in ("customer_id", "card_token")
            }
            r = await client.post("/v1/fraud/score", json=no_entity, headers=SCORER)
            assert r.status_code == 422
            assert "needs customer_id, card_token or card_number" in r.json()["message"]

    asyncio.run(main())


def test_card_numbers_are_tokenised_and_never_logged(home: Path, app: FastAPI) -> None:
    pan = "4111111111111111"
    body = attempt("pan1", card_token=None, card_number=pan)

    async def main() -> None:
        async with serve(app) as client:
            r = await client.post("/v1/fraud/score", json=body, headers=SCORER)
            assert r.status_code == 200

    asyncio.run(main())
    with open_decision_log(f"sqlite:///{home / 'decisions.db'}") as log:
        record = log.find("fraud", "pan1")
        assert record is not None
        assert record.body["request"]["card_token"] == tokenize_pan(pan, b"test-key")  # type: ignore[index]
        assert pan.encode() not in orjson.dumps(record.body)
    assert pan.encode() not in (home / "decisions.db").read_bytes()


def test_labels_feed_once_and_unknown_is_404(app: FastAPI) -> None:
    async def main() -> None:
        async with serve(app) as client:
            await client.post("/v1/fraud/score", json=attempt(), headers=SCORER)
            label = {
                "transaction_id": "t1",
                "is_fraud": True,
                "label_available_at": "2026-03-20T00:00:00Z",
            }
            first = await client.post("/v1/fraud/labels", json=label, headers=SCORER)
            assert first.status_code == 200
            assert first.json() == {
                "transaction_id": "t1",
                "is_fraud": True,
                "counted_from": "2026-03-20T00:00:00+00:00",
                "duplicate": False,
            }
            again = await client.post("/v1/fraud/labels", json=label, headers=SCORER)
            assert again.json()["duplicate"] is True
            missing = await client.post(
                "/v1/fraud/labels",
                json={"transaction_id": "nope", "is_fraud": True},
                headers=SCORER,
            )
            assert missing.status_code == 404
            assert "'nope' has no logged decision" in missing.json()["message"]
            unknown = await client.get("/v1/decisions/nope", headers=ANALYST)
            assert unknown.status_code == 404

    asyncio.run(main())


def test_health_ready_metrics_openapi(app: FastAPI) -> None:
    async def main() -> None:
        async with serve(app) as client:
            assert (await client.get("/healthz")).json() == {"status": "ok"}
            ready = await client.get("/readyz")
            assert ready.json() == {
                "ready": True,
                "checks": {"model": True, "store": True, "decision_log": True},
            }
            await client.post("/v1/fraud/score", json=attempt(), headers=SCORER)
            await client.post("/v1/fraud/score", json=attempt(amount_minor="x"), headers=SCORER)
            batch = {"attempts": [attempt("m1"), attempt("m2")]}
            await client.post("/v1/fraud/score:batch", json=batch, headers=SCORER)
            text = (await client.get("/metrics", headers=ADMIN)).text
            assert 'riskline_decisions_total{action="approve"} 3.0' in text
            assert 'riskline_errors_total{kind="invalid_request"} 1.0' in text
            assert "riskline_decision_seconds_count 1.0" in text  # one single request
            assert "riskline_batch_seconds_count 1.0" in text  # one batch of two
            assert 'riskline_fallbacks_total{reason="timeout"} 0.0' in text
            spec = (await client.get("/openapi.json")).json()
            assert {
                "/v1/fraud/score",
                "/v1/fraud/score:batch",
                "/v1/fraud/labels",
                "/v1/decisions/{decision_id}",
                "/healthz",
                "/readyz",
                "/metrics",
            } <= set(spec["paths"])

    asyncio.run(main())


def test_not_ready_without_a_champion(tmp_path: Path) -> None:
    app = create_app(settings_for(tmp_path), LinearModel.from_bytes)

    async def main() -> None:
        async with serve(app) as client:
            ready = await client.get("/readyz")
            assert ready.status_code == 503
            assert ready.json()["checks"]["model"] is False
            r = await client.post("/v1/fraud/score", json=attempt(), headers=SCORER)
            assert (r.json()["fallback"], r.json()["model_version"]) == ("no_model", None)

    asyncio.run(main())


def test_a_fraud_label_feeds_the_label_features_of_later_attempts(app: FastAPI) -> None:
    async def main() -> None:
        async with serve(app) as client:
            await client.post("/v1/fraud/score", json=attempt("t1"), headers=SCORER)
            label = {
                "transaction_id": "t1",
                "is_fraud": True,
                "label_available_at": "2026-03-01T13:00:00Z",
            }
            assert (await client.post("/v1/fraud/labels", json=label, headers=SCORER)).is_success
            later = attempt("t2", ts="2026-03-10T12:00:00Z")  # after the 3-day label delay
            scored = await client.post("/v1/fraud/score", json=later, headers=SCORER)
            logged = await client.get(
                f"/v1/decisions/{scored.json()['decision_id']}", headers=ANALYST
            )
            features = logged.json()["body"]["features"]
            assert features["label_rate_30d_by_merchant"] > 0
            assert features["label_rate_30d_by_terminal"] > 0

    asyncio.run(main())


def test_a_label_logged_by_a_process_that_died_before_counting_it_counts_on_retry(
    home: Path,
) -> None:
    """The label is durable in the log before the online store counts it. If the process
    dies in between, the client's retry is answered as a duplicate and the label still
    reaches the label features, once."""
    settings = settings_for(home, budget=timedelta(milliseconds=200))
    label = {"transaction_id": "t1", "is_fraud": True, "label_available_at": "2026-03-01T13:00:00Z"}

    async def decide_t1() -> str:
        async with serve(create_app(settings, LinearModel.from_bytes)) as client:
            r = await client.post("/v1/fraud/score", json=attempt("t1"), headers=SCORER)
            decision_id: str = r.json()["decision_id"]
            return decision_id

    decision_id = asyncio.run(decide_t1())
    counted_from = datetime(2026, 3, 1, 12, tzinfo=UTC) + LABEL_DELAY
    with open_decision_log(settings.base.decision_log_url) as log:  # the process that died
        body = {
            "is_fraud": True,
            "label_available_at": "2026-03-01T13:00:00+00:00",
            "counted_from": counted_from.isoformat(),
            "decision_id": decision_id,
        }
        log.append(DecisionRecord("dead-1", "t1", "fraud_label", datetime.now(UTC), body))

    async def retry_then_score_later() -> tuple[dict[str, object], dict[str, object]]:
        async with serve(create_app(settings, LinearModel.from_bytes)) as client:
            retried = (await client.post("/v1/fraud/labels", json=label, headers=SCORER)).json()
            again = await client.post("/v1/fraud/labels", json=label, headers=SCORER)
            assert again.json()["duplicate"] is True
            later = attempt("t2", ts="2026-03-10T12:00:00Z")
            scored = await client.post("/v1/fraud/score", json=later, headers=SCORER)
            logged = await client.get(
                f"/v1/decisions/{scored.json()['decision_id']}", headers=ANALYST
            )
            features: dict[str, object] = logged.json()["body"]["features"]
            return retried, features

    retried, features = asyncio.run(retry_then_score_later())
    assert retried["duplicate"] is True
    assert retried["counted_from"] == counted_from.isoformat()
    # The merchant's one earlier attempt, labelled fraud: counted (not 0), once (not 2).
    assert features["label_rate_30d_by_merchant"] == 1.0


def test_the_frameworks_own_errors_answer_the_documented_body(app: FastAPI) -> None:
    """No route, a wrong method and an unreadable body answered ``{"detail": ...}``."""

    async def main() -> None:
        async with serve(app) as client:
            missing = await client.get("/v1/nope", headers=ADMIN)
            assert (missing.status_code, missing.json()) == (
                404,
                {
                    "error": "not_found",
                    "message": "no route GET /v1/nope; see /openapi.json.",
                    "fields": [],
                },
            )
            wrong = await client.get("/v1/fraud/labels", headers=SCORER)
            assert (wrong.status_code, wrong.headers["allow"]) == (405, "POST")
            assert wrong.json() == {
                "error": "method_not_allowed",
                "message": "GET is not allowed on /v1/fraud/labels; it takes POST.",
                "fields": [],
            }
            unreadable = await client.post(
                "/v1/fraud/labels",
                content=b'{"transaction_id": "t\xff", "is_fraud": true}',
                headers={**SCORER, "content-type": "application/json"},
            )
            assert (unreadable.status_code, unreadable.json()) == (
                400,
                {
                    "error": "bad_request",
                    "message": "body: could not be read as JSON; send JSON text in UTF-8.",
                    "fields": ["body"],
                },
            )

    asyncio.run(main())


def test_openapi_publishes_this_servers_limits_and_public_routes(home: Path) -> None:
    """It published the largest batch any server may take (100,000) and required an API key
    on every route, the health probes included."""
    app = create_app(settings_for(home, batch_max=3), LinearModel.from_bytes)

    async def main() -> None:
        async with serve(app) as client:
            spec = (await client.get("/openapi.json")).json()
            batch = spec["components"]["schemas"]["BatchRequest"]["properties"]["attempts"]
            assert (batch["minItems"], batch["maxItems"]) == (1, 3)
            ts = spec["components"]["schemas"]["ScoreRequest"]["properties"]["ts"]
            assert ts["description"].endswith("(at most 300 s ahead of the server's clock)")
            keyed: list[dict[str, list[str]]] = [{"APIKeyHeader": []}]
            security = {
                (method, path): operation.get("security")
                for path, operations in spec["paths"].items()
                for method, operation in operations.items()
            }
            assert security == {
                ("post", "/v1/fraud/score"): keyed,
                ("post", "/v1/fraud/score:batch"): keyed,
                ("post", "/v1/fraud/labels"): keyed,
                ("get", "/v1/decisions/{decision_id}"): keyed,
                ("post", "/v1/admin/reload"): keyed,
                ("get", "/metrics"): keyed,
                ("get", "/healthz"): [],
                ("get", "/readyz"): [],
            }
            assert (await client.get("/healthz")).status_code == 200  # no key, as published

    asyncio.run(main())
