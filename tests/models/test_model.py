"""Model training, calibration, artefact round trip and reason codes (issue 4)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import polars as pl
import pytest

from riskline.errors import InvalidModelError, InvalidRequestError
from riskline.features import FeatureRows, FeatureVector
from riskline.models import Model, TrainedModel, describe
from tests.models.planted import planted_frame, planted_model

Row = Mapping[str, float | int | None]


@pytest.fixture(scope="module")
def frame() -> pl.DataFrame:
    return planted_frame()


@pytest.fixture(scope="module")
def fitted(frame: pl.DataFrame) -> TrainedModel:
    return planted_model(frame)


def _rows(frame: pl.DataFrame, model: Model, n: int) -> list[Row]:
    return list(frame.head(n).select(model.feature_names).iter_rows(named=True))


def test_reasons_name_the_planted_dominant_feature(fitted: TrainedModel) -> None:
    row: Row = {
        "count_5m_by_card": 6,
        "value_amount_minor": 1_234,
        "time_since_last_30d_by_card": 90.0,
    }
    reasons = fitted.model.explain([row], top=3)[0]
    assert reasons[0].code == "count_5m_by_card"
    assert reasons[0].value == 6
    assert reasons[0].typical == 0.0
    assert reasons[0].text == "6 transactions on this card in the last 5 minutes, usually 0"
    assert reasons[0].contribution > 1.0
    assert all(r.contribution > 0 for r in reasons)
    assert fitted.model.score([row])[0] > 0.5


def test_reason_contributions_are_lightgbm_pred_contrib(fitted: TrainedModel) -> None:
    model = fitted.model
    row: Row = {
        "count_5m_by_card": 5,
        "value_amount_minor": None,
        "time_since_last_30d_by_card": None,
    }
    x = model.matrix([row])
    contrib = np.asarray(model.booster.predict(x, pred_contrib=True))[0]
    assert math.isclose(contrib.sum(), float(model.margin(x)[0]), rel_tol=1e-9)
    by_code = {r.code: r.contribution for r in model.explain([row], top=3)[0]}
    assert math.isclose(by_code["count_5m_by_card"], contrib[0])


def test_bytes_round_trip_gives_identical_scores(fitted: TrainedModel, frame: pl.DataFrame) -> None:
    model = fitted.model
    data = model.to_bytes()
    again = Model.from_bytes(data, version="planted-v1")
    assert again.to_bytes() == data
    assert again.version == "planted-v1"
    assert again.feature_names == model.feature_names
    assert again.typical == model.typical
    rows = _rows(frame, model, 500)
    assert again.score(rows) == model.score(rows)
    assert np.array_equal(again.score_frame(frame), model.score_frame(frame))


def test_score_matches_score_frame(fitted: TrainedModel, frame: pl.DataFrame) -> None:
    model = fitted.model
    rows = _rows(frame, model, 200)
    assert np.allclose(model.score(rows), model.score_frame(frame.head(200)), rtol=0, atol=1e-12)


def test_scores_are_calibrated_probabilities(fitted: TrainedModel, frame: pl.DataFrame) -> None:
    scores = fitted.model.score_frame(frame)
    assert 0.0 <= scores.min() <= scores.max() <= 1.0
    # 155 validation positives: fewer than 200, so Platt is the only candidate
    assert set(fitted.calibration_losses) == {"platt"}
    chosen = fitted.model.calibrator.method
    assert fitted.calibration_losses[chosen] == min(fitted.calibration_losses.values())
    # the planted rule gives a clean signal: mean score within 1 point of the label rate
    assert abs(scores.mean() - frame["is_fraud"].mean()) < 0.01


def test_missing_feature_key_is_refused(fitted: TrainedModel) -> None:
    with pytest.raises(InvalidRequestError, match="row 0 has no feature 'value_amount_minor'"):
        fitted.model.score([{"count_5m_by_card": 1, "time_since_last_30d_by_card": 1.0}])


def test_corrupt_artefact_is_refused(fitted: TrainedModel) -> None:
    with pytest.raises(InvalidModelError, match="not a riskline model artefact"):
        Model.from_bytes(b"pickle?")
    with pytest.raises(InvalidModelError, match="corrupt riskline model artefact"):
        Model.from_bytes(fitted.model.to_bytes()[:200])


@pytest.mark.parametrize(
    ("name", "value", "typical", "text"),
    [
        ("count_1h_by_device", 3, 0.0, "3 transactions on this device in the last hour, usually 0"),
        (
            "sum_amount_minor_1d_by_card",
            12_345,
            500.0,
            "total amount 123.45 on this card in the last 24 hours, usually 5.00",
        ),
        (
            "new_value_device_id_90d_by_customer",
            1,
            0.0,
            "a new device for this customer (not seen in the last 90 days)",
        ),
        (
            "label_rate_30d_by_terminal",
            0.25,
            0.0,
            "confirmed fraud rate 25.0% on this terminal in the last 30 days, usually 0.0%",
        ),
        (
            "time_since_last_30d_by_card",
            30.0,
            7_200.0,
            "30 seconds since the previous transaction on this card in the last 30 days, "
            "usually 2 hours",
        ),
        (
            "time_since_last_30d_by_card",
            None,
            7_200.0,
            "first transaction on this card in the last 30 days",
        ),
        ("ip_country_differs_customer_country", 1, 0.0, "ip country differs from customer country"),
        (
            "zscore_amount_minor_7d_by_customer",
            4.2,
            0.1,
            "amount 4.2 standard deviations from the mean on this customer in the last 7 days, "
            "usually 0.1",
        ),
        (
            "distinct_merchant_id_1d_by_card",
            4,
            1.0,
            "4 different merchant ids on this card in the last 24 hours, usually 1",
        ),
        ("mystery", 2.5, None, "mystery = 2.5"),
    ],
)
def test_reason_text_by_feature_family(
    name: str, value: float | int | None, typical: float | None, text: str
) -> None:
    assert describe(name, value, typical) == text


def test_feature_rows_score_and_explain_as_their_mappings(fitted: TrainedModel) -> None:
    model = fitted.model
    rng = np.random.default_rng(3)
    names = ("extra", *reversed(model.feature_names))  # another order, one more column
    vectors = [
        FeatureVector(
            f"t{i}",
            {n: None if rng.random() < 0.2 else float(rng.integers(0, 9)) for n in names},
            0,
            True,
        )
        for i in range(50)
    ]
    rows = FeatureRows.of(names, vectors)
    plain = [dict(v.values) for v in vectors]
    assert model.score(rows) == model.score(plain)  # the matrix is taken, not rebuilt
    assert model.explain(rows.take([3, 1])) == model.explain([plain[3], plain[1]])
    short = [FeatureVector(v.transaction_id, dict(v.values), 0, True) for v in vectors]
    for v in short:
        del v.values[names[-1]]
    with pytest.raises(InvalidRequestError, match=f"row 0 has no feature {names[-1]!r}"):
        model.score(FeatureRows.of(names[:-1], short))  # a feature short: refused


def test_a_single_row_scores_exactly_as_lightgbm_predict_from_any_thread(
    fitted: TrainedModel,
) -> None:
    model = fitted.model
    rng = np.random.default_rng(5)
    x = rng.normal(size=(400, len(model.feature_names))) * 50
    x[rng.random(x.shape) < 0.15] = np.nan  # missing values take each tree's learned branch
    expected = np.asarray(model.booster.predict(x, raw_score=True))

    def each(rows: range) -> list[float]:
        return [float(model.margin(x[i : i + 1])[0]) for i in rows]

    with ThreadPoolExecutor(4) as pool:  # one prepared config per thread
        got = [v for part in pool.map(each, [range(k, 400, 4) for k in range(4)]) for v in part]
    order = [i for k in range(4) for i in range(k, 400, 4)]
    assert got == [float(expected[i]) for i in order]  # bit for bit
    assert model.margin(x[:2]).tolist() == expected[:2].tolist()  # two rows: predict itself
