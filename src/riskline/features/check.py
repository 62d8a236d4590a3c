"""Online replay against offline backfill: the consistency check users can run on their data."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, fields

import polars as pl

from riskline.events import PaymentAttempt
from riskline.features._compute import Value
from riskline.features.offline import Order, compute_offline
from riskline.features.online import OnlineEngine, replay
from riskline.features.rows import FeatureVector
from riskline.features.spec import FeatureSet

_FIELDS = tuple(f.name for f in fields(PaymentAttempt))


@dataclass(frozen=True, slots=True)
class CheckReport:
    events: int
    features: int
    mismatches: dict[str, int]  # per feature; zero when the engines agree

    @property
    def total(self) -> int:
        return sum(self.mismatches.values())


def attempts(frame: pl.DataFrame) -> Iterator[PaymentAttempt]:
    """Rows of a conformed events frame as payment attempts (missing columns are None)."""
    present = [c for c in _FIELDS if c in frame.columns]
    for row in frame.select(present).iter_rows(named=True):
        yield PaymentAttempt(**row)


def same(a: Value, b: Value) -> bool:
    """Equal integers and nulls; floats within 1e-9 relative."""
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, float) or isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)
    return a == b


def check(
    fs: FeatureSet,
    events: pl.DataFrame,
    engine: OnlineEngine,
    *,
    order: Order = "ts",
    on_progress: Callable[[int], None] | None = None,
) -> CheckReport:
    """Replay ``events`` through ``engine`` in processing order and compare with backfill."""
    offline = compute_offline(fs, events, order=order)  # in processing order, inputs kept
    mismatches = dict.fromkeys(fs.names, 0)
    columns = {name: offline[name].to_list() for name in fs.names}
    vectors: Iterator[FeatureVector] = replay(engine, attempts(offline))
    for i, vector in enumerate(vectors):
        for name in fs.names:
            if not same(vector.values[name], columns[name][i]):
                mismatches[name] += 1
        if on_progress is not None and i % 10_000 == 0:
            on_progress(i)
    return CheckReport(offline.height, len(fs.names), mismatches)
