"""Batch scoring of an events frame and global importance, vectorised."""

from __future__ import annotations

import numpy as np
import polars as pl

from riskline.errors import InvalidRequestError
from riskline.features import FeatureSet, compute_offline
from riskline.models._costs import ACTIONS, Bands
from riskline.models._model import Model
from riskline.models.explain import describe


def score_events(
    model: Model, fs: FeatureSet, events: pl.DataFrame, bands: Bands, top: int = 3
) -> pl.DataFrame:
    """Score every event with its features as of that event (the offline engine).

    Returns, in processing order, ``transaction_id``, ``ts``, ``score``, ``decision``
    (approve / review / decline from ``bands``), ``reasons`` (up to ``top`` feature names
    with positive contributions, largest first) and ``reason_texts``. ``top=0`` skips
    reasons (much faster on millions of rows). Raises InvalidRequestError when ``fs`` is
    not the feature set the model was trained on.
    """
    if fs.version != model.feature_set_version:
        raise InvalidRequestError(
            f"feature set {fs.version!r} is not the one model {model.version or '(new)'!r} "
            f"was trained on ({model.feature_set_version!r})."
        )
    frame = compute_offline(fs, events)
    x = model.frame_matrix(frame)
    scores = model.calibrator.apply(model.margin(x, num_threads=0))
    out = frame.select("transaction_id", "ts").with_columns(
        pl.Series("score", scores),
        pl.Series("decision", np.asarray(ACTIONS)[bands.actions(scores)]),
    )
    empty: list[list[str]] = [[] for _ in range(x.shape[0])]
    codes, texts = _reasons(model, x, top) if top > 0 else (empty, empty)
    return out.with_columns(
        pl.Series("reasons", codes, dtype=pl.List(pl.String)),
        pl.Series("reason_texts", texts, dtype=pl.List(pl.String)),
    )


def _reasons(model: Model, x: np.ndarray, top: int) -> tuple[list[list[str]], list[list[str]]]:
    contrib = model.contributions(x)
    k = min(top, contrib.shape[1])
    order = np.argsort(-contrib, axis=1, kind="stable")[:, :k]
    cache: dict[tuple[int, float], str] = {}
    codes: list[list[str]] = []
    texts: list[list[str]] = []
    names = model.feature_names
    for r in range(x.shape[0]):
        row_codes: list[str] = []
        row_texts: list[str] = []
        for j in order[r]:
            if contrib[r, j] <= 0.0:
                break
            v = float(x[r, j])
            key = (int(j), v)
            if key not in cache:
                value = None if np.isnan(v) else (int(v) if v.is_integer() else v)
                cache[key] = describe(names[j], value, model.typical[j])
            row_codes.append(names[j])
            row_texts.append(cache[key])
        codes.append(row_codes)
        texts.append(row_texts)
    return codes, texts


def global_importance(
    model: Model, frame: pl.DataFrame, rows: int = 20_000, seed: int = 7
) -> list[tuple[str, float]]:
    """Mean |SHAP contribution| per feature over (a seeded sample of) ``frame``, largest first."""
    if frame.height > rows:
        frame = frame.sample(rows, seed=seed)
    mean_abs = np.abs(model.contributions(model.frame_matrix(frame))).mean(axis=0)
    ranked = sorted(zip(model.feature_names, mean_abs.tolist(), strict=True), key=lambda t: -t[1])
    return [(name, float(v)) for name, v in ranked]
