"""The registry on SQLite and PostgreSQL: lineage, four eyes, gate, integrity, history."""

from __future__ import annotations

import hashlib
import itertools
import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from riskline import registry as registry_api
from riskline.errors import (
    ArtifactIntegrityError,
    InvalidRegistrationError,
    PromotionError,
    UnknownVersionError,
)
from riskline.registry import PromotionGate, Registry
from tests.registry.samples import START_AT, StepClock, lineage, register


def test_registry_public_api() -> None:
    assert registry_api.__all__ == [
        "REQUIRED_METRICS",
        "STAGES",
        "AuditEvent",
        "Lineage",
        "ModelVersion",
        "ParamValue",
        "PromotionGate",
        "Registry",
        "Stage",
    ]


def test_register_stores_lineage_and_numbers_versions_per_kind(registry: Registry) -> None:
    first = registry.register(
        "fraud",
        b"\x00model-bytes",
        lineage(rows=1234),
        {"num_leaves": 31, "learning_rate": 0.05, "objective": "binary", "balanced": True},
        {"test_pr_auc": 0.61, "test_ece": 0.012},
        {"review_at": 0.1, "decline_at": 0.6},
        "alice",
    )
    assert (register(registry), register(registry, kind="credit")) == ("fraud-v2", "credit-v1")
    got = registry.get("fraud-v1")
    assert got == first
    assert (got.version, got.kind, got.number, got.stage) == ("fraud-v1", "fraud", 1, "candidate")
    assert got.lineage == lineage(rows=1234)
    assert got.lineage.start_at == START_AT
    assert got.params == {
        "num_leaves": 31,
        "learning_rate": 0.05,
        "objective": "binary",
        "balanced": True,
    }
    assert isinstance(got.params["num_leaves"], int)
    assert isinstance(got.params["balanced"], bool)
    assert got.metrics == {"test_pr_auc": 0.61, "test_ece": 0.012}
    assert got.decision_policy == {"review_at": 0.1, "decline_at": 0.6}
    assert got.trained_by == "alice"
    assert got.trained_at.isoformat() == "2026-03-01T00:00:01+00:00"
    assert (got.approved_by, got.approved_at) == (None, None)
    assert registry.load_artifact("fraud-v1") == b"\x00model-bytes"
    assert [v.version for v in registry.list()] == ["credit-v1", "fraud-v1", "fraud-v2"]
    assert [v.version for v in registry.list("fraud")] == ["fraud-v1", "fraud-v2"]


def test_unknown_version_lists_known_versions(registry: Registry) -> None:
    with pytest.raises(
        UnknownVersionError,
        match=re.escape("'fraud-v1' is not in the registry. The registry is empty."),
    ):
        registry.get("fraud-v1")
    for _ in range(10):
        register(registry)
    known = ", ".join(f"fraud-v{n}" for n in range(1, 11))
    with pytest.raises(UnknownVersionError, match=f"'fraud-v11' .*Known versions: {known}\\.$"):
        registry.promote("fraud-v11", "bob", "ship it")
    with pytest.raises(UnknownVersionError, match="'nope' is not in the registry"):
        registry.history("nope")


def test_four_eyes_the_trainer_cannot_approve(registry: Registry) -> None:
    version = register(registry, trained_by="alice")
    for approver in ("alice", "ALICE", " alice "):
        with pytest.raises(
            PromotionError, match=r"trained 'fraud-v1' and cannot also approve it.*four eyes"
        ):
            registry.promote(version, approver, "looks good")
    assert registry.get(version).stage == "candidate"
    assert registry.champion("fraud") is None
    assert [e.to_stage for e in registry.history(version)] == ["candidate"]
    promoted = registry.promote(version, "bob", "looks good")
    assert (promoted.stage, promoted.approved_by) == ("champion", "bob")
    assert promoted.approved_at is not None
    assert promoted.approved_at.tzinfo is not None
    assert registry.champion("fraud") == promoted


def test_promotion_needs_a_reason(registry: Registry) -> None:
    version = register(registry)
    with pytest.raises(PromotionError, match="reason must be a non-empty string, got '  '"):
        registry.promote(version, "bob", "  ")
    with pytest.raises(PromotionError, match="override_reason must be a non-empty string"):
        registry.promote(version, "bob", "ok", override_reason="")


