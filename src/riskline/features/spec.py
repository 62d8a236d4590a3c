"""Declarative feature definitions: one definition, executed by the offline and online engines.

Time semantics (both engines, every feature):

* Events are processed in order: offline, a file is sorted by ``ts`` (stable, so rows with
  equal ``ts`` keep file order); online, in arrival order.
* Each event gets an effective time ``eff = max(ts, watermark)``, where the watermark is the
  highest ``ts`` processed before it. An in-order event has ``eff == ts``; a late event is
  placed at the watermark, i.e. counted from when it arrived.
* A feature of event ``e`` aggregates the *contributing* events ``f`` of the same entity with
  ``eff(f)`` in ``[eff(e) - window, eff(e))``: strictly before ``e``. Events with equal
  ``eff`` never see each other, so no tie-break is needed and file order cannot matter.
* An event does not contribute when its ``transaction_id`` was already processed within
  ``dedup_horizon`` (a duplicate), or when ``ts`` is more than ``allowed_lateness`` behind
  the watermark (too late). It still gets its own features.
* ``bucketed`` windows aggregate whole buckets ``[B - window/bucket, B)`` where
  ``B = floor(eff / bucket)``: everything up to the start of the current bucket.
* A fraud label counts from ``label_at = max(label_available_at, ts + label_delay, eff)``
  (without ``label_available_at`` when the file has none), in the bucket of ``label_at``;
  label features are always bucketed, so a label is used only after it arrived, and never
  before its own event was processed. (The service knows a labelled event by its logged
  request, without ``eff``; the two agree whenever ``label_delay >= allowed_lateness``, as
  in the fraud set: 3 days against 5 minutes.)
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Literal, get_args

from riskline.errors import InvalidFeatureError, UnknownFeatureError
from riskline.events import PAYMENT_COLUMNS

Agg = Literal[
    "count",
    "sum",
    "mean",
    "std",
    "min",
    "max",
    "distinct",
    "time_since_last",
    "new_value",
    "zscore",
    "ratio",
    "label_rate",
    "value",
    "differs",
]
WindowKind = Literal["sliding", "bucketed"]
Op = Literal["==", "!=", "<", "<=", ">", ">="]

_AGGS: tuple[str, ...] = get_args(Agg)
_OPS: tuple[str, ...] = get_args(Op)
_COLUMNS = {c.name: c for c in PAYMENT_COLUMNS}
_NUMERIC = {"amount_minor"}
_NEEDS_COLUMN = {
    "sum",
    "mean",
    "std",
    "min",
    "max",
    "distinct",
    "new_value",
    "zscore",
    "ratio",
    "value",
    "differs",
}
_NEEDS_NUMERIC = {"sum", "mean", "std", "min", "max", "zscore", "ratio", "value"}
_ROW_LEVEL = {"value", "differs"}
_INT_OUTPUT = {"count", "sum", "min", "max", "distinct", "new_value", "value", "differs"}
MAX_WINDOW = timedelta(days=90)


def _known_column(column: str, where: str) -> None:
    if column not in _COLUMNS:
        raise InvalidFeatureError(
            f"{where} uses unknown column {column!r}; known columns: {', '.join(_COLUMNS)}."
        )


@dataclass(frozen=True, slots=True)
class Entity:
    """Whose history a feature aggregates: one key column or a pair of them."""

    name: str
    columns: tuple[str, ...]

    def __post_init__(self) -> None:
        if not self.name.isidentifier():
            raise InvalidFeatureError(f"entity name must be an identifier, got {self.name!r}.")
        if not 1 <= len(self.columns) <= 2:
            raise InvalidFeatureError(
                f"entity {self.name!r} needs one or two key columns, got {self.columns!r}."
            )
        for column in self.columns:
            _known_column(column, f"entity {self.name!r}")


CUSTOMER = Entity("customer", ("customer_id",))
CARD = Entity("card", ("card_token",))
DEVICE = Entity("device", ("device_id",))
MERCHANT = Entity("merchant", ("merchant_id",))
TERMINAL = Entity("terminal", ("terminal_id",))
ACCOUNT = Entity("account", ("customer_id",))
CUSTOMER_DEVICE = Entity("customer_device", ("customer_id", "device_id"))


@dataclass(frozen=True, slots=True)
class Filter:
    """Only events whose ``column`` compares true with ``value`` contribute."""

    column: str
    op: Op
    value: str | int

    def __post_init__(self) -> None:
        _known_column(self.column, "filter")
        if self.op not in _OPS:
            raise InvalidFeatureError(
                f"filter op must be one of {', '.join(_OPS)}, got {self.op!r}."
            )
        numeric = self.column in _NUMERIC
        if not numeric and self.op not in ("==", "!="):
            raise InvalidFeatureError(
                f"filter on text column {self.column!r} compares with == or != only, "
                f"got {self.op!r}."
            )
        if numeric != isinstance(self.value, int) or isinstance(self.value, bool):
            kind = "an int" if numeric else "a string"
            raise InvalidFeatureError(
                f"filter on {self.column!r} needs {kind} value, got {self.value!r}."
            )

    @property
    def label(self) -> str:
        names = {"==": "eq", "!=": "ne", "<": "lt", "<=": "le", ">": "gt", ">=": "ge"}
        return f"{self.column}_{names[self.op]}_{self.value}"


@dataclass(frozen=True, slots=True)
class Feature:
    """One feature: ``agg`` of ``column`` over ``entity``'s events within ``window``."""

    agg: Agg
    entity: Entity | None = None
    window: timedelta | None = None
    column: str | None = None
    filter: Filter | None = None
    kind: WindowKind = "sliding"
    bucket: timedelta | None = None
    label_delay: timedelta = timedelta(0)
    other: str | None = None  # second column of ``differs``

    def __post_init__(self) -> None:
        if self.agg not in _AGGS:
            raise InvalidFeatureError(
                f"unknown aggregation {self.agg!r}; allowed: {', '.join(_AGGS)}."
            )
        if self.agg in _ROW_LEVEL:
            self._check_row_level()
        else:
            self._check_windowed()
        if self.agg in _NEEDS_COLUMN:
            if self.column is None:
                raise InvalidFeatureError(f"aggregation {self.agg!r} needs a column.")
            _known_column(self.column, f"feature {self.agg!r}")
            if self.agg in _NEEDS_NUMERIC and self.column not in _NUMERIC:
                raise InvalidFeatureError(
                    f"aggregation {self.agg!r} needs a numeric column "
                    f"({', '.join(sorted(_NUMERIC))}), got {self.column!r}."
                )
        elif self.column is not None:
            raise InvalidFeatureError(f"aggregation {self.agg!r} takes no column.")

    def _check_row_level(self) -> None:
        if self.entity is not None or self.window is not None or self.filter is not None:
            raise InvalidFeatureError(
                f"aggregation {self.agg!r} reads the current event only; "
                "give no entity, window or filter."
            )
        if self.agg == "differs":
            if self.other is None:
                raise InvalidFeatureError("aggregation 'differs' needs `other`, a second column.")
            _known_column(self.other, "feature 'differs'")

    def _check_windowed(self) -> None:
        if self.entity is None:
            raise InvalidFeatureError(f"aggregation {self.agg!r} needs an entity.")
        if self.window is None or self.window <= timedelta(0):
            raise InvalidFeatureError(f"window must be positive, got {self.window!r}.")
        if self.window > MAX_WINDOW:
            raise InvalidFeatureError(f"window must be at most 90 days, got {self.window!r}.")
        if self.window % timedelta(seconds=1):
            raise InvalidFeatureError(f"window must be whole seconds, got {self.window!r}.")
        if self.agg == "label_rate" and self.kind != "bucketed":
            raise InvalidFeatureError("aggregation 'label_rate' needs kind='bucketed'.")
        if self.kind == "bucketed":
            if self.bucket is None or self.bucket <= timedelta(0):
                raise InvalidFeatureError(
                    f"a bucketed window needs a positive bucket, got {self.bucket!r}."
                )
            if self.window % self.bucket:
                raise InvalidFeatureError(
                    f"window {self.window!r} must be a whole number of buckets {self.bucket!r}."
                )
            if self.agg not in {"count", "sum", "label_rate"}:
                raise InvalidFeatureError(
                    f"bucketed windows support count, sum and label_rate, got {self.agg!r}."
                )
        elif self.bucket is not None:
            raise InvalidFeatureError("a sliding window takes no bucket.")
        if self.label_delay < timedelta(0):
            raise InvalidFeatureError(f"label_delay must be >= 0, got {self.label_delay!r}.")

    @property
    def name(self) -> str:
        """Derived, never typed: ``count_5m_by_card``, ``new_device_id_30d_by_customer``."""
        if self.agg == "value":
            return f"value_{self.column}"
        if self.agg == "differs":
            return f"{self.column}_differs_{self.other}"
        assert self.entity is not None  # checked in __post_init__
        assert self.window is not None
        parts: list[str] = [self.agg]
        if self.column is not None:
            parts.append(self.column)
        parts.append(duration_label(self.window))
        if self.filter is not None:
            parts.append(f"where_{self.filter.label}")
        return "_".join(parts) + f"_by_{self.entity.name}"

    @property
    def is_integer(self) -> bool:
        """Whether values are integers (else floats); nulls are possible either way."""
        return self.agg in _INT_OUTPUT

    @property
    def columns(self) -> frozenset[str]:
        """Event columns this feature reads."""
        used = set(self.entity.columns if self.entity else ())
        used |= {c for c in (self.column, self.other) if c is not None}
        if self.filter is not None:
            used.add(self.filter.column)
        if self.agg == "label_rate":
            used.add("is_fraud")
        return frozenset(used)

    def describe(self) -> dict[str, str | None]:
        """A canonical, JSON-able description (the feature set version hashes these).

        Everything that changes a value or a name is in it, exactly: the entity's name (it
        is part of the feature's name) and every duration (windows are whole seconds;
        buckets and label delays are in microseconds: cut to whole seconds, they let two
        definitions share one version).
        """
        return {
            "agg": self.agg,
            "entity": None if self.entity is None else ",".join(self.entity.columns),
            "entity_name": None if self.entity is None else self.entity.name,
            "window_s": None if self.window is None else str(int(self.window.total_seconds())),
            "column": self.column,
            "other": self.other,
            "filter": None if self.filter is None else self.filter.label,
            "kind": self.kind,
            "bucket_us": None if self.bucket is None else str(_microseconds(self.bucket)),
            "label_delay_us": str(_microseconds(self.label_delay)),
        }


