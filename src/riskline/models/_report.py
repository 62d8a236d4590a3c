"""The evaluation report: one self-contained HTML page (figures as base64 PNG) and JSON."""

from __future__ import annotations

import html
from dataclasses import asdict
from pathlib import Path

import numpy as np
import orjson
from matplotlib.figure import Figure

from riskline.models.evaluate import Evaluation, ScorerMetrics
from riskline.models.figures import axes as _axes
from riskline.models.figures import figure_tags, page
from riskline.models.figures import png as _png

_ROWS = (
    ("PR-AUC (average precision)", "pr_auc_score"),
    ("ROC-AUC", "roc_auc_score"),
    ("recall at FPR limit", "recall_at_fpr_score"),
    ("precision@k per day", "precision_at_k_score"),
    ("best F1", "best_f1_score"),
    ("Brier (lower is better)", "brier_loss"),
    ("ECE (lower is better)", "ece_loss"),
    ("accuracy at 0.5 (useless)", "accuracy_at_05_score"),
)


def report_dict(evaluation: Evaluation) -> dict[str, object]:
    """The evaluation as plain JSON-able data (curves included)."""
    out = asdict(evaluation)
    out["metrics"] = evaluation.metrics()
    return out


def write_report_json(evaluation: Evaluation, path: Path) -> Path:
    """Write the evaluation as JSON (keys sorted) to ``path``; return ``path``."""
    path.write_bytes(
        orjson.dumps(
            report_dict(evaluation), option=orjson.OPT_SORT_KEYS | orjson.OPT_SERIALIZE_NUMPY
        )
    )
    return path


def write_report(evaluation: Evaluation, path: Path) -> Path:
    """Write a self-contained HTML report (no external files or scripts); return ``path``."""
    e = evaluation
    scorers = (e.model, *e.baselines)
    figures = [
        ("Precision-recall", _pr(scorers)),
        ("ROC", _roc(scorers)),
        ("Calibration", _calibration(scorers)),
        ("Realised cost vs decline threshold", _cost(e)),
        ("Model score distribution by class", _histograms(e)),
        ("Global importance (mean |SHAP|)", _importance(e)),
    ]
    head = "".join(f"<th>{html.escape(s.name)}</th>" for s in scorers)
    rows = "".join(
        f"<tr><td>{label}</td>"
        + "".join(f"<td>{getattr(s, attr):.4f}</td>" for s in scorers)
        + "</tr>"
        for label, attr in _ROWS
    )
    costs = "".join(
        f"<tr><td>{html.escape(name)}</td><td>{value:,.1f}</td></tr>"
        for name, value in e.cost_per_1000.items()
    )
    thresholds = "".join(
        f"<tr><td>{t:.2f}</td><td>{p:.3f}</td><td>{r:.3f}</td><td>{f:.3f}</td></tr>"
        for t, p, r, f in e.model.curves.thresholds
    )
    importance = "".join(
        f"<tr><td>{html.escape(name)}</td><td>{value:.4f}</td></tr>"
        for name, value in e.importance[:20]
    )
    notes = "".join(f"<li>{html.escape(n)}</li>" for n in e.notes)
    body = f"""<h1>Model evaluation (test period)</h1>
<p>{e.rows:,} rows, {e.positives:,} positives ({e.positives / e.rows:.3%}). Predicting
"genuine" for every row scores accuracy {e.all_genuine_accuracy_score:.4f}: accuracy is no
measure here. Recall at FPR &le; {e.fpr_limit:.1%}; precision@{e.k} counts the {e.k}
highest-scored cards per day.</p>
<h2>Metrics beside baselines</h2>
<table><tr><th>metric</th>{head}</tr>{rows}</table>
<h2>Expected cost per 1,000 transactions (realised on test labels)</h2>
<p>Bands: review at {e.bands.review_at:.4f}, decline at {e.bands.decline_at:.4f}. Costs
(minor units): chargeback fee {e.costs.chargeback_fee_minor}, margin share
{e.costs.margin_share}, friction {e.costs.friction_minor}, review {e.costs.review_minor}.</p>
<table><tr><th>policy</th><th>cost / 1,000</th></tr>{costs}</table>
<h2>Model precision / recall / F1 by threshold</h2>
<table><tr><th>threshold</th><th>precision</th><th>recall</th><th>F1</th></tr>{thresholds}</table>
<h2>Global importance (mean |SHAP|, log-odds)</h2>
<table><tr><th>feature</th><th>mean |SHAP|</th></tr>{importance}</table>
<ul>{notes}</ul>
<h2>Figures</h2>{figure_tags(figures)}"""
    path.write_text(page("riskline evaluation", body), encoding="utf-8")
    return path


def _pr(scorers: tuple[ScorerMetrics, ...]) -> str:
    fig, ax = _axes("recall", "precision")
    for s in scorers:
        r, p = np.array(s.curves.pr).T
        ax.plot(r, p, label=f"{s.name} (AP {s.pr_auc_score:.3f})")
    ax.legend()
    return _png(fig)


def _roc(scorers: tuple[ScorerMetrics, ...]) -> str:
    fig, ax = _axes("false-positive rate (log)", "true-positive rate")
    for s in scorers:
        f, t = np.array(s.curves.roc).T
        ax.plot(np.maximum(f, 1e-5), t, label=f"{s.name} (AUC {s.roc_auc_score:.3f})")
    ax.set_xscale("log")
    ax.legend()
    return _png(fig)


def _calibration(scorers: tuple[ScorerMetrics, ...]) -> str:
    fig, ax = _axes("mean predicted probability", "observed positive rate")
    ax.plot([0, 1], [0, 1], "k:", label="perfect")
    for s in scorers:
        m, o = np.array(s.curves.calibration).T
        ax.plot(m, o, "o-", label=f"{s.name} (ECE {s.ece_loss:.4f})")
    ax.legend()
    return _png(fig)


def _cost(e: Evaluation) -> str:
    fig, ax = _axes("decline threshold (no review band)", "cost per 1,000 (minor units)")
    t, c = np.array(e.cost_curve).T
    ax.plot(t, c, label="model, single threshold")
    ax.axhline(e.cost_per_1000["bands"], color="g", ls="--", label="cost bands")
    for name, value in e.cost_per_1000.items():
        if name not in ("bands", "threshold_05"):
            ax.axhline(value, color="r", ls=":", label=name)
    ax.set_xscale("symlog", linthresh=1e-3)
    ax.legend()
    return _png(fig)


def _histograms(e: Evaluation) -> str:
    fig, ax = _axes("calibrated score", "share of class (log)")
    edges = np.array(e.histogram_edges)
    for label, counts in e.score_histograms.items():
        c = np.array(counts, dtype=np.float64)
        ax.stairs(c / max(c.sum(), 1.0), edges, label=label)
    ax.set_yscale("log")
    ax.legend()
    return _png(fig)


def _importance(e: Evaluation) -> str:
    fig = Figure(figsize=(6.0, 5.5), dpi=90, layout="tight")
    ax = fig.add_subplot()
    top = e.importance[:15][::-1]
    ax.barh([n for n, _ in top], [v for _, v in top])
    ax.set_xlabel("mean |SHAP| (log-odds)")
    ax.tick_params(axis="y", labelsize=7)
    return _png(fig)
