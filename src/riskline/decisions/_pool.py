"""A tiny pool of reader connections shared by caller threads."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Generic, TypeVar

from riskline.errors import DecisionLogUnavailableError

C = TypeVar("C")


class Pool(Generic[C]):
    """Connections are made on demand, reused, and dropped after an error."""

    def __init__(self, connect: Callable[[], C], close: Callable[[C], None]) -> None:
        self._connect = connect
        self._close = close
        self._lock = threading.Lock()
        self._idle: list[C] = []
        self._closed = False

    @contextmanager
    def borrow(self) -> Iterator[C]:
        with self._lock:
            if self._closed:
                raise DecisionLogUnavailableError(
                    "the decision log is closed; open it again to read."
                )
            conn = self._idle.pop() if self._idle else None
        if conn is None:
            conn = self._connect()
        keep = False
        try:
            yield conn
            keep = True
        finally:
            with self._lock:
                keep = keep and not self._closed
                if keep:
                    self._idle.append(conn)
            if not keep:
                self._close(conn)

    def drop_idle(self) -> None:
        """Close the idle connections (after one failed: the others likely died with it)."""
        with self._lock:
            idle, self._idle = self._idle, []
        for conn in idle:
            self._close(conn)

    def close(self) -> None:
        with self._lock:
            self._closed = True
        self.drop_idle()
