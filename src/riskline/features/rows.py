"""Feature values: of one event (``FeatureVector``) and of a batch (``FeatureRows``, row by
row and as one float64 matrix)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import overload

import numpy as np

from riskline.features._compute import Value


@dataclass(frozen=True, slots=True)
class FeatureVector:
    """The features of one event, in feature-set order; ``counted`` is False for a duplicate
    or too-late event (it was scored but not added to any state)."""

    transaction_id: str
    values: dict[str, Value]
    eff_us: int
    counted: bool


class FeatureRows(Sequence[dict[str, Value]]):
    """The features of a batch, in event order: each row a mapping (as logged and answered)
    and all rows as one float64 ``matrix`` with a column per name (a null is NaN), so a model
    or the rules read columns without rebuilding them row by row. ``vectors`` gives each
    event's admission too (``eff_us``, ``counted``). The rows and the matrix hold the same
    values.

    Built ``from_objects`` (the online engine's batches), the values are kept as one matrix
    of Python values and a row's mapping is made only when asked for: a batch logged as
    columns (``by_name``) and decided by columns never needs most of them (1,000 mappings
    cost ~1.6 ms, bench/batch.py).
    """

    __slots__ = ("_admitted", "_ids", "_index", "_objects", "_rows", "matrix", "names")

    def __init__(
        self,
        names: tuple[str, ...],
        rows: list[dict[str, Value]],
        matrix: np.ndarray,
        ids: list[str],
        admitted: list[tuple[int, bool]],
    ) -> None:
        self._check(names, len(rows), matrix, ids, admitted)
        self.names = names
        self.matrix = matrix
        self._rows: list[dict[str, Value]] | None = rows
        self._objects: np.ndarray | None = None
        self._ids = ids
        self._admitted = admitted
        self._index: dict[str, int] | None = None  # made when a column is first asked for

    @staticmethod
    def _check(
        names: tuple[str, ...],
        n: int,
        matrix: np.ndarray,
        ids: list[str],
        admitted: list[tuple[int, bool]],
    ) -> None:
        if matrix.shape != (n, len(names)) or not n == len(ids) == len(admitted):
            raise ValueError(
                f"matrix of shape {matrix.shape} for {n} rows of {len(names)} names, "
                f"{len(ids)} ids and {len(admitted)} admissions."
            )

    @classmethod
    def of(cls, names: tuple[str, ...], vectors: list[FeatureVector]) -> FeatureRows:
        """From vectors (the matrix is built from their values)."""
        rows = [v.values for v in vectors]
        ids = [v.transaction_id for v in vectors]
        admitted = [(v.eff_us, v.counted) for v in vectors]
        return cls(names, rows, matrix_of(names, rows), ids, admitted)

    @classmethod
    def from_objects(
        cls,
        names: tuple[str, ...],
        objects: np.ndarray,
        matrix: np.ndarray,
        ids: list[str],
        admitted: list[tuple[int, bool]],
    ) -> FeatureRows:
        """From ``objects``, a matrix of the rows' Python values (int, float or None) shaped
        as ``matrix``, which holds the same values as float64."""
        if objects.shape != matrix.shape:
            raise ValueError(f"objects of shape {objects.shape} for a matrix of {matrix.shape}.")
        rows = cls.__new__(cls)
        cls._check(names, matrix.shape[0], matrix, ids, admitted)
        rows.names, rows.matrix = names, matrix
        rows._rows, rows._objects = None, objects
        rows._ids, rows._admitted, rows._index = ids, admitted, None
        return rows

    @property
    def vectors(self) -> list[FeatureVector]:
        """Each event's ``FeatureVector`` (sharing the row mappings)."""
        return [
            FeatureVector(i, values, eff, counted)
            for i, values, (eff, counted) in zip(
                self._ids, self._mappings(), self._admitted, strict=True
            )
        ]

    def __len__(self) -> int:
        return len(self._ids)

    @overload
    def __getitem__(self, i: int) -> dict[str, Value]: ...
    @overload
    def __getitem__(self, i: slice) -> list[dict[str, Value]]: ...
    def __getitem__(self, i: int | slice) -> dict[str, Value] | list[dict[str, Value]]:
        if self._rows is None and isinstance(i, int):
            assert self._objects is not None
            return dict(zip(self.names, self._objects[i].tolist(), strict=True))
        return self._mappings()[i]

    def __iter__(self) -> Iterator[dict[str, Value]]:
        return iter(self._mappings())

    def _mappings(self) -> list[dict[str, Value]]:
        if self._rows is None:
            assert self._objects is not None
            names = self.names
            self._rows = [dict(zip(names, row, strict=True)) for row in self._objects.tolist()]
        return self._rows

    def by_name(self) -> dict[str, list[Value]]:
        """Each feature's values in row order, as the rows hold them (ints stay ints, a null
        is None): a batch logged as columns (``riskline.decisions.DecisionBatch``)."""
        if self._objects is not None:
            return dict(zip(self.names, self._objects.T.tolist(), strict=True))
        rows = self._rows
        assert rows is not None
        return {n: [r[n] for r in rows] for n in self.names}

    def column(self, name: str) -> np.ndarray | None:
        """The float64 column of feature ``name`` (None if it is not a feature here)."""
        j = self._positions().get(name)
        return None if j is None else self.matrix[:, j]

    def columns(self, names: Sequence[str]) -> np.ndarray | None:
        """The float64 matrix of ``names`` in that order (None if one is not a feature)."""
        if tuple(names) == self.names:
            return self.matrix
        index = self._positions()
        at = [index.get(n, -1) for n in names]
        if -1 in at:
            return None
        return self.matrix[:, np.array(at, np.intp)]

    def _positions(self) -> dict[str, int]:
        if self._index is None:
            self._index = {n: i for i, n in enumerate(self.names)}
        return self._index

    def take(self, indices: Sequence[int]) -> FeatureRows:
        """The rows at ``indices``, in that order."""
        ids, admitted = self._ids, self._admitted
        at = np.array(indices, np.intp)
        picked_ids = [ids[i] for i in indices]
        picked = [admitted[i] for i in indices]
        if self._rows is None:
            assert self._objects is not None
            return FeatureRows.from_objects(
                self.names, self._objects[at], self.matrix[at], picked_ids, picked
            )
        rows = self._rows
        return FeatureRows(
            self.names, [rows[i] for i in indices], self.matrix[at], picked_ids, picked
        )


def matrix_of(names: Sequence[str], rows: Sequence[Mapping[str, Value]]) -> np.ndarray:
    """``rows`` as a float64 matrix, a column per name (null: NaN). Raises ``LookupError``
    naming the first row that lacks a name (``"row 3 has no feature 'x'"``)."""
    x = np.empty((len(rows), len(names)), np.float64)
    for i, row in enumerate(rows):
        try:
            x[i] = [np.nan if (value := row[n]) is None else value for n in names]
        except KeyError as exc:
            raise LookupError(f"row {i} has no feature {exc.args[0]!r}") from None
    return x
