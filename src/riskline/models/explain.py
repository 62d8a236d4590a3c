"""Reason codes: tree SHAP contributions turned into readable reasons per feature family.

The text is derived from the feature name (``count_5m_by_card``, ``new_value_device_id_90d_by_
customer``, ``label_rate_30d_by_merchant``...), never typed per feature, so any domain pack's
features get readable reasons. Amounts are shown in major units (minor / 100).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np

_WINDOW = re.compile(r"^(?P<n>\d+)(?P<unit>[smhd])$")
_UNITS = {"s": "second", "m": "minute", "h": "hour", "d": "day"}
_WINDOWED = re.compile(
    r"^(?P<agg>count|sum|mean|std|min|max|distinct|time_since_last|new_value|zscore|ratio|"
    r"label_rate)_(?:(?P<column>[a-z_]+?)_)?(?P<window>\d+[smhd])(?:_where_(?P<filter>.+?))?"
    r"_by_(?P<entity>[a-z_]+)$"
)
_DIFFERS = re.compile(r"^(?P<a>[a-z_]+)_differs_(?P<b>[a-z_]+)$")


@dataclass(frozen=True, slots=True)
class Reason:
    """One reason code of a decision.

    ``code`` is the feature name; ``contribution`` its SHAP contribution in log-odds (positive
    pushes towards the positive class); ``typical`` the training-set median of the feature.
    """

    code: str
    text: str
    value: float | int | None
    typical: float | None
    contribution: float


def top_reasons(
    names: tuple[str, ...],
    values: np.ndarray,
    contributions: np.ndarray,
    typical: tuple[float | None, ...],
    top: int,
) -> list[Reason]:
    """The ``top`` features pushing the score up most (positive contributions only), ranked.

    ``contributions`` has one entry per feature (the bias term removed).
    """
    order = np.argsort(-contributions, kind="stable")[:top]
    out: list[Reason] = []
    for i in order:
        c = float(contributions[i])
        if c <= 0.0:
            break
        value = _value(float(values[i]))
        out.append(Reason(names[i], describe(names[i], value, typical[i]), value, typical[i], c))
    return out


def _value(x: float) -> float | int | None:
    if math.isnan(x):
        return None
    return int(x) if x.is_integer() and abs(x) < 2**53 else x


def describe(name: str, value: float | int | None, typical: float | None) -> str:
    """Readable text for one feature value, e.g. '5 transactions on this card in the last
    5 minutes, usually 0'.

    Examples:
        >>> describe("count_5m_by_card", 5, 0.0)
        '5 transactions on this card in the last 5 minutes, usually 0'
        >>> describe("ip_country_differs_customer_country", 1, 0.0)
        'ip country differs from customer country'
    """
    differs = _DIFFERS.match(name)
    if differs:
        a, b = _words(differs["a"]), _words(differs["b"])
        if value is None:
            return f"{a} or {b} unknown"
        return f"{a} {'differs from' if value else 'matches'} {b}"
    if name.startswith("value_"):
        column = name.removeprefix("value_")
        return _usually(f"{_words(column)} {_fmt(column, value)}", column, typical)
    m = _WINDOWED.match(name)
    if m is None:
        return _usually(f"{name} = {_fmt(name, value)}", name, typical)
    agg, column, entity = m["agg"], m["column"] or "", _words(m["entity"])
    window = _window(m["window"])
    where = f" ({_words(m['filter'])})" if m["filter"] else ""
    on = f"on this {entity} in the last {window}{where}"
    if agg == "count":
        return _usually(f"{_fmt('', value)} transactions {on}", "", typical)
    if agg == "new_value":
        thing = _words(column).removesuffix(" id")
        if value is None:
            return f"no {thing} given"
        seen = "a new" if value else "a known"
        return f"{seen} {thing} for this {entity} (not seen in the last {window}{where})"
    if agg == "time_since_last":
        if value is None:
            return f"first transaction {on}"
        return _usually(f"{_duration(value)} since the previous transaction {on}", "t", typical)
    if agg == "label_rate":
        shown = "no history" if value is None else f"{float(value):.1%}"
        usual = "" if typical is None else f", usually {typical:.1%}"
        return f"confirmed fraud rate {shown} {on}{usual}"
    if agg == "distinct":
        return _usually(f"{_fmt('', value)} different {_words(column)}s {on}", "", typical)
    if agg == "zscore":
        text = f"amount {_fmt('', value, 1)} standard deviations from the mean {on}"
        return _usually(text, "", typical, 1)
    if agg == "ratio":
        return _usually(f"amount {_fmt('', value, 1)} times the mean {on}", "", typical, 1)
    label = {
        "sum": "total",
        "mean": "mean",
        "std": "spread of",
        "min": "smallest",
        "max": "largest",
    }
    text = f"{label[agg]} {_words(column)} {_fmt(column, value)} {on}"
    return _usually(text, column, typical)


def _usually(text: str, column: str, typical: float | None, digits: int = 0) -> str:
    if typical is None:
        return text
    if column == "t":
        return f"{text}, usually {_duration(typical)}"
    return f"{text}, usually {_fmt(column, typical, digits)}"


def _fmt(column: str, value: float | int | None, digits: int = 0) -> str:
    if value is None:
        return "unknown"
    if column.endswith("_minor"):
        return f"{float(value) / 100:,.2f}"
    if digits == 0 and float(value).is_integer():
        return f"{int(value):,}"
    return f"{float(value):,.{max(digits, 1)}f}"


def _words(snake: str) -> str:
    words = snake.replace("_minor", "").split("_")
    return " ".join("id" if w == "id" else w for w in words)


def _window(label: str) -> str:
    m = _WINDOW.match(label)
    if m is None:
        return label
    n, unit = int(m["n"]), _UNITS[m["unit"]]
    if n == 1:
        return {"day": "24 hours", "hour": "hour", "minute": "minute"}.get(unit, unit)
    return f"{n} {unit}s"


def _duration(seconds: float) -> str:
    for size, unit in ((86_400, "day"), (3_600, "hour"), (60, "minute")):
        if seconds >= size:
            n = seconds / size
            return f"{n:.1f} {unit}s" if not n.is_integer() else f"{int(n)} {unit}s"
    return f"{seconds:.0f} seconds"
