"""Batches of decisions logged as columns, on every backend: read back whole, chained,
idempotent decision by decision."""

from __future__ import annotations

import dataclasses
import hashlib
import re
from datetime import timedelta

import numpy as np
import orjson
import pytest

from riskline.decisions import DecisionBatch, EncodedColumn, StoredDecision
from riskline.decisions._batches import encode_batch
from riskline.errors import DuplicateDecisionError, InvalidDecisionError
from tests.decisions.conftest import Opener
from tests.decisions.samples import START_AT, sample_record


def sample_batch(n: int, prefix: str = "b", *, at_minutes: int = 0) -> DecisionBatch:
    """``n`` decisions with shared, plain, numpy and nested columns."""
    features = np.arange(n * 2, dtype=np.float64).reshape(n, 2)
    features[0, 1] = np.nan
    return DecisionBatch(
        kind="fraud",
        decided_at=START_AT + timedelta(minutes=at_minutes),
        decision_ids=[f"{prefix}-d{i}" for i in range(n)],
        transaction_ids=[f"{prefix}-t{i}" for i in range(n)],
        shared={"model_version": "m1", "thresholds": {"review_at": 0.3, "decline_at": 0.8}},
        columns={
            "score": np.linspace(0.0, 1.0, n),
            "action": ["approve" if i % 3 else "review" for i in range(n)],
            "reasons": [[{"code": "r", "value": i}] if i % 2 else [] for i in range(n)],
            "features": {"amount": features[:, 0], "count_1h": features[:, 1]},
            "request": {"card_token": [f"tok{i}" for i in range(n)]},
        },
    )


def expected_body(batch: DecisionBatch, i: int) -> dict[str, object]:
    """Decision ``i``'s body as the documentation says: shared, then row ``i`` of each
    column, with JSON types (numpy floats as floats, NaN as None)."""
    body: dict[str, object] = dict(batch.shared)
    for name, column in batch.columns.items():
        if isinstance(column, dict):
            body[name] = {k: _json(v[i]) for k, v in column.items()}
        else:
            body[name] = _json(column[i])  # type: ignore[index]
    return orjson.loads(orjson.dumps(body))  # type: ignore[no-any-return]


def _json(value: object) -> object:
    if isinstance(value, np.floating):
        return None if np.isnan(value) else float(value)
    return value


def test_a_batch_reads_back_decision_by_decision(open_log: Opener) -> None:
    log = open_log()
    log.append(sample_record(1))
    batch = sample_batch(50)
    seqs = log.submit_batch(batch).result()
    assert seqs == list(range(3, 53))  # seq 2 holds the batch's columns
    for i in (0, 1, 49):
        body = expected_body(batch, i)
        got = log.get(f"b-d{i}")
        assert got is not None
        assert (got.seq, got.transaction_id, got.kind) == (seqs[i], f"b-t{i}", "fraud")
        assert got.decided_at == batch.decided_at
        assert got.body == body
        found = log.find("fraud", f"b-t{i}")
        assert found == got
    read = list(log.read())
    assert [r.seq for r in read] == [1, *seqs]  # the columns record is not a decision
    assert [r.body for r in read[1:]] == [expected_body(batch, i) for i in range(50)]
    report = log.verify()
    assert (report.ok, report.checked, report.head_seq) == (True, 52, 52)
    assert report.head_hash == read[-1].hash


def test_columns_encoded_ahead_are_logged_as_the_same_bytes(open_log: Opener) -> None:
    """A column encoded before its batch (``EncodedColumn``) is stored and hashed as the
    same bytes as the column given as it is, and reads back the same."""
    plain = sample_batch(20)
    ahead = dataclasses.replace(
        plain,
        columns={
            name: EncodedColumn(column) if name in ("features", "score") else column  # type: ignore[arg-type]
            for name, column in plain.columns.items()
        },
    )
    assert encode_batch(ahead)[0][4] == encode_batch(plain)[0][4]  # the columns record
    log = open_log()
    log.submit_batch(ahead).result()
    assert [r.body for r in log.read()] == [expected_body(plain, i) for i in range(20)]
    with pytest.raises(InvalidDecisionError, match="not JSON-able"):
        EncodedColumn([object()])


