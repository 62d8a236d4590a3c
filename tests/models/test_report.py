"""The evaluation report: self-contained HTML with embedded figures, and JSON."""

from __future__ import annotations

import base64
from pathlib import Path

import numpy as np
import orjson

from riskline.models import (
    Bands,
    Baseline,
    CostMatrix,
    Evaluation,
    Outcomes,
    evaluate,
    write_report,
    write_report_json,
)

COSTS = CostMatrix(
    chargeback_fee_minor=2_500, margin_share=0.03, friction_minor=300, review_minor=500
)


def _evaluation() -> Evaluation:
    rng = np.random.default_rng(1)
    n = 5_000
    y = (rng.random(n) < 0.02).astype(np.int8)
    scores = np.clip(0.02 + 0.5 * y * rng.random(n) + 0.05 * rng.random(n), 0, 1)
    out = Outcomes(
        y, rng.integers(100, 10_000, n), rng.integers(0, 5, n), rng.integers(0, 300, n).astype(str)
    )
    rules = Baseline("rules", (scores > 0.3) * 0.9, Bands(0.5, 0.8))
    return evaluate(
        scores, out, Bands(0.1, 0.4), COSTS, [rules], [("count_5m_by_card", 0.8), ("x", 0.1)]
    )


def test_html_report_is_self_contained(tmp_path: Path) -> None:
    e = _evaluation()
    page = write_report(e, tmp_path / "r.html").read_text()
    assert page.count('src="data:image/png;base64,') == 6
    assert "<script" not in page
    assert "http" not in page.replace("http-equiv", "")
    for text in ("PR-AUC", "ECE", "accuracy at 0.5", "cost / 1,000", "rules", "count_5m_by_card"):
        assert text in page
    png = page.split('src="data:image/png;base64,')[1].split('"')[0]
    assert base64.b64decode(png).startswith(b"\x89PNG")


def test_json_report_holds_metrics_and_curves(tmp_path: Path) -> None:
    e = _evaluation()
    data = orjson.loads(write_report_json(e, tmp_path / "r.json").read_bytes())
    assert data["metrics"]["test_pr_auc"] == e.model.pr_auc_score
    assert data["baselines"][0]["name"] == "rules"
    assert set(data["cost_per_1000"]) == {"bands", "threshold_05", "rules"}
    assert len(data["model"]["curves"]["pr"]) <= 200
