"""Which records a read of the decision log selects: kinds and a period, as one value that
the in-memory log applies to rows and the SQL backends turn into conditions."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from riskline.decisions._chain import Row, utc_text
from riskline.errors import InvalidDecisionError


@dataclass(frozen=True, slots=True)
class Window:
    """Which committed rows a read returns: those of ``kinds`` (any kind if None) decided
    in ``[start, end)`` (UTC text as stored, so the backends compare it as text)."""

    kinds: tuple[str, ...] | None = None
    start: str | None = None
    end: str | None = None

    @classmethod
    def of(
        cls,
        kinds: Collection[str] | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> Window | None:
        """The window, or None when it takes every row; ``InvalidDecisionError`` for a naive
        bound or no kind at all."""
        for name, at in (("start", start), ("end", end)):
            if at is not None and at.utcoffset() is None:
                raise InvalidDecisionError(f"{name} must be timezone-aware (UTC), got {at!r}.")
        if isinstance(kinds, str):
            raise InvalidDecisionError(
                f"kinds must be a collection such as ({kinds!r},), not a str."
            )
        if kinds is not None and not kinds:
            raise InvalidDecisionError("kinds is empty: name at least one kind, or pass None.")
        if kinds is None and start is None and end is None:
            return None
        return cls(
            None if kinds is None else tuple(sorted(kinds)),
            None if start is None else utc_text(start),
            None if end is None else utc_text(end),
        )

    def holds(self, row: Row) -> bool:
        at = row[4]
        return (
            (self.kinds is None or row[3] in self.kinds)
            and (self.start is None or at >= self.start)
            and (self.end is None or at < self.end)
        )


def within(
    window: Window, mark: str, kind: str = "kind", at: str = "decided_at"
) -> tuple[str, list[str]]:
    """The SQL conditions (each after `` AND``) and parameters of ``window``, with the
    backend's placeholder ``mark``; ``kind`` and ``at`` are the expressions compared (a
    backend can keep a planner off an index, or compare text byte by byte)."""
    where, params = "", list[str]()
    if window.kinds is not None:
        where += f" AND {kind} IN ({', '.join([mark] * len(window.kinds))})"
        params += window.kinds
    for bound, op in ((window.start, ">="), (window.end, "<")):
        if bound is not None:
            where += f" AND {at} {op} {mark}"
            params.append(bound)
    return where, params
