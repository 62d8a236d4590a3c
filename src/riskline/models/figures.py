"""Riskline's self-contained HTML reports: figures drawn by matplotlib (Agg, no display) as
base64 PNG inside one page with the reports' common style, so a report is one file that
opens anywhere."""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Sequence

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


_STYLE = """body{font-family:sans-serif;max-width:1100px;margin:2em auto}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 8px;
text-align:right}td:first-child{text-align:left}figure{display:inline-block;margin:8px}
img{width:520px}"""


def figure_tags(figures: Sequence[tuple[str, str]]) -> str:
    """``<figure>`` elements of ``(title, png)`` pairs, the title as caption and alt text."""
    return "".join(
        f'<figure><img alt="{html.escape(title)}" src="data:image/png;base64,{image}">'
        f"<figcaption>{html.escape(title)}</figcaption></figure>"
        for title, image in figures
    )


def page(title: str, body: str) -> str:
    """A whole HTML document: ``title`` (escaped) in the head, ``body`` (HTML) as is."""
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>{_STYLE}</style></head><body>
{body}
</body></html>
"""