def test_reads_by_kind_and_period_expand_members(open_log: Opener) -> None:
    log = open_log()
    early, late = sample_batch(5, "e"), sample_batch(5, "l", at_minutes=10)
    log.submit_batch(early).result()
    log.submit_batch(late).result()
    log.append(sample_record(99, kind="fraud_label"))
    period = list(log.read(kinds=("fraud",), start=START_AT + timedelta(minutes=5)))
    assert [r.transaction_id for r in period] == [f"l-t{i}" for i in range(5)]
    assert [r.body for r in period] == [expected_body(late, i) for i in range(5)]
    assert [r.kind for r in log.read(kinds=("fraud_label",))] == ["fraud_label"]
    since = list(log.read(since=log.get("e-d3").seq))  # type: ignore[union-attr]
    assert [r.transaction_id for r in since][:3] == ["e-t4", "l-t0", "l-t1"]


def test_the_columns_record_is_not_a_decision(open_log: Opener) -> None:
    log = open_log()
    log.submit_batch(sample_batch(3)).result()
    first = next(iter(log.read()))
    assert first.seq == 2
    assert all(r.kind == "fraud" for r in log.read())
    # The columns record is seq 1; no read returns it, by any id it holds.
    assert [r.seq for r in log.read(kinds=("fraud$batch",))] == []


def test_members_hash_their_pointer_and_the_columns_are_hashed_once(open_log: Opener) -> None:
    """The chain's formula is the same for every record; a member's body is the pointer."""
    log = open_log()
    seqs = log.submit_batch(sample_batch(3)).result()
    members = [log.get(f"b-d{i}") for i in range(3)]
    assert all(isinstance(m, StoredDecision) for m in members)
    first = members[0]
    assert first is not None
    # Recompute member 2's hash from member 1's (prev) and its documented bytes.
    second = members[1]
    assert second is not None
    assert second.prev_hash == first.hash
    at = second.decided_at.isoformat(timespec="microseconds")
    head = orjson.dumps([seqs[1], "b-d1", "b-t1", "fraud", at])[:-1]
    # The pointer names the batch: read it from the hash chain's only unknown, by search.
    # (The batch id is the columns record's decision_id, not exposed by reads.)
    for candidate in _batch_ids(log):
        pointer = b'{"$batch":"%b","$row":1}' % candidate.encode()
        digest = hashlib.sha256(bytes.fromhex(first.hash) + head + b"," + pointer + b"]")
        if digest.hexdigest() == second.hash:
            break
    else:
        pytest.fail("no batch id gives member 1's documented hash")


def _batch_ids(log: object) -> list[str]:
    """The batch ids in ``log`` (its raw rows: ``verify`` reads them all)."""
    reader = getattr(log, "_reader", None)
    rows = reader.rows(0, 100) if reader is not None else log._rows  # type: ignore[attr-defined]
    return [row[1] for row in rows if row[3].endswith("$batch")]


def test_a_duplicate_in_a_batch_is_answered_with_the_decision_kept(open_log: Opener) -> None:
    log = open_log()
    log.append(sample_record(1, transaction_id="b-t1"))
    outcomes = log.submit_batch(sample_batch(3)).result()
    assert isinstance(outcomes[0], int)
    assert isinstance(outcomes[2], int)
    duplicate = outcomes[1]
    assert isinstance(duplicate, DuplicateDecisionError)
    assert duplicate.existing == log.find("fraud", "b-t1")
    assert log.get("b-d1") is None  # the batch's second decision was not logged
    assert log.verify().ok


def test_a_retried_batch_gets_every_decision_back_whole(open_log: Opener) -> None:
    log = open_log()
    batch = sample_batch(20)
    first = log.submit_batch(batch).result()
    again = DecisionBatch(
        batch.kind,
        batch.decided_at + timedelta(seconds=1),
        [f"retry-{i}" for i in range(20)],
        batch.transaction_ids,
        batch.shared,
        batch.columns,
    )
    outcomes = log.submit_batch(again).result()
    assert all(isinstance(o, DuplicateDecisionError) for o in outcomes)
    kept = [o.existing for o in outcomes if isinstance(o, DuplicateDecisionError)]
    assert all(isinstance(k, StoredDecision) for k in kept)
    assert [k.seq for k in kept] == first  # type: ignore[attr-defined]
    assert [k.body for k in kept] == [expected_body(batch, i) for i in range(20)]  # type: ignore[attr-defined]
    # A single request for a batch's transaction is answered with the batch's decision.
    with pytest.raises(DuplicateDecisionError) as raised:
        log.append(sample_record(5, transaction_id="b-t7"))
    assert raised.value.existing == log.get("b-d7")
    assert log.verify().ok


