"""Time split of a point-in-time training set into train / validation / test.

Periods are half-open ``[start, end)`` on ``ts``. Between train and validation and between
validation and test lies a gap of at least ``label_delay``, so every event that fits the
model or the calibrator had at least that long for its label to arrive.

Labels and time: the model is trained at ``labels_at`` (default: ``test_start``, the moment
it would be deployed). Train and validation rows use only labels known by then
(``label_available_at <= labels_at``, or ``ts + label_delay <= labels_at`` when the file has
no ``label_available_at``); a fraud label that arrives later counts as genuine, exactly as
production would see it on that day. Test rows keep every label in the file: evaluation is
retrospective, after the chargebacks came in.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import datetime, timedelta

import polars as pl

from riskline.errors import InvalidSplitError

TARGET = "_target"
"""Column of the split frames holding the label the model may use (0/1 Int8)."""
_EPS = timedelta(microseconds=1)


@dataclass(frozen=True, slots=True)
class SplitSpec:
    """Where to cut; anything left ``None`` is derived from the data's time range.

    Defaults: test is the last ``test_share`` of the range, validation the ``validation_share``
    before it (minus the gap), train everything earlier. All times are tz-aware UTC.
    """

    train_start: datetime | None = None
    train_end: datetime | None = None
    test_start: datetime | None = None
    test_end: datetime | None = None
    label_delay: timedelta = timedelta(days=3)
    labels_at: datetime | None = None
    test_share: float = 0.2
    validation_share: float = 0.2

    def __post_init__(self) -> None:
        for name in ("train_start", "train_end", "test_start", "test_end", "labels_at"):
            at = getattr(self, name)
            if at is not None and at.tzinfo is None:
                raise InvalidSplitError(f"{name} must be timezone-aware (UTC), got {at!r}.")
        if self.label_delay < timedelta(0):
            raise InvalidSplitError(f"label_delay must be >= 0, got {self.label_delay!r}.")
        for name in ("test_share", "validation_share"):
            share = getattr(self, name)
            if not 0.0 < share < 0.5:
                raise InvalidSplitError(f"{name} must lie in (0, 0.5), got {share!r}.")


@dataclass(frozen=True, slots=True)
class TimeSplit:
    """The three periods as frames (each with a ``_target`` column) and their bounds."""

    train: pl.DataFrame
    validation: pl.DataFrame
    test: pl.DataFrame
    train_start: datetime
    train_end: datetime
    validation_start: datetime
    validation_end: datetime
    test_start: datetime
    test_end: datetime
    labels_at: datetime


def split_by_time(
    frame: pl.DataFrame,
    spec: SplitSpec,
    label: str = "is_fraud",
    label_available: str = "label_available_at",
) -> TimeSplit:
    """Cut ``frame`` (the offline backfill output) into train / validation / test by ``ts``.

    Raises InvalidSplitError when the bounds are out of order, a gap is shorter than
    ``label_delay``, ``labels_at`` is after ``test_start`` (a leak), a period is empty, or
    ``label`` is not a column.

    Examples:
        >>> from datetime import UTC
        >>> at = datetime(2026, 1, 1, tzinfo=UTC)
        >>> ev = pl.DataFrame({"ts": [at + timedelta(days=d) for d in range(30)],
        ...                    "is_fraud": [d % 3 == 0 for d in range(30)]})
        >>> s = split_by_time(ev, SplitSpec(label_delay=timedelta(days=1)))
        >>> s.train.height, s.validation.height, s.test.height
        (16, 6, 6)
    """
    if label not in frame.columns:
        raise InvalidSplitError(
            f"events have no label column {label!r}; columns: {', '.join(frame.columns)}."
        )
    if frame.is_empty():
        raise InvalidSplitError("cannot split an empty events frame.")
    bounds = _bounds(frame, spec)
    (train_start, train_end, val_start, val_end, test_start, test_end, labels_at) = bounds
    known = _known(frame, spec, label, label_available, labels_at)
    frame = frame.with_columns(known.alias(TARGET))
    test = frame.with_columns(pl.col(label).fill_null(False).cast(pl.Int8).alias(TARGET))
    parts = {
        "train": _period(frame, train_start, train_end),
        "validation": _period(frame, val_start, val_end),
        "test": _period(test, test_start, test_end),
    }
    for name, part in parts.items():
        if part.is_empty():
            raise InvalidSplitError(
                f"the {name} period has no events; check the split dates against the data "
                f"range {frame['ts'].min()!r} .. {frame['ts'].max()!r}."
            )
    return TimeSplit(
        parts["train"],
        parts["validation"],
        parts["test"],
        train_start,
        train_end,
        val_start,
        val_end,
        test_start,
        test_end,
        labels_at,
    )


def _bounds(frame: pl.DataFrame, spec: SplitSpec) -> tuple[datetime, ...]:
    lo, hi = frame["ts"].min(), frame["ts"].max()
    if not isinstance(lo, datetime) or not isinstance(hi, datetime):
        raise InvalidSplitError(f"column 'ts' must hold datetimes, got {lo!r}.")
    span = hi - lo
    gap = spec.label_delay
    train_start = spec.train_start or lo
    test_end = spec.test_end or hi + _EPS
    test_start = spec.test_start or test_end - span * spec.test_share
    if spec.train_end is not None:
        train_end = spec.train_end
        val_start = train_end + gap
    else:
        val_start = test_start - gap - span * spec.validation_share
        train_end = val_start - gap
    val_end = test_start - gap
    labels_at = spec.labels_at or test_start
    order = [
        ("train_start", train_start),
        ("train_end", train_end),
        ("validation_start", val_start),
        ("validation_end", val_end),
        ("test_start", test_start),
        ("test_end", test_end),
    ]
    for (a, x), (b, y) in itertools.pairwise(order):
        if x > y or (x == y and a != "train_end"):
            raise InvalidSplitError(
                f"split bounds must increase with gaps of label_delay={gap!r}: "
                f"{a}={x!r} is not before {b}={y!r}."
            )
    if labels_at > test_start:
        raise InvalidSplitError(
            f"labels_at={labels_at!r} is after test_start={test_start!r}: the model would "
            f"learn labels from inside the test period. Use a time <= test_start."
        )
    return train_start, train_end, val_start, val_end, test_start, test_end, labels_at


def _known(
    frame: pl.DataFrame, spec: SplitSpec, label: str, available: str, labels_at: datetime
) -> pl.Expr:
    fraud = pl.col(label).fill_null(False)
    if available in frame.columns:
        arrived = pl.col(available).is_not_null() & (pl.col(available) <= labels_at)
    else:
        arrived = (pl.col("ts") + spec.label_delay) <= labels_at
    return (fraud & arrived).cast(pl.Int8)


def _period(frame: pl.DataFrame, start: datetime, end: datetime) -> pl.DataFrame:
    return frame.filter((pl.col("ts") >= start) & (pl.col("ts") < end))