def test_names_longer_than_their_column_are_refused_naming_the_field(
    registry: Registry,
) -> None:
    """On PostgreSQL, a name past the column's 128 characters was a raw DataError."""
    long = "x" * 129
    with pytest.raises(InvalidRegistrationError, match=r"trained_by must be at most 128 .* 129"):
        register(registry, trained_by=long)
    version = register(registry, trained_by="x" * 128)  # the column's width fits
    with pytest.raises(PromotionError, match="approver must be at most 128 characters, got 129"):
        registry.promote(version, long, "ok")
    with pytest.raises(PromotionError, match="actor must be at most 128 characters"):
        registry.stage_shadow(version, long, "ok")
    assert registry.promote(version, "bob", "ok").stage == "champion"
    with pytest.raises(PromotionError, match="actor must be at most 128 characters"):
        registry.rollback("fraud", long, "ok")
    with pytest.raises(PromotionError, match="actor must be at most 128 characters"):
        registry.retire(version, long, "ok")
    assert registry.history(version)[-1].actor == "bob"


def test_tampered_artifact_is_refused(registry: Registry, tmp_path: Path) -> None:
    version = registry.get(register(registry, artifact=b"original model"))
    path = tmp_path / "artifacts" / version.artifact_sha256[:2] / version.artifact_sha256
    assert path.read_bytes() == b"original model"
    path.write_bytes(b"tampered model")
    actual = hashlib.sha256(b"tampered model").hexdigest()
    with pytest.raises(
        ArtifactIntegrityError,
        match=(
            f"Refusing to load 'fraud-v1': artefact .* has sha256 {actual}, "
            f"but the registry recorded {version.artifact_sha256}"
        ),
    ):
        registry.load_artifact("fraud-v1")
    path.unlink()
    with pytest.raises(ArtifactIntegrityError, match="Artefact of 'fraud-v1' is missing"):
        registry.load_artifact("fraud-v1")


def test_registering_the_same_bytes_repairs_a_damaged_file(registry: Registry) -> None:
    first = registry.get(register(registry, artifact=b"same"))
    second = registry.get(register(registry, artifact=b"same"))
    assert first.artifact_sha256 == second.artifact_sha256
    assert registry.load_artifact(second.version) == b"same"


def test_full_history_is_kept_in_order(registry: Registry) -> None:
    v1, v2, v3 = register(registry), register(registry), register(registry, trained_by="carol")
    registry.promote(v1, "bob", "first champion")
    registry.stage_shadow(v2, "alice", "shadow traffic")
    registry.stage_shadow(v3, "carol", "try v3 instead")
    registry.promote(v3, "bob", "v3 wins in shadow")
    registry.retire(v2, "alice", "superseded")
    replaced = "replaced as champion by 'fraud-v3': v3 wins in shadow"
    trail = [
        (e.version, e.from_stage, e.to_stage, e.actor, e.reason, e.override_reason)
        for e in registry.history()
    ]
    assert trail == [
        (v1, None, "candidate", "alice", "registered", None),
        (v2, None, "candidate", "alice", "registered", None),
        (v3, None, "candidate", "carol", "registered", None),
        (v1, "candidate", "champion", "bob", "first champion", None),
        (v2, "candidate", "shadow", "alice", "shadow traffic", None),
        (v2, "shadow", "candidate", "carol", "shadow replaced by 'fraud-v3': try v3 instead", None),
        (v3, "candidate", "shadow", "carol", "try v3 instead", None),
        (v1, "champion", "retired", "bob", replaced, None),
        (v3, "shadow", "champion", "bob", "v3 wins in shadow", None),
        (v2, "candidate", "retired", "alice", "superseded", None),
    ]
    events = registry.history()
    assert [e.seq for e in events] == sorted({e.seq for e in events})
    assert all(a.at <= b.at for a, b in itertools.pairwise(events))
    assert all(e.at.utcoffset() is not None and e.kind == "fraud" for e in events)
    assert [e.to_stage for e in registry.history(v2)] == [
        "candidate",
        "shadow",
        "candidate",
        "retired",
    ]
    assert [(v.version, v.stage) for v in registry.list()] == [
        (v1, "retired"),
        (v2, "retired"),
        (v3, "champion"),
    ]
    assert registry.shadow("fraud") is None


def test_rollback_restores_the_previous_champion(registry: Registry) -> None:
    v1, v2, v3 = (register(registry) for _ in range(3))
    for version in (v1, v2, v3):
        registry.promote(version, "bob", f"ship {version}")
    restored = registry.rollback("fraud", "oncall", "v3 raises false declines")
    assert (restored.version, restored.stage) == (v2, "champion")
    assert registry.champion("fraud") == restored
    assert registry.get(v3).stage == "retired"
    assert [(e.version, e.from_stage, e.to_stage, e.actor) for e in registry.history()[-2:]] == [
        (v3, "champion", "retired", "oncall"),
        (v2, "retired", "champion", "oncall"),
    ]
    assert registry.rollback("fraud", "oncall", "v2 too").version == v1
    with pytest.raises(PromotionError, match="champion 'fraud-v1' replaced no earlier champion"):
        registry.rollback("fraud", "oncall", "again")
    with pytest.raises(PromotionError, match="Cannot roll back 'credit': it has no champion"):
        registry.rollback("credit", "oncall", "nothing there")