def test_a_large_group_with_duplicates_tells_each_record_apart(open_log: Opener) -> None:
    """Past one lookup query (500 records) and across kinds, each record of a group that
    meets logged ones is kept, or refused as the duplicate of its (kind, transaction_id) or
    of its decision_id, with the decision kept."""
    log = open_log()

    def kind(n: int) -> str:
        return "fraud" if n % 2 else "credit"

    logged = [sample_record(n, kind=kind(n)) for n in range(0, 1_200, 3)]
    seqs = dict(zip((r.decision_id for r in logged), log.append_many(logged), strict=True))
    group = [
        sample_record(n, kind=kind(n), transaction_id=f"other-{n}" if n % 4 == 0 else None)
        for n in range(1_200)
    ]  # n % 3: new; else a logged decision_id (n % 4 == 0) or transaction
    outcomes = log.submit_many(group).result()
    for n, outcome in enumerate(outcomes):
        if n % 3:
            assert isinstance(outcome, int), n
            continue
        assert isinstance(outcome, DuplicateDecisionError), n
        assert outcome.existing.seq == seqs[f"d{n}"]  # type: ignore[attr-defined]
        key = f"decision_id 'd{n}'" if n % 4 == 0 else f"transaction_id 't{n}'"
        assert f"for {'' if n % 4 == 0 else f'kind {kind(n)!r} and '}{key}" in str(outcome)
    assert log.verify().ok


def test_batches_survive_a_restart(open_durable_log: Opener) -> None:
    log = open_durable_log()
    batch = sample_batch(10)
    seqs = log.submit_batch(batch).result()
    log.close()
    again = open_durable_log()
    assert [r.seq for r in again.read()] == seqs
    assert again.find("fraud", "b-t9").body == expected_body(batch, 9)  # type: ignore[union-attr]
    assert again.submit_batch(sample_batch(2, "n")).result() == [13, 14]
    assert again.verify().ok


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"transaction_ids": ["t0"]}, "transaction_ids has 1 ids for 2"),
        ({"columns": {"score": [0.1]}}, "column 'score' has 1 values for 2"),
        ({"columns": {"f": {"a": [1, 2], "b": [1]}}}, "column 'f.b' has 1 values"),
        ({"columns": {"f": EncodedColumn({"a": [1, 2, 3]})}}, "column 'f.a' has 3 values"),
        ({"columns": {"score": EncodedColumn([0.1])}}, "column 'score' has 1 values for 2"),
        ({"shared": {"score": 1}, "columns": {"score": [1, 2]}}, "both name ['score']"),
        ({"shared": {"$batch": 1}}, "'$batch' is reserved"),
        ({"kind": "fraud$batch"}, "kind must not contain '$batch'"),
        ({"decision_ids": ["d0", ""]}, "decision_ids must hold non-empty strings"),
        ({"transaction_ids": ["t0", "t\x00"]}, "transaction_ids must not contain NUL"),
        ({"decided_at": START_AT.replace(tzinfo=None)}, "timezone-aware"),
    ],
)
def test_a_malformed_batch_is_refused_naming_what(change: dict[str, object], message: str) -> None:
    fields: dict[str, object] = {
        "kind": "fraud",
        "decided_at": START_AT,
        "decision_ids": ["d0", "d1"],
        "transaction_ids": ["t0", "t1"],
        "shared": {},
        "columns": {"score": [0.1, 0.2]},
        **change,
    }
    with pytest.raises(InvalidDecisionError, match=re.escape(message)):
        DecisionBatch(**fields)  # type: ignore[arg-type]


def test_a_batch_that_is_not_json_fails_before_anything_is_queued(open_log: Opener) -> None:
    log = open_log()
    batch = DecisionBatch("fraud", START_AT, ["d0"], ["t0"], {}, {"x": [object()]})
    with pytest.raises(InvalidDecisionError, match="not JSON-able"):
        log.submit_batch(batch)
    assert log.verify().checked == 0


def test_a_single_record_cannot_pose_as_a_batch_member() -> None:
    with pytest.raises(InvalidDecisionError, match="reserved"):
        sample_record(1).__class__("d", "t", "fraud", START_AT, {"$batch": "x", "$row": 0})
