"""How the online engine lays a feature set out over per-entity state (pure, no I/O)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from riskline.features.spec import Feature, FeatureSet

_US = timedelta(microseconds=1)


@dataclass(frozen=True, slots=True)
class SlidingGroup:
    """One entity's exact sliding state: raw events within ``horizon_us``."""

    entity: str
    keys: tuple[str, ...]
    horizon_us: int
    columns: tuple[str, ...]  # payload columns stored per event
    features: tuple[Feature, ...]


@dataclass(frozen=True, slots=True)
class BucketGroup:
    """One entity's bucketed state: per bucket, one counter slot per feature (+labels)."""

    entity: str
    keys: tuple[str, ...]
    bucket_us: int
    span: int  # buckets kept and read: [B - span, B)
    features: tuple[Feature, ...]
    label_slot: tuple[int | None, ...]  # per feature: its label counter's slot, if label_rate

    @property
    def slots(self) -> int:
        return len(self.features) + len(self.label_slots)

    @property
    def label_slots(self) -> tuple[int, ...]:
        return tuple(s for s in self.label_slot if s is not None)


@dataclass(frozen=True, slots=True)
class Plan:
    fs: FeatureSet
    sliding: tuple[SlidingGroup, ...]
    buckets: tuple[BucketGroup, ...]
    lateness_us: int
    dedup_us: int

    @classmethod
    def of(cls, fs: FeatureSet) -> Plan:
        sliding: dict[tuple[str, ...], list[Feature]] = {}
        buckets: dict[tuple[tuple[str, ...], int, int], list[Feature]] = {}
        for f in fs.features:
            if f.entity is None:
                continue
            if f.kind == "sliding":
                sliding.setdefault(f.entity.columns, []).append(f)
            else:
                assert f.bucket is not None
                assert f.window is not None
                group_key = (f.entity.columns, f.bucket // _US, f.window // f.bucket)
                buckets.setdefault(group_key, []).append(f)
        return cls(
            fs=fs,
            sliding=tuple(_sliding_group(fs_) for fs_ in sliding.values()),
            buckets=tuple(_bucket_group(fs_, size) for (_, size, _), fs_ in buckets.items()),
            lateness_us=fs.allowed_lateness // _US,
            dedup_us=fs.dedup_horizon // _US,
        )


def _sliding_group(features: list[Feature]) -> SlidingGroup:
    entity = features[0].entity
    assert entity is not None
    columns: list[str] = []
    for f in features:
        for c in (f.column, f.filter.column if f.filter else None):
            if c is not None and c not in columns:
                columns.append(c)
    horizon = max(f.window // _US for f in features if f.window is not None)
    return SlidingGroup(entity.name, entity.columns, horizon, tuple(columns), tuple(features))


def _bucket_group(features: list[Feature], size: int) -> BucketGroup:
    entity = features[0].entity
    assert entity is not None
    span = max((f.window // _US) // size for f in features if f.window is not None)
    slot: list[int | None] = []
    extra = len(features)
    for f in features:
        slot.append(extra if f.agg == "label_rate" else None)
        extra += f.agg == "label_rate"
    return BucketGroup(entity.name, entity.columns, size, span, tuple(features), tuple(slot))