def test_gate_blocks_a_worse_model_unless_overridden(registry: Registry) -> None:
    champion = register(registry, pr_auc=0.5, ece=0.01)
    registry.promote(champion, "bob", "baseline")
    worse = register(registry, pr_auc=0.4, ece=0.015)
    with pytest.raises(
        PromotionError,
        match=re.escape(
            "Cannot promote 'fraud-v2': test_pr_auc=0.4 is below the champion 'fraud-v1' "
            "bound test_pr_auc=0.5; test_ece=0.015 is above the champion 'fraud-v1' "
            "bound test_ece=0.01."
        ),
    ):
        registry.promote(worse, "bob", "newer data")
    assert registry.champion("fraud") == registry.get(champion)
    promoted = registry.promote(worse, "bob", "newer data", override_reason="regulator deadline")
    assert promoted.stage == "champion"
    last = registry.history(worse)[-1]
    assert (last.to_stage, last.actor, last.reason, last.override_reason) == (
        "champion",
        "bob",
        "newer data",
        "regulator deadline",
    )


def test_gate_checks_absolute_bounds_without_a_champion(registry: Registry) -> None:
    version = register(registry, pr_auc=0.9, ece=0.03)
    with pytest.raises(
        PromotionError, match=re.escape("test_ece=0.03 is above the bound max_ece=0.02")
    ):
        registry.promote(version, "bob", "first")


@pytest.mark.parametrize(
    ("setup", "call", "message"),
    [
        ("champion", "retire", "Cannot move champion 'fraud-v1' to retired; .*rollback"),
        ("champion", "shadow", "Cannot move champion 'fraud-v1' to shadow"),
        ("retired", "promote", "retired 'fraud-v1' .*returns only as champion through rollback"),
        ("shadow", "shadow", "'fraud-v1' is already shadow"),
        ("retired", "retire", "'fraud-v1' is already retired"),
    ],
)
def test_disallowed_transitions_are_refused(
    registry: Registry, setup: str, call: str, message: str
) -> None:
    version = register(registry)
    if setup == "champion":
        registry.promote(version, "bob", "go")
    elif setup == "shadow":
        registry.stage_shadow(version, "bob", "watch")
    else:
        registry.retire(version, "bob", "unused")
    before = registry.history()
    action = {"retire": registry.retire, "shadow": registry.stage_shadow}.get(call)
    with pytest.raises(PromotionError, match=message):
        (action or registry.promote)(version, "bob", "why")
    assert registry.history() == before


def test_a_second_process_sees_committed_changes(
    registry: Registry, registry_url: tuple[str, str | None], tmp_path: Path
) -> None:
    url, schema = registry_url
    with Registry.open(url, tmp_path / "artifacts", PromotionGate(), schema=schema) as reader:
        assert reader.champion("fraud") is None
        version = register(registry, artifact=b"shared")
        registry.promote(version, "bob", "go")
        seen = reader.champion("fraud")
        assert seen is not None
        assert seen.version == version
        assert reader.load_artifact(version) == b"shared"


def test_construction_does_no_io(tmp_path: Path) -> None:
    db, artifacts = tmp_path / "new" / "registry.db", tmp_path / "artifacts"
    Registry(f"sqlite:///{db}", artifacts, clock=StepClock()).close()
    assert not db.parent.exists()
    assert not artifacts.exists()


def test_concurrent_promotions_leave_one_champion_and_a_consistent_trail(
    registry: Registry, registry_url: tuple[str, str | None], tmp_path: Path
) -> None:
    url, schema = registry_url
    versions = [register(registry) for _ in range(4)]

    def promote(version: str) -> str:
        # A separate Registry per worker: its own engine and connections, like a process.
        with Registry.open(url, tmp_path / "artifacts", schema=schema) as own:
            return own.promote(version, "bob", f"race {version}").version

    with ThreadPoolExecutor(max_workers=4) as pool:
        assert sorted(pool.map(promote, versions)) == versions
    stages = sorted(v.stage for v in registry.list("fraud"))
    assert stages == ["champion", "retired", "retired", "retired"]
    champion = None
    for event in registry.history():
        if event.to_stage == "champion":
            champion = event.version
        elif event.from_stage == "champion":
            assert event.version == champion, "each promotion retired the champion of its time"
    current = registry.champion("fraud")
    assert current is not None
    assert current.version == champion
