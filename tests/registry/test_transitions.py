"""Stage rules as a law: any sequence of requests matches an independent model of the rules,
and the audit trail replays to the stages the registry reports."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from riskline.errors import PromotionError
from riskline.registry import Registry, Stage
from tests.registry.samples import StepClock, register

Request = tuple[str, int]
requests = st.lists(
    st.tuples(st.sampled_from(["register", "shadow", "promote", "retire", "rollback"]),
              st.integers(0, 4)),
    max_size=14,
)  # fmt: skip


class Oracle:
    """The documented stage rules, written independently of the registry code."""

    def __init__(self) -> None:
        self.stages: dict[str, Stage] = {}
        self.reigns: list[str] = []

    def apply(self, op: str, version: str) -> bool:
        """Apply one request; return False when the rules refuse it."""
        stage = self.stages.get(version)
        if op == "rollback":
            if len(self.reigns) < 2:
                return False
            self.stages[self.reigns.pop()] = "retired"
            self.stages[self.reigns[-1]] = "champion"
            return True
        if stage not in ("candidate", "shadow") or (op == "shadow" and stage == "shadow"):
            return False
        if op in ("shadow", "promote"):
            to: Stage = "shadow" if op == "shadow" else "champion"
            old = [v for v, s in self.stages.items() if s == to]
            for v in old:
                self.stages[v] = "candidate" if to == "shadow" else "retired"
            if to == "champion":
                self.reigns.append(version)
            self.stages[version] = to
        else:
            self.stages[version] = "retired"
        return True


def run(registry: Registry, op: str, version: str) -> bool:
    """Send one request to the registry; return False when it raises PromotionError."""
    try:
        if op == "shadow":
            registry.stage_shadow(version, "carol", "watch it")
        elif op == "promote":
            registry.promote(version, "bob", "better")
        elif op == "retire":
            registry.retire(version, "carol", "unused")
        else:
            registry.rollback("fraud", "oncall", "incident")
    except PromotionError:
        return False
    return True


@settings(max_examples=40)
@given(steps=requests)
def test_registry_follows_the_stage_rules_and_its_trail_replays(steps: list[Request]) -> None:
    oracle = Oracle()
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'r.db'}"
        with Registry.open(url, Path(tmp) / "artifacts", clock=StepClock()) as registry:
            for op, index in steps:
                if op == "register" or not oracle.stages:
                    oracle.stages[register(registry)] = "candidate"
                    continue
                version = sorted(oracle.stages)[index % len(oracle.stages)]
                assert run(registry, op, version) == oracle.apply(op, version), (op, version)
            reported = {v.version: v.stage for v in registry.list()}
            replayed = {e.version: e.to_stage for e in registry.history()}
    assert reported == oracle.stages
    assert replayed == oracle.stages
    assert list(reported.values()).count("champion") <= 1
    assert list(reported.values()).count("shadow") <= 1
