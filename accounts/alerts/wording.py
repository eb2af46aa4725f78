"""Rules and events in a trader's words: "Price crosses 93,052 up", "Cluster ≥ $50M within 3 %".

Pure functions over the stored parameters and event values. Prices are rounded to the asset's
tick (``price_tick`` reads it off recent prices), USD amounts are short ($50M, $1.2B), funding is
shown in % per 8 h while rules and events store it as a fraction.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

MAX_TICK_DECIMALS = 8


def price_tick(prices: Iterable[float]) -> float | None:
    """The coarsest power-of-ten step every price is a whole multiple of (0.1 for BTC on Binance,
    0.01 for ETH): exchanges quote on a tick, so recent closes reveal it. None without prices."""
    values = [abs(float(p)) for p in prices if p is not None and math.isfinite(p) and p > 0]
    if not values:
        return None
    for decimals in range(-3, MAX_TICK_DECIMALS + 1):
        step = 10.0**-decimals
        if all(abs(v / step - round(v / step)) < 1e-6 for v in values):
            return step
    return 10.0**-MAX_TICK_DECIMALS


def round_to_tick(value: float, tick: float | None) -> float:
    """``value`` on the asset's tick, without float noise (93052.02012500001 → 93052.0 on 0.1)."""
    if tick is None or not math.isfinite(value):
        return value
    decimals = max(0, -math.floor(math.log10(tick) + 1e-9))
    return round(round(value / tick) * tick, decimals)


def fmt_price(value: float | None, tick: float | None = None) -> str:
    if value is None or not math.isfinite(value):
        return "–"
    if tick is None:  # no tick known: six significant digits, no trailing zeros
        places = 2 if value == 0 else max(0, min(8, 5 - math.floor(math.log10(abs(value)))))
        text = f"{value:,.{places}f}"
        return text.rstrip("0").rstrip(".") if "." in text else text
    decimals = max(0, -math.floor(math.log10(tick) + 1e-9))
    return f"{round_to_tick(value, tick):,.{decimals}f}"


def fmt_usd(value: float | None) -> str:
    """$950, $12K, $50M, $1.2B: at most three significant figures, no trailing zeros."""
    if value is None or not math.isfinite(value):
        return "–"
    sign = "-" if value < 0 else ""
    amount = abs(value)
    for size, suffix in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "K")):
        if amount >= size:
            return f"{sign}${_short(amount / size)}{suffix}"
    return f"{sign}${amount:,.0f}"


def _short(number: float) -> str:
    text = f"{number:.3g}" if number < 1000 else f"{number:,.0f}"
    return text


def fmt_pct(value: float | None, *, signed: bool = False, places: int | None = None) -> str:
    if value is None or not math.isfinite(value):
        return "–"
    if places is None:
        places = 2 if abs(value) < 10 else 1
    text = f"{value:+.{places}f}" if signed else f"{value:.{places}f}"
    text = text.rstrip("0").rstrip(".") if "." in text else text
    return f"{text} %"


def fmt_funding(rate: float | None) -> str:
    """A funding fraction per 8 h in % (0.0005 → "0.05 % per 8 h")."""
    if rate is None or not math.isfinite(rate):
        return "–"
    return f"{fmt_pct(rate * 100, places=4)} per 8 h"


def fmt_minutes(minutes: float | None) -> str:
    if minutes is None or not math.isfinite(minutes):
        return "–"
    if minutes < 60:
        return f"{minutes:.0f} min"
    if minutes < 48 * 60:
        hours = minutes / 60
        return f"{hours:.1f} h".replace(".0 h", " h")
    return f"{minutes / 1440:.1f} d".replace(".0 d", " d")


_SIDES = {"above": "above the price", "below": "below the price", "either": "either side"}


def rule_words(
    condition: str, params: Mapping[str, Any], *, tick: float | None = None, zone: tuple[float, float] | None = None
) -> str:
    """The condition with its parameters in one short sentence."""
    p = params
    if condition == "price_crosses":
        direction = {"up": " up", "down": " down"}.get(str(p.get("direction")), " either way")
        return f"Price crosses {fmt_price(p.get('price'), tick)}{direction}"
    if condition == "price_enters_zone":
        if zone is None:
            return "Price enters one of your zones"
        return f"Price enters your zone {fmt_price(zone[0], tick)} – {fmt_price(zone[1], tick)}"
    if condition == "cluster_within":
        size = f" ≥ {fmt_usd(p['min_usd'])}" if p.get("min_usd") else ""
        side = _SIDES.get(str(p.get("side", "either")), "")
        return f"Cluster{size} within {fmt_pct(p.get('percent'))}, {side} ({p.get('timeframe')} map)"
    if condition == "cluster_forms":
        return (
            f"New cluster ≥ {fmt_usd(p.get('min_usd'))} forms within {fmt_pct(p.get('percent'))} "
            f"({p.get('timeframe')} map)"
        )
    if condition == "cluster_swept":
        return f"Price sweeps a cluster ≥ {fmt_usd(p.get('min_usd'))} ({p.get('timeframe')} map)"
    if condition == "funding_above":
        return f"Funding rises above {fmt_funding(p.get('rate'))}"
    if condition == "funding_below":
        return f"Funding falls below {fmt_funding(p.get('rate'))}"
    if condition == "oi_change":
        percent = p.get("percent")
        verb = "rises" if percent is not None and percent > 0 else "falls"
        amount = fmt_pct(abs(percent)) if percent is not None else "–"
        return f"Open interest {verb} {amount} within {fmt_minutes(p.get('window_minutes'))}"
    return condition


def event_words(condition: str, values: Mapping[str, Any], *, tick: float | None = None) -> str:
    """What made an event fire, in one line."""
    v = values
    if v.get("note") and condition and "close" not in v and "peak_price" not in v:
        return str(v["note"])
    if condition == "price_crosses":
        return (
            f"Closed at {fmt_price(v.get('close'), tick)} through {fmt_price(v.get('price'), tick)} "
            f"({v.get('direction', '')}; previous close {fmt_price(v.get('previous_close'), tick)})"
        )
    if condition == "price_enters_zone":
        return (
            f"Entered the zone {fmt_price(v.get('low'), tick)} – {fmt_price(v.get('high'), tick)} "
            f"from {v.get('from', '')}"
        )
    if condition in ("cluster_within", "cluster_forms"):
        return (
            f"{fmt_usd(v.get('cluster_usd'))} cluster at {fmt_price(v.get('peak_price'), tick)}, "
            f"{fmt_pct(v.get('distance_pct'))} {v.get('side', '')} the price {fmt_price(v.get('price'), tick)} "
            f"({v.get('timeframe')} map)"
        )
    if condition == "cluster_swept":
        liquidated = v.get("liquidated_usd")
        realised = f"; {fmt_usd(liquidated)} liquidated" if liquidated is not None else ""
        return (
            f"Swept {fmt_usd(v.get('swept_usd'))} of modelled clusters, the largest at "
            f"{fmt_price(v.get('largest_peak_price'), tick)}"
            f"{realised} ({v.get('timeframe')} map)"
        )
    if condition in ("funding_above", "funding_below"):
        return f"Funding {fmt_funding(v.get('funding_rate'))} (was {fmt_funding(v.get('previous_rate'))})"
    if condition == "oi_change":
        return (
            f"Open interest {fmt_pct(v.get('change_pct'), signed=True)} in {fmt_minutes(v.get('window_minutes'))} "
            f"to {fmt_usd(v.get('oi_usd'))}"
        )
    return ", ".join(f"{k} {val}" for k, val in sorted(v.items()))