@dataclass(frozen=True, slots=True)
class FeatureSet:
    """Named, versioned features plus the stream settings both engines share."""

    name: str
    features: tuple[Feature, ...]
    allowed_lateness: timedelta = timedelta(minutes=5)
    dedup_horizon: timedelta = timedelta(days=90)
    version: str = field(init=False)
    names: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        if not self.features:
            raise InvalidFeatureError(f"feature set {self.name!r} has no features.")
        names = [f.name for f in self.features]
        object.__setattr__(self, "names", tuple(names))
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise InvalidFeatureError(f"feature names must be unique; repeated: {dupes}.")
        delays = {f.label_delay for f in self.features if f.agg == "label_rate"}
        if len(delays) > 1:
            raise InvalidFeatureError(
                f"label_rate features of one set must share one label_delay, got {delays!r}."
            )
        if self.allowed_lateness < timedelta(0) or self.dedup_horizon <= timedelta(0):
            raise InvalidFeatureError("allowed_lateness must be >= 0 and dedup_horizon > 0.")
        payload = json.dumps(
            {
                "features": [f.describe() for f in self.features],
                "lateness_s": self.allowed_lateness.total_seconds(),
                "dedup_s": self.dedup_horizon.total_seconds(),
            },
            sort_keys=True,
        )
        digest = hashlib.sha256(payload.encode()).hexdigest()[:12]
        object.__setattr__(self, "version", f"{self.name}-{digest}")

    @property
    def columns(self) -> frozenset[str]:
        """Event columns any feature of the set reads."""
        return frozenset().union(*(f.columns for f in self.features))

    def feature(self, name: str) -> Feature:
        for f in self.features:
            if f.name == name:
                return f
        raise UnknownFeatureError(
            f"Feature {name!r} is not in feature set {self.version!r}. "
            f"Known features: {', '.join(sorted(self.names))}."
        )

    def restrict(self, available: frozenset[str]) -> tuple[FeatureSet, list[str]]:
        """Keep the features whose columns are all available; say which were left out and why."""
        kept: list[Feature] = []
        notes: list[str] = []
        for f in self.features:
            missing = sorted(f.columns - available)
            if missing:
                notes.append(f"left out {f.name}: the events have no {', '.join(missing)} column")
            else:
                kept.append(f)
        if not kept:
            raise InvalidFeatureError(
                f"no feature of {self.name!r} can be computed from columns {sorted(available)}."
            )
        restricted = FeatureSet(self.name, tuple(kept), self.allowed_lateness, self.dedup_horizon)
        return restricted, notes


def _microseconds(duration: timedelta) -> int:
    return duration // timedelta(microseconds=1)


def duration_label(window: timedelta) -> str:
    """``5m``, ``1h``, ``30d``: the largest unit that divides the window.

    Examples:
        >>> duration_label(timedelta(minutes=5)), duration_label(timedelta(hours=36))
        ('5m', '36h')
    """
    seconds = int(window.total_seconds())
    for unit, size in (("d", 86_400), ("h", 3_600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"
