"""Record validation, URL handling and the body round trip."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from riskline.decisions import DecisionRecord, InMemoryDecisionLog, open_decision_log
from riskline.errors import ConfigError, DecisionLogUnavailableError, InvalidDecisionError
from tests.decisions.samples import START_AT, sample_record

_JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


_ID = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), min_size=1)


@given(body=st.dictionaries(st.text(), _JSON, max_size=6), ids=st.tuples(_ID, _ID))
def test_any_json_body_reads_back_equal_and_verifies(
    body: dict[str, object], ids: tuple[str, str]
) -> None:
    log = InMemoryDecisionLog()
    record = DecisionRecord(ids[0], ids[1], "aml", START_AT, body)
    assert log.append(record) == 1
    stored = log.get(ids[0])
    assert stored is not None
    assert (stored.body, stored.transaction_id, stored.decided_at) == (body, ids[1], START_AT)
    assert log.verify().ok


def test_decided_at_is_stored_in_utc() -> None:
    log = InMemoryDecisionLog()
    plus_two = timezone(timedelta(hours=2))
    log.append(DecisionRecord("d1", "t1", "credit", datetime(2026, 3, 1, 14, tzinfo=plus_two), {}))
    stored = log.get("d1")
    assert stored is not None
    assert stored.decided_at == datetime(2026, 3, 1, 12, tzinfo=UTC)
    assert stored.decided_at.utcoffset() == timedelta(0)


def test_invalid_records_are_refused_when_built() -> None:
    with pytest.raises(InvalidDecisionError, match="decided_at must be timezone-aware"):
        DecisionRecord("d1", "t1", "fraud", datetime(2026, 3, 1), {})  # noqa: DTZ001
    with pytest.raises(InvalidDecisionError, match="transaction_id must be a non-empty string"):
        DecisionRecord("d1", "", "fraud", START_AT, {})


@given(
    head=st.text(),
    bad=st.sampled_from(["\x00", "\ud800", "\udfff"]),
    tail=st.text(),
    field=st.sampled_from(["decision_id", "transaction_id", "kind"]),
)
def test_an_id_with_a_nul_or_a_lone_surrogate_is_refused_when_built(
    head: str, bad: str, tail: str, field: str
) -> None:
    ids = {"decision_id": "d1", "transaction_id": "t1", "kind": "fraud", field: head + bad + tail}
    why = "must not contain NUL" if "\x00" in ids[field] else "must be valid Unicode"
    with pytest.raises(InvalidDecisionError, match=f"^{field} {why}"):
        DecisionRecord(ids["decision_id"], ids["transaction_id"], ids["kind"], START_AT, {})


def test_a_body_that_is_not_json_is_refused_and_not_logged() -> None:
    log = InMemoryDecisionLog()
    with pytest.raises(InvalidDecisionError, match="body of decision 'd1' is not JSON-able"):
        log.append(DecisionRecord("d1", "t1", "fraud", START_AT, {"model": object()}))
    assert log.verify().checked == 0


def test_unsupported_urls_and_options_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unsupported decision log URL 'mysql://x/y'"):
        open_decision_log("mysql://x/y")
    with pytest.raises(ConfigError, match="schema applies to PostgreSQL only"):
        open_decision_log(f"sqlite:///{tmp_path}/d.db", schema="s")
    with pytest.raises(ConfigError, match="needs a SQLite file path"):
        open_decision_log("sqlite:///:memory:")
    with pytest.raises(ConfigError, match="schema must be a plain identifier"):
        open_decision_log("postgresql+psycopg://u@h/db", schema="x; DROP TABLE y")


def test_a_missing_folder_is_reported(tmp_path: Path) -> None:
    with pytest.raises(DecisionLogUnavailableError, match="folder must exist"):
        open_decision_log(f"sqlite:///{tmp_path}/missing/d.db")


def test_sample_records_are_valid() -> None:
    assert sample_record(3).body["decision"] == "review"
