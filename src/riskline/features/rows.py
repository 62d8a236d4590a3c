"""Feature values: of one event (``FeatureVector``) and of a batch (``FeatureRows``, row by
row and as one float64 matrix)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
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
    or the rules read columns without rebuilding them row by row. ``vectors`` keeps each
    event's admission (``eff_us``, ``counted``). The rows and the matrix hold the same values.
    """

    __slots__ = ("_index", "_rows", "matrix", "names", "vectors")

    def __init__(
        self, names: tuple[str, ...], vectors: list[FeatureVector], matrix: np.ndarray
    ) -> None:
        if matrix.shape != (len(vectors), len(names)):
            raise ValueError(
                f"matrix of shape {matrix.shape} for {len(vectors)} rows of {len(names)} names."
            )
        self.names = names
        self.vectors = vectors
        self.matrix = matrix
        self._rows = [v.values for v in vectors]
        self._index = {n: i for i, n in enumerate(names)}

    @classmethod
    def of(cls, names: tuple[str, ...], vectors: list[FeatureVector]) -> FeatureRows:
        """From vectors alone (the matrix is built from their values)."""
        x = np.empty((len(vectors), len(names)), np.float64)
        for i, v in enumerate(vectors):
            values = v.values
            x[i] = [np.nan if (value := values[n]) is None else value for n in names]
        return cls(names, vectors, x)

    def __len__(self) -> int:
        return len(self._rows)

    @overload
    def __getitem__(self, i: int) -> dict[str, Value]: ...
    @overload
    def __getitem__(self, i: slice) -> list[dict[str, Value]]: ...
    def __getitem__(self, i: int | slice) -> dict[str, Value] | list[dict[str, Value]]:
        return self._rows[i]

    def __iter__(self) -> Iterator[dict[str, Value]]:
        return iter(self._rows)

    def column(self, name: str) -> np.ndarray | None:
        """The float64 column of feature ``name`` (None if it is not a feature here)."""
        j = self._index.get(name)
        return None if j is None else self.matrix[:, j]

    def columns(self, names: Sequence[str]) -> np.ndarray | None:
        """The float64 matrix of ``names`` in that order (None if one is not a feature)."""
        if tuple(names) == self.names:
            return self.matrix
        at = [self._index.get(n, -1) for n in names]
        if -1 in at:
            return None
        return self.matrix[:, np.array(at, np.intp)]

    def take(self, indices: Sequence[int]) -> FeatureRows:
        """The rows at ``indices``, in that order."""
        vectors = self.vectors
        return FeatureRows(
            self.names, [vectors[i] for i in indices], self.matrix[np.array(indices, np.intp)]
        )
