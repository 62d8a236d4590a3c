"""Figures for riskline's self-contained HTML reports: matplotlib (Agg, no display) drawn to
base64 PNG, so a report is one file that opens anywhere."""

from __future__ import annotations

import base64
import io

from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure


def png(fig: Figure) -> str:
    """The figure as base64 PNG text, for ``<img src="data:image/png;base64,...">``."""
    buf = io.BytesIO()
    FigureCanvasAgg(fig).print_png(buf)  # type: ignore[no-untyped-call]
    return base64.b64encode(buf.getvalue()).decode("ascii")


def axes(xlabel: str, ylabel: str) -> tuple[Figure, Axes]:
    """One labelled, gridded plot of the reports' usual size."""
    fig = Figure(figsize=(6.0, 4.2), dpi=90, layout="tight")
    ax = fig.add_subplot()
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    return fig, ax
