"""Many payment attempts as columns.

A batch of the API holds a thousand attempts; the feature engine, the rules and the decision
log read them field by field. Made one by one, the attempts cost ~3 us each (a frozen
dataclass sets its fields one call at a time), more than everything else done with them
before the model; as columns they cost one list per field, and an attempt is made only
where one is needed (a rule that fired, a store that takes events one by one).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from operator import attrgetter
from typing import overload

from riskline.events._schemas import PaymentAttempt

FIELDS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(PaymentAttempt))
"""The fields of ``PaymentAttempt``, in order."""


class PaymentAttempts(Sequence[PaymentAttempt]):
    """Attempts as columns: ``column(name)`` holds field ``name`` of every attempt, and
    ``attempts[i]`` is attempt ``i`` as a ``PaymentAttempt``, made when asked for.

    Built from ``columns`` (field name -> one value per attempt; a field left out is None
    throughout), which are checked at once as each ``PaymentAttempt`` checks itself: the
    first attempt that would fail raises its ``SchemaError``. The columns are the
    caller's lists, never changed afterwards.
    """

    __slots__ = ("_columns", "_size")

    def __init__(self, columns: Mapping[str, list[object]]) -> None:
        unknown = set(columns) - set(FIELDS)
        if unknown:
            raise TypeError(f"PaymentAttempt has no field {sorted(unknown)[0]!r}.")
        sizes = {len(values) for values in columns.values()}
        if len(sizes) > 1:
            raise ValueError(f"columns of different lengths: {sorted(sizes)}.")
        self._size = sizes.pop() if sizes else 0
        self._columns = {n: columns.get(n) or [None] * self._size for n in FIELDS}
        if not self._valid():
            for i in range(self._size):
                self[i]  # raises the SchemaError of the first attempt that fails

    @classmethod
    def of(cls, attempts: Iterable[PaymentAttempt]) -> PaymentAttempts:
        """The columns of ``attempts``."""
        rows = list(attempts)
        return cls({n: list(map(attrgetter(n), rows)) for n in FIELDS})

    def column(self, name: str) -> list[object]:
        """Field ``name`` of every attempt (``KeyError`` if there is no such field)."""
        return self._columns[name]

    @property
    def transaction_ids(self) -> list[str]:
        """The attempts' ``transaction_id``s."""
        return self._columns["transaction_id"]  # type: ignore[return-value]  # checked: str

    def _valid(self) -> bool:
        """Whether every attempt passes ``PaymentAttempt``'s own checks."""
        c = self._columns
        return (
            all(type(t) is str and t for t in c["transaction_id"])
            and all(isinstance(ts, datetime) and ts.tzinfo is not None for ts in c["ts"])
            and all(type(a) is int and a >= 0 for a in c["amount_minor"])
            and None not in map(_either, c["customer_id"], c["card_token"])
        )

    def __len__(self) -> int:
        return self._size

    @overload
    def __getitem__(self, i: int) -> PaymentAttempt: ...
    @overload
    def __getitem__(self, i: slice) -> list[PaymentAttempt]: ...
    def __getitem__(self, i: int | slice) -> PaymentAttempt | list[PaymentAttempt]:
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(self._size))]
        if not -self._size <= i < self._size:
            raise IndexError(f"attempt {i} of {self._size}")
        return PaymentAttempt(*(values[i] for values in self._columns.values()))  # type: ignore[arg-type]


def _either(a: object, b: object) -> object:
    return b if a is None else a


def event_columns(events: Sequence[PaymentAttempt], names: Sequence[str]) -> list[list[object]]:
    """Fields ``names`` of every event, one list per name (None where an event has no such
    field): a ``PaymentAttempts``' own columns, else read event by event."""
    if isinstance(events, PaymentAttempts):
        return [events.column(n) if n in FIELDS else [None] * len(events) for n in names]
    return [[getattr(e, n, None) for e in events] for n in names]
