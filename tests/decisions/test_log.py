"""The decision log on every backend: chain, reads, idempotency, concurrency, restart."""

from __future__ import annotations

import asyncio
import hashlib
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone

import orjson
import pytest

from riskline import decisions
from riskline.decisions import GENESIS_HASH, DecisionRecord, StoredDecision
from riskline.errors import (
    DecisionLogUnavailableError,
    DuplicateDecisionError,
    InvalidDecisionError,
)
from tests.decisions.conftest import Opener
from tests.decisions.samples import START_AT, sample_record


def test_decisions_public_api() -> None:
    assert decisions.__all__ == [
        "GENESIS_HASH",
        "Backtest",
        "BreakReason",
        "Decision",
        "DecisionBatch",
        "DecisionLog",
        "DecisionRecord",
        "EncodedColumn",
        "Fallback",
        "Flip",
        "InMemoryDecisionLog",
        "Loader",
        "ModelRunner",
        "Policy",
        "Reason",
        "ReasonLike",
        "Replay",
        "Scored",
        "Scorer",
        "StoredDecision",
        "Thresholds",
        "VerifyReport",
        "backtest",
        "decide",
        "open_decision_log",
        "replay",
        "score_rows",
        "verify",
        "write_backtest_report",
    ]


def _oracle_hash(prev_hash: str, record: DecisionRecord, seq: int) -> str:
    """The documented formula, computed without the library."""
    at = record.decided_at.isoformat(timespec="microseconds")
    fields = [seq, record.decision_id, record.transaction_id, record.kind, at, record.body]
    payload = orjson.dumps(fields, option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(bytes.fromhex(prev_hash) + payload).hexdigest()


def test_appends_count_from_one_and_the_chain_verifies(open_log: Opener) -> None:
    log = open_log()
    records = [sample_record(n) for n in range(1, 301)]
    seqs = [log.append(r) for r in records[:100]] + log.append_many(records[100:])
    assert seqs == list(range(1, 301))
    stored = list(log.read())
    assert [s.seq for s in stored] == seqs
    assert [s.body for s in stored] == [r.body for r in records]
    assert [s.decided_at for s in stored] == [r.decided_at for r in records]
    report = log.verify()
    assert (report.ok, report.checked, report.head_seq) == (True, 300, 300)
    assert report.head_hash == stored[-1].hash
    assert [s.seq for s in log.read(since=297)] == [298, 299, 300]


def test_stored_hashes_follow_the_documented_formula(open_log: Opener) -> None:
    log = open_log()
    records = [sample_record(n) for n in range(1, 6)]
    log.append_many(records)
    prev = GENESIS_HASH
    for seq, (record, stored) in enumerate(zip(records, log.read(), strict=True), start=1):
        assert stored.prev_hash == prev
        assert stored.hash == _oracle_hash(prev, record, seq)
        prev = stored.hash


def test_get_and_find_return_the_committed_record(open_log: Opener) -> None:
    log = open_log()
    log.append_many([sample_record(1), sample_record(2)])
    second = log.get("d2")
    assert isinstance(second, StoredDecision)
    assert (second.seq, second.transaction_id, second.kind) == (2, "t2", "fraud")
    assert log.find("fraud", "t2") == second
    assert log.get("nope") is None
    assert log.find("credit", "t2") is None


def test_a_second_decision_for_a_transaction_is_refused_with_the_first(open_log: Opener) -> None:
    log = open_log()
    log.append(sample_record(1))
    with pytest.raises(
        DuplicateDecisionError, match=r"transaction_id 't1' is already logged as seq 1"
    ) as err:
        log.append(sample_record(2, transaction_id="t1"))
    assert err.value.existing == log.get("d1")
    with pytest.raises(DuplicateDecisionError, match=r"decision_id 'd1' is already logged"):
        log.append(sample_record(1, transaction_id="t-other"))
    assert log.append(sample_record(3, transaction_id="t1", kind="credit")) == 2
    assert [s.decision_id for s in log.read()] == ["d1", "d3"]
    assert log.verify().ok


def test_duplicates_inside_one_batch_keep_the_first(open_log: Opener) -> None:
    log = open_log()
    batch = [sample_record(1), sample_record(2, transaction_id="t1"), sample_record(3)]
    with pytest.raises(
        DuplicateDecisionError, match=r"already logged as seq 1 \(decision_id 'd1'\)"
    ):
        log.append_many(batch)
    assert [(s.seq, s.decision_id) for s in log.read()] == [(1, "d1"), (2, "d3")]
    assert log.verify().ok


def test_concurrent_appends_leave_a_gap_free_chain(open_log: Opener) -> None:
    log = open_log()

    def work(k: int) -> list[int]:
        return [log.append(sample_record(k * 1_000 + i)) for i in range(150)]

    with ThreadPoolExecutor(8) as pool:
        seqs = [s for part in pool.map(work, range(8)) for s in part]
    assert sorted(seqs) == list(range(1, 1_201))
    report = log.verify()
    assert (report.ok, report.checked) == (True, 1_200)


def test_concurrent_requests_for_one_transaction_log_exactly_one_decision(
    open_log: Opener,
) -> None:
    log = open_log()
    start = threading.Barrier(8)

    def work(k: int) -> list[tuple[int, object]]:
        start.wait()
        out: list[tuple[int, object]] = []
        for i in range(40):
            try:
                out.append((i, log.append(sample_record(k * 1_000 + i, transaction_id=f"t{i}"))))
            except DuplicateDecisionError as exc:
                out.append((i, exc.existing))
        return out

    with ThreadPoolExecutor(8) as pool:
        outcomes = [o for part in pool.map(work, range(8)) for o in part]
    winners = {i: seq for i, seq in outcomes if isinstance(seq, int)}
    assert sorted(winners) == list(range(40))
    assert sum(isinstance(seq, int) for _, seq in outcomes) == 40
    losers = [(i, existing) for i, existing in outcomes if not isinstance(existing, int)]
    assert len(losers) == 7 * 40
    assert all(isinstance(e, StoredDecision) and e.seq == winners[i] for i, e in losers)
    assert sorted(s.transaction_id for s in log.read()) == sorted(f"t{i}" for i in range(40))
    assert log.verify().ok


def test_submit_can_be_awaited_from_asyncio(open_log: Opener) -> None:
    log = open_log()

    async def main() -> list[int]:
        futures = [asyncio.wrap_future(log.submit(sample_record(n))) for n in range(1, 51)]
        return await asyncio.gather(*futures)

    assert sorted(asyncio.run(main())) == list(range(1, 51))


def test_a_batch_is_submitted_at_once_with_one_future(open_log: Opener) -> None:
    log = open_log()
    log.append(sample_record(1))
    bad = DecisionRecord("d9", "t9", "fraud", START_AT, {"ids": {1, 2}})  # a set: not JSON
    with pytest.raises(InvalidDecisionError, match="d9"):
        log.submit_many([sample_record(2), bad])
    batch = [sample_record(n) for n in range(2, 6)] + [sample_record(6, transaction_id="t1")]

    async def main() -> list[int | DuplicateDecisionError]:
        return await asyncio.wrap_future(log.submit_many(batch))

    *seqs, duplicate = asyncio.run(main())
    assert seqs == [2, 3, 4, 5]  # nothing of the refused call was queued
    assert isinstance(duplicate, DuplicateDecisionError)
    assert duplicate.existing.seq == 1  # type: ignore[attr-defined]
    assert log.verify().checked == 5


@pytest.mark.parametrize(
    ("field", "value", "why"),
    [
        ("transaction_id", "merchant-B-\x00", "transaction_id must not contain NUL"),
        ("transaction_id", "merchant-B-\ud800", "transaction_id must be valid Unicode"),
        ("decision_id", "\x00", "decision_id must not contain NUL"),
    ],
)
def test_an_id_no_backend_stores_is_refused_and_its_neighbours_commit(
    open_log: Opener, field: str, value: str, why: str
) -> None:
    # Regression: PostgreSQL's COPY refuses a NUL and a lone surrogate has no UTF-8 bytes;
    # inside the writer either failed the whole group commit, every neighbour included.
    log = open_log()
    neighbour = log.submit(sample_record(1))
    ids = {"decision_id": "d2", "transaction_id": "t2", field: value}
    with pytest.raises(InvalidDecisionError, match=why):
        log.submit(DecisionRecord(ids["decision_id"], ids["transaction_id"], "fraud", START_AT, {}))
    batch = log.submit_many([sample_record(3), sample_record(4)])
    assert (neighbour.result(), batch.result()) == (1, [2, 3])
    assert [s.decision_id for s in log.read()] == ["d1", "d3", "d4"]
    assert log.verify().ok


def test_restart_resumes_the_chain(open_durable_log: Opener) -> None:
    first = open_durable_log()
    first.append_many([sample_record(n) for n in range(1, 11)])
    first.close()
    again = open_durable_log()
    assert [again.append(sample_record(n)) for n in range(11, 16)] == [11, 12, 13, 14, 15]
    report = again.verify()
    assert (report.ok, report.checked) == (True, 15)
    with pytest.raises(DuplicateDecisionError, match="already logged as seq 3"):
        again.append(sample_record(3))


def test_a_closed_log_refuses_appends_and_reads(open_log: Opener) -> None:
    log = open_log()
    log.append(sample_record(1))
    log.close()
    with pytest.raises(DecisionLogUnavailableError, match="closed"):
        log.append(sample_record(2))
    with pytest.raises(DecisionLogUnavailableError, match="closed"):
        log.get("d1")


def test_a_read_selects_kinds_and_a_period_as_a_filter_would(open_log: Opener) -> None:
    """Every backend selects by kind and ``[start, end)`` itself; the records are those of a
    full read filtered in Python, in seq order, whatever the bounds' time zones."""
    log = open_log()
    kinds = ("fraud", "fraud_label", "credit")
    log.append_many(sample_record(n, kind=kinds[n % 3]) for n in range(1, 61))
    everything = list(log.read())
    paris = timezone(timedelta(hours=1))
    windows = [
        ({"fraud"}, None, None),
        (("fraud", "credit"), START_AT + timedelta(milliseconds=10), None),
        (None, START_AT + timedelta(milliseconds=10), START_AT + timedelta(milliseconds=31)),
        (["fraud_label"], None, (START_AT + timedelta(milliseconds=20)).astimezone(paris)),
        (("fraud",), START_AT + timedelta(days=1), None),  # after every record: nothing
    ]
    for kinds_of, start, end in windows:
        expected = [
            r
            for r in everything
            if (kinds_of is None or r.kind in kinds_of)
            and (start is None or r.decided_at >= start)
            and (end is None or r.decided_at < end)
        ]
        got = list(log.read(kinds=kinds_of, start=start, end=end))
        assert got == expected, (kinds_of, start, end)
    assert [r.seq for r in log.read(40, kinds=["fraud"])] == [42, 45, 48, 51, 54, 57, 60]
    with pytest.raises(InvalidDecisionError, match="start must be timezone-aware"):
        list(log.read(start=datetime(2026, 3, 1)))  # noqa: DTZ001
    with pytest.raises(InvalidDecisionError, match="kinds is empty"):
        list(log.read(kinds=[]))
    with pytest.raises(InvalidDecisionError, match=r"a collection such as \('fraud',\)"):
        list(log.read(kinds="fraud"))
    log.close()
