"""The trained, calibrated model: LightGBM booster + calibrator + feature names + typicals.

Artefact bytes (what the registry stores) are plain text, no pickle::

    riskline-model 1\\n
    <one line of JSON, keys sorted: feature_names, feature_set_version, calibrator, typical>\\n
    <LightGBM model string>
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from typing import Self, cast

import lightgbm as lgb
import numpy as np
import orjson
import polars as pl

from riskline.errors import InvalidModelError, InvalidRequestError
from riskline.features import FeatureRows, matrix_of
from riskline.models._calibrate import Calibrator
from riskline.models._single import SingleRow
from riskline.models._treeshap import TreeShap, build_tables
from riskline.models.explain import Reason, top_reasons

_MAGIC = b"riskline-model 1\n"
_UNBUILT = object()


def _threads(rows: int) -> int:
    """One thread for one row (per-request latency), every core for a batch."""
    return 1 if rows == 1 else 0


class Model:
    """A trained, calibrated binary model; scores are calibrated probabilities in [0, 1].

    ``version`` is the registry version (e.g. ``"fraud-v3"``) once registered, ``""`` before.
    Missing values (``None``) are NaN, which LightGBM routes down each tree's learned branch.
    """

    bounded = True
    """Scoring one row is a fixed walk of the trees in memory (no I/O, no lock, ~0.05 ms):
    ``ModelRunner`` may run it on the event loop instead of handing it to a worker."""

    def __init__(
        self,
        booster: lgb.Booster,
        feature_names: tuple[str, ...],
        feature_set_version: str,
        calibrator: Calibrator,
        typical: tuple[float | None, ...],
        version: str = "",
    ) -> None:
        if len(typical) != len(feature_names) or booster.num_feature() != len(feature_names):
            raise InvalidModelError(
                f"the booster has {booster.num_feature()} features, typical values "
                f"{len(typical)}, names {len(feature_names)}; they must agree."
            )
        self.booster = booster
        self.feature_names = feature_names
        self.feature_set_version = feature_set_version
        self.calibrator = calibrator
        self.typical = typical
        self.version = version
        self._single = SingleRow(booster)
        self._shap: object = _UNBUILT
        self._shap_lock = threading.Lock()

    def matrix(self, rows: Sequence[Mapping[str, float | int | None]]) -> np.ndarray:
        """Rows as a float64 matrix in feature order; raises InvalidRequestError on a missing
        feature (a misspelt or absent key is a training/serving skew, never silently NaN).
        ``FeatureRows`` hand over their matrix: no row is rebuilt."""
        if isinstance(rows, FeatureRows) and (x := rows.columns(self.feature_names)) is not None:
            return x
        try:
            return matrix_of(self.feature_names, rows)
        except LookupError as exc:
            raise InvalidRequestError(
                f"{exc.args[0]}; model {self.version or '(new)'!r} "
                f"needs {', '.join(self.feature_names)}."
            ) from None

    def frame_matrix(self, frame: pl.DataFrame) -> np.ndarray:
        """The model's feature columns of ``frame`` as float64 (nulls -> NaN)."""
        missing = [n for n in self.feature_names if n not in frame.columns]
        if missing:
            raise InvalidRequestError(
                f"frame lacks feature column(s) {', '.join(missing)}; "
                f"model needs {', '.join(self.feature_names)}."
            )
        return (
            frame.select([pl.col(n).cast(pl.Float64) for n in self.feature_names])
            .to_numpy()
            .astype(np.float64, copy=False)
        )

    def margin(self, x: np.ndarray, num_threads: int = 1) -> np.ndarray:
        """Raw log-odds of the booster for a float64 matrix (one LightGBM call); one thread
        by default (per-request latency), ``num_threads=0`` for all cores (batches). A
        single row takes LightGBM's prepared single-row path (4 us instead of ~30)."""
        if x.shape[0] == 1:
            return np.array([self._single.margin(x[0])])
        out = np.asarray(self.booster.predict(x, raw_score=True, num_threads=num_threads))
        return out

    def score(self, rows: Sequence[Mapping[str, float | int | None]]) -> list[float]:
        """Calibrated probabilities, one per row, in one vectorised LightGBM call."""
        if not rows:
            return []
        x = self.matrix(rows)
        scores: list[float] = self.calibrator.apply(self.margin(x, _threads(len(rows)))).tolist()
        return scores

    def score_frame(self, frame: pl.DataFrame) -> np.ndarray:
        """Calibrated probabilities for every row of a frame holding the feature columns."""
        x = self.frame_matrix(frame)
        if x.shape[0] == 0:
            return np.empty(0)
        return self.calibrator.apply(self.margin(x, num_threads=0))

    def contributions(self, x: np.ndarray) -> np.ndarray:
        """Tree SHAP contributions (log-odds), one column per feature: LightGBM's
        ``pred_contrib`` without its bias column, from the model's tables when it has them
        (``_treeshap``: a quarter of LightGBM's CPU, and the GIL released throughout)."""
        tables = self.tree_shap()
        if tables is not None:
            return tables.contributions(x)
        threads = _threads(x.shape[0])
        out = np.asarray(self.booster.predict(x, pred_contrib=True, num_threads=threads))
        return out[:, :-1]

    def tree_shap(self) -> TreeShap | None:
        """The Tree SHAP tables, built on first use (~0.3 s for 200 trees of 31 leaves;
        ``from_bytes`` builds them when loading), or None for a model they cannot serve."""
        with self._shap_lock:
            if self._shap is _UNBUILT:
                self._shap = build_tables(self.booster)
            return cast(TreeShap | None, self._shap)

    def explain(
        self, rows: Sequence[Mapping[str, float | int | None]], top: int = 3
    ) -> list[list[Reason]]:
        """For each row, the ``top`` features that pushed its score up most, as readable
        reasons (one Tree SHAP call for all rows)."""
        if not rows:
            return []
        x = self.matrix(rows)
        contrib = self.contributions(x)
        names, typical = self.feature_names, self.typical
        return [top_reasons(names, x[i], contrib[i], typical, top) for i in range(len(rows))]

    def to_bytes(self) -> bytes:
        """The registry artefact: deterministic bytes (same model -> same bytes)."""
        header = {
            "calibrator": self.calibrator.describe(),
            "feature_names": list(self.feature_names),
            "feature_set_version": self.feature_set_version,
            "typical": list(self.typical),
        }
        body = self.booster.model_to_string(num_iteration=-1)
        return _MAGIC + orjson.dumps(header, option=orjson.OPT_SORT_KEYS) + b"\n" + body.encode()

    @classmethod
    def from_bytes(cls, data: bytes, version: str = "", *, warm: bool = True) -> Self:
        """Load an artefact written by ``to_bytes``; raises InvalidModelError if malformed.

        ``warm`` builds the Tree SHAP tables and compiles their kernel now (0.3-0.7 s), for a
        model about to serve: its first explained request does not wait. A model that is
        only scored (``riskline audit replay`` and ``backtest``) passes ``warm=False``."""
        if not data.startswith(_MAGIC):
            raise InvalidModelError(
                f"not a riskline model artefact: starts with {data[:20]!r}, expected {_MAGIC!r}."
            )
        try:
            head, body = data[len(_MAGIC) :].split(b"\n", 1)
            header = orjson.loads(head)
            names = tuple(str(n) for n in header["feature_names"])
            typical = tuple(None if t is None else float(t) for t in header["typical"])
            calibrator = Calibrator.from_description(header["calibrator"])
            fs_version = str(header["feature_set_version"])
            booster = lgb.Booster(model_str=body.decode())
        except (ValueError, KeyError, TypeError, lgb.basic.LightGBMError) as exc:
            raise InvalidModelError(f"corrupt riskline model artefact: {exc}") from None
        model = cls(booster, names, fs_version, calibrator, typical, version)
        if warm:
            model.tree_shap()
        return model
