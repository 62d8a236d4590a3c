"""The backtest report: one self-contained HTML page (figures as base64 PNG).

What a promotion review looks at: how many decisions move between approve, review and
decline (a matrix), how each logged score would change (logged against new, on log axes,
with the bands), the two score distributions, the expected cost both ways, the labelled
frauds each version stops, and the transactions that flip.
"""

from __future__ import annotations

import html
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from riskline.decisions.audit import Backtest
from riskline.models import ACTIONS
from riskline.models.figures import axes, figure_tags, page, png

_FLOOR = 1e-5  # scores below this are drawn at it (log axes)
_MAX_POINTS = 20_000  # the scatter draws an even sample of longer periods


def write_backtest_report(result: Backtest, path: Path, *, flips: int = 50) -> Path:
    """Write the report of ``result`` to ``path`` (the ``flips`` largest score changes
    listed); return ``path``."""
    r = result
    figures = [
        ("Decisions moved: logged (rows) to would-be (columns)", _moves(r)),
        ("Each decision's score, logged and under the new version", _scatter(r)),
        ("Score distributions", _histograms(r)),
    ]
    actions = "".join(
        f"<tr><td>{a}</td><td>{logged:,}</td><td>{new:,}</td><td>{new - logged:+,}</td></tr>"
        for a, (logged, new) in r.by_action.items()
    )
    frauds, stopped_before, stopped_after = r.fraud_stopped
    largest = sorted(r.flips, key=lambda f: abs(f.new_score - f.logged_score), reverse=True)
    flipped = "".join(
        f"<tr><td>{html.escape(f.transaction_id)}</td><td>{html.escape(f.decision_id)}</td>"
        f"<td>{f.logged_action}</td><td>{f.logged_score:.4f}</td>"
        f"<td>{f.new_action}</td><td>{f.new_score:.4f}</td></tr>"
        for f in largest[:flips]
    )
    start = r.since.isoformat() if r.since else "the start of the log"
    period = f"from {start} to {r.until.isoformat() if r.until else 'the end of the log'}"
    body = f"""<h1>Backtest of {html.escape(r.model_version)}</h1>
<p>{r.decisions:,} logged decisions {html.escape(period)}, replayed under
{html.escape(r.model_version)} and its bands (review at {r.thresholds.review_at:.4f},
decline at {r.thresholds.decline_at:.4f}). {len(r.flips):,} would change their action.</p>
<h2>Expected cost (minor units)</h2>
<table><tr><th>as logged</th><th>would be</th><th>change</th></tr>
<tr><td>{r.logged_cost_minor:,.0f}</td><td>{r.new_cost_minor:,.0f}</td>
<td>{r.cost_delta_minor:+,.0f}</td></tr></table>
<p>A decision's cost uses its label when one is logged ({r.labelled:,} of {r.decisions:,}),
otherwise each side's own calibrated score; but {r.fallbacks_repriced:,} unlabelled decisions
the rules made without a model score (fallbacks), whose logged score is a rule severity rather
than a probability, are priced with {html.escape(r.model_version)}'s score on both sides.
Of the {frauds:,} labelled frauds, the logged
decisions reviewed or declined {stopped_before:,}; {html.escape(r.model_version)} would
stop {stopped_after:,}.</p>
<h2>Decisions by action</h2>
<table><tr><th>action</th><th>as logged</th><th>would be</th><th>change</th></tr>{actions}
</table>
<h2>Figures</h2>{figure_tags(figures)}
<h2>Largest score changes among the {len(r.flips):,} flips</h2>
<table><tr><th>transaction</th><th>decision</th><th>logged</th><th>score</th>
<th>would be</th><th>score</th></tr>{flipped}</table>"""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page("riskline backtest", body), encoding="utf-8")
    return path


def _moves(r: Backtest) -> str:
    """The 3x3 matrix of counts, logged action by row, new action by column."""
    at = {a: i for i, a in enumerate(ACTIONS)}
    counts = np.zeros((len(ACTIONS), len(ACTIONS)), np.int64)
    for old, new in zip(r.logged_actions, r.new_actions, strict=True):
        counts[at[old], at[new]] += 1
    fig = Figure(figsize=(5.2, 4.2), dpi=90, layout="tight")
    ax = fig.add_subplot()
    shade = np.log1p(counts)
    ax.imshow(shade, cmap="Blues", vmin=0, vmax=max(float(shade.max()), 1.0))
    for i in range(len(ACTIONS)):
        for j in range(len(ACTIONS)):
            light = shade[i, j] > 0.6 * shade.max()
            ax.text(j, i, f"{counts[i, j]:,}", ha="center", va="center",
                    color="white" if light else "black")  # fmt: skip
    ax.set_xticks(range(len(ACTIONS)), ACTIONS)
    ax.set_yticks(range(len(ACTIONS)), ACTIONS)
    ax.set_xlabel(f"would be under {r.model_version}")
    ax.set_ylabel("as logged")
    return png(fig)


def _scatter(r: Backtest) -> str:
    fig, ax = axes("logged score (log)", f"score under {r.model_version} (log)")
    old = np.maximum(np.array(r.logged_scores, np.float64), _FLOOR)
    new = np.maximum(np.array(r.new_scores, np.float64), _FLOOR)
    pick = np.arange(len(old))
    if len(pick) > _MAX_POINTS:
        pick = np.linspace(0, len(old) - 1, _MAX_POINTS).astype(np.int64)
    labels = [r.labels[i] for i in pick]
    for name, want, color in (("unlabelled", None, "tab:blue"), ("genuine", False, "0.5"),
                              ("fraud", True, "tab:red")):  # fmt: skip
        chosen = pick[[label is want for label in labels]]
        if len(chosen):
            ax.scatter(old[chosen], new[chosen], s=6, alpha=0.5, color=color, label=name)
    low = float(min(old.min(), new.min())) if len(old) else _FLOOR
    ax.plot([low, 1], [low, 1], "k:", lw=1, label="unchanged")
    for name, y, style in (("review at", r.thresholds.review_at, "--"),
                           ("decline at", r.thresholds.decline_at, "-")):  # fmt: skip
        ax.axhline(max(y, _FLOOR), color="tab:orange", ls=style, lw=1, label=f"{name} {y:.3g}")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.legend(loc="upper left", fontsize=8)
    return png(fig)


def _histograms(r: Backtest) -> str:
    fig, ax = axes("score (log)", "decisions")
    edges = np.logspace(np.log10(_FLOOR), 0, 41)
    for name, scores in (("as logged", r.logged_scores), (r.model_version, r.new_scores)):
        values = np.maximum(np.array(scores, np.float64), _FLOOR)
        ax.hist(values, bins=edges.tolist(), histtype="step", label=name)
    ax.set_xscale("log")
    ax.legend()
    return png(fig)
