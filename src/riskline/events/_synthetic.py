"""Seeded, vectorised generator of payment attempts with planted, labelled fraud.

Amounts are integer minor units of one settlement currency (EUR). Output is sorted by
``ts``; ``transaction_id`` follows that order. The same spec gives the same frame, row for
row, on every run.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl

from riskline.errors import InvalidRequestError

Progress = Callable[[str, float], None]

_HOME = np.array(["GB", "DE", "FR", "ES", "IT", "NL", "IE", "PL", "SE", "US"])
_HOME_P = np.array([0.30, 0.20, 0.15, 0.10, 0.08, 0.06, 0.04, 0.03, 0.02, 0.02])
_FRAUD_IP = np.array(["NG", "RU", "BR", "VN", "UA", "RO", "ID", "PH"])
_COUNTRIES = np.concatenate([_HOME, _FRAUD_IP])  # ip columns index this; -1 is null
_NH = len(_HOME)
# mcc, share of merchants, amount factor, high risk
_MCC = (
    ("5411", 0.20, 1.0, False),
    ("5812", 0.14, 1.2, False),
    ("5541", 0.08, 1.5, False),
    ("5999", 0.12, 1.0, False),
    ("5311", 0.08, 1.6, False),
    ("5814", 0.12, 0.4, False),
    ("4121", 0.06, 0.7, False),
    ("5732", 0.06, 3.0, True),
    ("5944", 0.03, 4.0, True),
    ("4829", 0.04, 2.0, True),
    ("7995", 0.03, 1.5, True),
    ("5967", 0.04, 1.2, True),
)
_WEEKDAY = np.array([1.0, 1.0, 1.0, 1.05, 1.15, 1.25, 0.9])  # Mon..Sun
_HOURLY = np.array(
    [
        0.2,
        0.1,
        0.08,
        0.06,
        0.06,
        0.1,
        0.3,
        0.6,
        0.9,
        1.0,
        1.1,
        1.3,
        1.5,
        1.3,
        1.1,
        1.1,
        1.2,
        1.4,
        1.5,
        1.4,
        1.2,
        0.9,
        0.6,
        0.4,
    ]
)
_US_PER_S = 1_000_000
_US_PER_DAY = 86_400 * _US_PER_S
SCENARIOS = ("card_testing", "account_takeover", "compromised_terminal", "high_amount")
_SCENARIO_SHARE = np.array([0.30, 0.25, 0.25, 0.20])


@dataclass(frozen=True, slots=True)
class DriftSpec:
    """A population shift from ``starts_at`` on, for monitoring work."""

    starts_at: datetime
    amount_inflation: float = 1.3
    foreign_ip_share: float = 0.25
    new_device_share: float = 0.3

    def __post_init__(self) -> None:
        if self.starts_at.tzinfo is None:
            raise InvalidRequestError(f"drift start must be UTC-aware, got {self.starts_at!r}.")
        if not 0.0 <= self.foreign_ip_share <= 1.0 or not 0.0 <= self.new_device_share <= 1.0:
            raise InvalidRequestError("drift shares must lie in [0, 1].")
        if self.amount_inflation <= 0:
            raise InvalidRequestError(
                f"amount_inflation must be > 0, got {self.amount_inflation!r}."
            )


@dataclass(frozen=True, slots=True)
class PaymentsSpec:
    """What to generate: size, seed, period, fraud rate, optional drift."""

    rows: int
    seed: int = 7
    start_at: datetime = field(default_factory=lambda: datetime(2026, 1, 1, tzinfo=UTC))
    days: int = 30
    fraud_rate: float = 0.005
    drift: DriftSpec | None = None

    def __post_init__(self) -> None:
        if self.rows < 1:
            raise InvalidRequestError(f"rows must be at least 1, got {self.rows!r}.")
        if self.days < 1:
            raise InvalidRequestError(f"days must be at least 1, got {self.days!r}.")
        if not 0.0 <= self.fraud_rate < 0.5:
            raise InvalidRequestError(f"fraud_rate must lie in [0, 0.5), got {self.fraud_rate!r}.")
        if self.start_at.tzinfo is None:
            raise InvalidRequestError(f"start_at must be UTC-aware, got {self.start_at!r}.")
        if self.seed < 0:
            raise InvalidRequestError(f"seed must be >= 0, got {self.seed!r}.")

    @property
    def end_at(self) -> datetime:
        return self.start_at + timedelta(days=self.days)


def _noop(stage: str, done: float) -> None:
    return None


def generate_payments(spec: PaymentsSpec, on_progress: Progress = _noop) -> pl.DataFrame:
    """Generate payment attempts following ``spec`` (see ``PAYMENT_COLUMNS``).

    ``on_progress(stage, fraction_done)`` is called between stages.

    Examples:
        >>> df = generate_payments(PaymentsSpec(rows=2_000, seed=1))
        >>> df.height, df["ts"].is_sorted()
        (2000, True)
    """
    rng = np.random.default_rng(spec.seed)
    world = _World.build(spec, rng)
    on_progress("entities", 0.1)
    n_fraud = round(spec.rows * spec.fraud_rate)
    counts = _split(n_fraud, rng)
    genuine = _genuine(world, spec.rows - n_fraud, rng)
    on_progress("genuine payments", 0.5)
    parts = [genuine]
    parts.append(_card_testing(world, counts[0], rng))
    parts.append(_account_takeover(world, counts[1], rng))
    parts.append(_compromised_terminal(world, genuine, counts[2], rng))
    parts.append(_high_amount(world, counts[3], rng))
    on_progress("fraud scenarios", 0.6)
    cols = {k: np.concatenate([p[k] for p in parts]) for k in genuine}
    del parts, genuine  # keep one copy of the columns: peak memory matters at 10M rows
    if spec.drift is not None:
        _apply_drift(world, cols, spec.drift, rng)
    frame = _to_frame(world, cols, spec)
    on_progress("done", 1.0)
    return frame


def _split(n_fraud: int, rng: np.random.Generator) -> np.ndarray:
    base = np.floor(_SCENARIO_SHARE * n_fraud).astype(np.int64)
    rest = n_fraud - int(base.sum())
    base[rng.choice(4, size=rest, replace=False, p=_SCENARIO_SHARE)] += 1
    return np.asarray(base, dtype=np.int64)


@dataclass(slots=True)
class _World:
    """Customers, cards, devices, merchants and terminals, as parallel integer arrays."""

    start_us: int
    span_us: int
    home: np.ndarray  # customer -> country index in _HOME
    mu: np.ndarray  # customer log-amount mean (log minor units)
    sigma: np.ndarray
    activity: np.ndarray
    card_start: np.ndarray
    n_cards: np.ndarray
    card_owner: np.ndarray
    dev_start: np.ndarray
    n_devs: np.ndarray
    favourites: np.ndarray  # customer x 6 merchant indices
    merch_country: np.ndarray  # merchant -> country code (str)
    merch_mcc: np.ndarray  # merchant -> index in _MCC
    merch_pop: np.ndarray
    term_start: np.ndarray
    n_terms: np.ndarray
    risky_merchants: np.ndarray
    next_device: int  # first device index not owned by any customer

    @classmethod
    def build(cls, spec: PaymentsSpec, rng: np.random.Generator) -> _World:
        n_cust = max(20, spec.rows // 40)
        n_merch = int(min(50_000, max(12, spec.rows // 1_500)))
        home = rng.choice(len(_HOME), size=n_cust, p=_HOME_P)
        mu = rng.normal(np.log(3_500.0), 0.5, n_cust)
        sigma = rng.uniform(0.4, 0.9, n_cust)
        activity = rng.gamma(2.0, 1.0, n_cust)
        activity /= activity.sum()
        n_cards = 1 + (rng.random(n_cust) < 0.3).astype(np.int64)
        card_start = np.concatenate([[0], np.cumsum(n_cards)[:-1]])
        card_owner = np.repeat(np.arange(n_cust), n_cards)
        n_devs = 1 + rng.binomial(2, 0.3, n_cust)
        dev_start = np.concatenate([[0], np.cumsum(n_devs)[:-1]])
        local = rng.random(n_merch) < 0.85
        merch_country = np.where(
            local,
            _HOME[rng.choice(len(_HOME), n_merch, p=_HOME_P)],
            _FRAUD_IP[rng.integers(0, len(_FRAUD_IP), n_merch)],
        )
        mcc_p = np.array([m[1] for m in _MCC])
        merch_mcc = rng.choice(len(_MCC), n_merch, p=mcc_p / mcc_p.sum())
        merch_mcc[: len(_MCC)] = np.arange(len(_MCC))  # every category exists
        merch_pop = rng.pareto(1.5, n_merch) + 1.0
        n_terms = rng.integers(1, 4, n_merch)
        term_start = np.concatenate([[0], np.cumsum(n_terms)[:-1]])
        risky = np.flatnonzero(np.array([_MCC[m][3] for m in merch_mcc]))
        favourites = np.empty((n_cust, 6), dtype=np.int64)
        for c, code in enumerate(_HOME):
            who = np.flatnonzero(home == c)
            pool = np.flatnonzero(merch_country == code)
            if pool.size == 0:
                pool = np.arange(n_merch)
            p = merch_pop[pool] / merch_pop[pool].sum()
            favourites[who] = pool[rng.choice(pool.size, size=(who.size, 6), p=p)]
        return cls(
            start_us=_to_us(spec.start_at),
            span_us=spec.days * _US_PER_DAY,
            home=home,
            mu=mu,
            sigma=sigma,
            activity=activity,
            card_start=card_start,
            n_cards=n_cards,
            card_owner=card_owner,
            dev_start=dev_start,
            n_devs=n_devs,
            favourites=favourites,
            merch_country=merch_country,
            merch_mcc=merch_mcc,
            merch_pop=merch_pop,
            term_start=term_start,
            n_terms=n_terms,
            risky_merchants=risky,
            next_device=int(n_devs.sum()),
        )

    def fresh_devices(self, n: int) -> np.ndarray:
        """Device indices never used before (a fraudster's or a new phone)."""
        out = np.arange(self.next_device, self.next_device + n)
        self.next_device += n
        return out

    def customer_card(self, cust: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        pick = (rng.random(cust.size) * self.n_cards[cust]).astype(np.int64)
        return np.asarray(self.card_start[cust] + pick, dtype=np.int64)

    def amount(self, cust: np.ndarray, merch: np.ndarray, z: np.ndarray) -> np.ndarray:
        factor = np.array([m[2] for m in _MCC])[self.merch_mcc[merch]]
        value = np.exp(self.mu[cust] + self.sigma[cust] * z) * factor
        return np.asarray(np.maximum(50, np.round(value)), dtype=np.int64)


def _to_us(at: datetime) -> int:
    return int((at - datetime(1970, 1, 1, tzinfo=UTC)) / timedelta(microseconds=1))


def _times(world: _World, n: int, rng: np.random.Generator) -> np.ndarray:
    """Timestamps (us since epoch) with weekly and daily seasonality."""
    days = world.span_us // _US_PER_DAY
    start_dow = (world.start_us // _US_PER_DAY + 3) % 7  # 1970-01-01 was a Thursday
    day_w = _WEEKDAY[(start_dow + np.arange(days)) % 7]
    day = rng.choice(days, n, p=day_w / day_w.sum())
    hour = rng.choice(24, n, p=_HOURLY / _HOURLY.sum())
    within = rng.integers(0, 3_600 * _US_PER_S, n)
    return world.start_us + day * _US_PER_DAY + hour * 3_600 * _US_PER_S + within


def _block(
    n: int,
    *,
    cust: np.ndarray,
    card: np.ndarray,
    device: np.ndarray,
    merch: np.ndarray,
    terminal: np.ndarray,
    ip: np.ndarray,
    ts: np.ndarray,
    amount: np.ndarray,
    ecom: np.ndarray,
    scenario: int,
) -> dict[str, np.ndarray]:
    return {
        "ts": ts.astype(np.int64),
        "cust": cust.astype(np.int64),
        "card": card.astype(np.int64),
        "device": device.astype(np.int64),
        "merch": merch.astype(np.int64),
        "terminal": terminal.astype(np.int64),
        "ip": ip.astype(np.int64),
        "amount": amount,
        "ecom": ecom.astype(bool),
        "scenario": np.full(n, scenario, dtype=np.int8),
    }


def _online(
    n: int,
    *,
    cust: np.ndarray,
    card: np.ndarray,
    device: np.ndarray,
    merch: np.ndarray,
    ip: np.ndarray,
    ts: np.ndarray,
    amount: np.ndarray,
    scenario: int,
) -> dict[str, np.ndarray]:
    """A block of e-commerce fraud: no terminal, always online."""
    return _block(
        n,
        cust=cust,
        card=card,
        device=device,
        merch=merch,
        terminal=np.full(n, -1),
        ip=ip,
        ts=ts,
        amount=amount,
        ecom=np.ones(n, bool),
        scenario=scenario,
    )


def _genuine(world: _World, n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    cust = rng.choice(world.home.size, n, p=world.activity)
    ts = _times(world, n, rng)
    ecom = rng.random(n) < 0.55
    fav = world.favourites[cust, rng.integers(0, 6, n)]
    pop = world.merch_pop / world.merch_pop.sum()
    other = rng.choice(pop.size, n, p=pop)
    merch = np.where(rng.random(n) < 0.85, fav, other)
    device = np.where(
        ecom, world.dev_start[cust] + (rng.random(n) * world.n_devs[cust]).astype(np.int64), -1
    )
    terminal = np.where(
        ecom, -1, world.term_start[merch] + (rng.random(n) * world.n_terms[merch]).astype(np.int64)
    )
    travel = rng.random(n) < 0.04
    ip_idx = np.where(travel, rng.integers(0, len(_HOME), n), world.home[cust])
    ip = np.where(ecom, ip_idx, -1)
    amount = world.amount(cust, merch, rng.standard_normal(n))
    return _block(
        n,
        cust=cust,
        card=world.customer_card(cust, rng),
        device=device,
        merch=merch,
        terminal=terminal,
        ip=ip,
        ts=ts,
        amount=amount,
        ecom=ecom,
        scenario=-1,
    )


def _card_testing(world: _World, n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    sizes: list[int] = []
    while sum(sizes) < n:
        sizes.append(int(rng.integers(5, 16)))
    sizes[-1] -= sum(sizes) - n
    sizes = [s for s in sizes if s > 0]
    burst = np.repeat(np.arange(len(sizes)), sizes)
    card_of_burst = rng.integers(0, world.card_owner.size, len(sizes))
    start = world.start_us + rng.integers(0, world.span_us - 15 * 60 * _US_PER_S, len(sizes))
    card = card_of_burst[burst]
    ts = start[burst] + rng.integers(0, 10 * 60 * _US_PER_S, n)
    merch = world.risky_merchants[rng.integers(0, world.risky_merchants.size, n)]
    device = world.fresh_devices(len(sizes))[burst]
    ip = _NH + rng.integers(0, len(_FRAUD_IP), len(sizes))[burst]
    return _online(
        n,
        cust=world.card_owner[card],
        card=card,
        device=device,
        merch=merch,
        ip=ip,
        ts=ts,
        amount=rng.integers(50, 300, n),
        scenario=0,
    )


def _account_takeover(world: _World, n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    groups = max(1, n // 2)
    g = np.sort(rng.integers(0, groups, n))
    cust_g = rng.integers(0, world.home.size, groups)
    start = world.start_us + rng.integers(0, world.span_us - 3_600 * _US_PER_S, groups)
    cust = cust_g[g]
    ts = start[g] + rng.integers(0, 3_600 * _US_PER_S, n)
    merch = world.risky_merchants[rng.integers(0, world.risky_merchants.size, n)]
    device = world.fresh_devices(groups)[g]
    ip = _NH + rng.integers(0, len(_FRAUD_IP), groups)[g]
    amount = world.amount(cust, merch, rng.uniform(1.5, 3.0, n)) * rng.integers(3, 8, n)
    return _online(
        n,
        cust=cust,
        card=world.customer_card(cust, rng),
        device=device,
        merch=merch,
        ip=ip,
        ts=ts,
        amount=amount,
        scenario=1,
    )


def _compromised_terminal(
    world: _World, genuine: dict[str, np.ndarray], n: int, rng: np.random.Generator
) -> dict[str, np.ndarray]:
    """Cards that visited a compromised terminal are defrauded 1 to 10 days later."""
    visited = np.flatnonzero(genuine["terminal"] >= 0)
    cutoff = world.start_us + int(world.span_us * 0.6)
    early = visited[genuine["ts"][visited] < cutoff]
    if n == 0 or early.size == 0:
        return _high_amount(world, n, rng, scenario=2)
    terminals = np.unique(genuine["terminal"][early])
    bad = rng.choice(terminals, size=max(1, min(terminals.size, n // 15 + 1)), replace=False)
    visits = early[np.isin(genuine["terminal"][early], bad)]
    pick = visits[rng.integers(0, visits.size, n)]
    card = genuine["card"][pick]
    cust = genuine["cust"][pick]
    ts = genuine["ts"][pick] + rng.integers(_US_PER_DAY, 10 * _US_PER_DAY, n)
    ts = np.minimum(ts, world.start_us + world.span_us - _US_PER_S)
    merch = rng.integers(0, world.merch_mcc.size, n)
    foreign = rng.random(n) < 0.6
    ip = np.where(foreign, _NH + rng.integers(0, len(_FRAUD_IP), n), world.home[cust])
    amount = world.amount(cust, merch, rng.uniform(1.0, 2.0, n)) * rng.integers(2, 6, n)
    return _online(
        n,
        cust=cust,
        card=card,
        device=world.fresh_devices(n),
        merch=merch,
        ip=ip,
        ts=ts,
        amount=amount,
        scenario=2,
    )


def _high_amount(
    world: _World, n: int, rng: np.random.Generator, scenario: int = 3
) -> dict[str, np.ndarray]:
    cust = rng.integers(0, world.home.size, n)
    merch = world.risky_merchants[rng.integers(0, world.risky_merchants.size, n)]
    ecom = rng.random(n) < 0.7
    device = np.where(
        ecom, world.dev_start[cust] + (rng.random(n) * world.n_devs[cust]).astype(np.int64), -1
    )
    terminal = np.where(
        ecom, -1, world.term_start[merch] + (rng.random(n) * world.n_terms[merch]).astype(np.int64)
    )
    ip = np.where(ecom, world.home[cust], -1)
    amount = world.amount(cust, merch, rng.uniform(2.0, 3.0, n)) * rng.integers(5, 15, n)
    return _block(
        n,
        cust=cust,
        card=world.customer_card(cust, rng),
        device=device,
        merch=merch,
        terminal=terminal,
        ip=ip,
        ts=_times(world, n, rng),
        amount=amount,
        ecom=ecom,
        scenario=scenario,
    )


def _apply_drift(
    world: _World, cols: dict[str, np.ndarray], drift: DriftSpec, rng: np.random.Generator
) -> None:
    after = cols["ts"] >= _to_us(drift.starts_at)
    genuine = after & (cols["scenario"] < 0)
    cols["amount"] = np.where(
        after, np.round(cols["amount"] * drift.amount_inflation), cols["amount"]
    ).astype(np.int64)
    ecom = genuine & cols["ecom"]
    foreign = ecom & (rng.random(ecom.size) < drift.foreign_ip_share)
    cols["ip"] = np.where(foreign, _NH + rng.integers(0, len(_FRAUD_IP), ecom.size), cols["ip"])
    wave = np.flatnonzero(ecom & (rng.random(ecom.size) < drift.new_device_share))
    cols["device"][wave] = world.fresh_devices(wave.size)


def _ids(prefix: str, idx: pl.Expr, width: int) -> pl.Expr:
    return pl.when(idx >= 0).then(
        pl.concat_str([pl.lit(prefix), idx.cast(pl.String).str.zfill(width)])
    )


def _lookup(idx: pl.Expr, names: np.ndarray) -> pl.Expr:
    """Map integer codes to names; negative codes become null."""
    return idx.replace_strict(
        list(range(names.size)), [str(v) for v in names], default=None, return_dtype=pl.String
    )


def _to_frame(world: _World, cols: dict[str, np.ndarray], spec: PaymentsSpec) -> pl.DataFrame:
    rng = np.random.default_rng([spec.seed, 1])
    n_cards = world.card_owner.size
    tokens = pl.Series("t", [f"tok_{v:016x}" for v in rng.integers(0, 2**63, n_cards)])
    order = np.argsort(cols["ts"], kind="stable")
    scenario = cols["scenario"][order]
    fraud = scenario >= 0
    delay = np.clip(rng.lognormal(np.log(7.0), 0.6, fraud.size), 2.0, 60.0)  # days
    label_us = np.where(fraud, cols["ts"][order] + (delay * _US_PER_DAY).astype(np.int64), 0)
    merch = cols["merch"][order]
    cust = cols["cust"][order]
    raw = pl.DataFrame(
        {
            "ts": cols["ts"][order],
            "cust": cust,
            "card": cols["card"][order],
            "device": cols["device"][order],
            "merch": merch,
            "terminal": cols["terminal"][order],
            "amount_minor": cols["amount"][order],
            "merchant_country": world.merch_country[merch],
            "ip": cols["ip"][order],
            "customer_country": _HOME[world.home[cust]],
            "mcc_idx": world.merch_mcc[merch],
            "ecom": cols["ecom"][order],
            "scenario": scenario,
            "label_us": label_us,
        }
    )
    cols.clear()  # the frame holds its own copy now
    utc = pl.Datetime("us", "UTC")
    return raw.select(
        pl.concat_str([pl.lit("tx_"), pl.int_range(pl.len()).cast(pl.String).str.zfill(10)]).alias(
            "transaction_id"
        ),
        pl.col("ts").cast(utc),
        pl.col("amount_minor"),
        _ids("cus_", pl.col("cust"), 7).alias("customer_id"),
        tokens.gather(raw["card"].to_numpy()).alias("card_token"),
        pl.lit("EUR").alias("currency"),
        _ids("dev_", pl.col("device"), 8).alias("device_id"),
        _ids("mer_", pl.col("merch"), 5).alias("merchant_id"),
        _ids("ter_", pl.col("terminal"), 6).alias("terminal_id"),
        _lookup(pl.col("mcc_idx"), np.array([m[0] for m in _MCC])).alias("mcc"),
        pl.col("merchant_country"),
        _lookup(pl.col("ip"), _COUNTRIES).alias("ip_country"),
        pl.col("customer_country"),
        pl.when(pl.col("ecom")).then(pl.lit("ecom")).otherwise(pl.lit("pos")).alias("channel"),
        (pl.col("scenario") >= 0).alias("is_fraud"),
        _lookup(pl.col("scenario"), np.array(SCENARIOS)).alias("fraud_scenario"),
        pl.when(pl.col("scenario") >= 0)
        .then(pl.col("label_us").cast(utc))
        .alias("label_available_at"),
    )
