"""What every market page shares: number formatting (numbers carry units) and HTMX partial rendering."""

from __future__ import annotations

import math
from datetime import timedelta
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.cache import patch_vary_headers
from django_htmx.middleware import HtmxDetails

from heatmaps.models import EXCHANGE_NAMES

# A bar older than this (after its close) makes a map or an overview row stale.
STALE_AFTER = timedelta(minutes=15)


class HtmxHttpRequest(HttpRequest):
    htmx: HtmxDetails


def format_usd(value: float | None) -> str:
    """$1.23B, $616.6M, $48.2K, $950: compact, always with the unit."""
    if value is None or not math.isfinite(value):
        return "–"
    sign = "-" if value < 0 else ""
    value = abs(value)
    for threshold, suffix in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "K")):
        if value >= threshold:
            scaled = value / threshold
            return f"{sign}${scaled:,.{2 if scaled < 10 else 1}f}{suffix}"
    return f"{sign}${value:,.0f}"


def price_decimals(value: float) -> int:
    """Decimals that show about six significant digits: 85,085.7 · 3,012.45 · 0.512345."""
    if not math.isfinite(value) or value == 0:
        return 2
    return max(0, min(8, 5 - math.floor(math.log10(abs(value)))))


def format_price(value: float | None, *, decimals: int | None = None) -> str:
    if value is None or not math.isfinite(value):
        return "–"
    places = price_decimals(value) if decimals is None else decimals
    return f"{value:,.{places}f}"


def format_pct(value: float | None, *, places: int = 2) -> str:
    if value is None or not math.isfinite(value):
        return "–"
    return f"{value:+.{places}f} %"


def format_age(age: timedelta) -> str:
    """3 min · 2 h 05 min · 307 d: how old a bar or a map is, to the minute."""
    minutes = max(0, int(age.total_seconds() // 60))
    if minutes < 60:
        return f"{minutes} min"
    if minutes < 48 * 60:
        return f"{minutes // 60} h {minutes % 60:02d} min"
    return f"{minutes // 1440} d"


def exchange_name(code: str) -> str:
    return EXCHANGE_NAMES.get(code, code)


_HELD_BACK_KINDS = {
    "open_interest": ("open-interest snapshot", "open-interest snapshots"),
    "candles": ("candle", "candles"),
}


def held_back_text(held_back: dict[str, dict[str, int]]) -> str:
    """A map's held-back rows in words, per exchange: "Binance: 1 open-interest snapshot, 2 candles"."""
    parts = []
    for code in sorted(held_back):
        kinds = [
            f"{n} {_HELD_BACK_KINDS[kind][n != 1]}"
            for kind, n in sorted(held_back[code].items())
            if n and kind in _HELD_BACK_KINDS
        ]
        if kinds:
            parts.append(f"{exchange_name(code)}: {', '.join(kinds)}")
    return "; ".join(parts)


def render_page(
    request: HtmxHttpRequest, template: str, partial: str, ctx: dict[str, Any], *, status: int = 200
) -> HttpResponse:
    """The page, or only its swappable `partial` for an HTMX request. History restores get the whole
    page: htmx swaps that response into <body>."""
    only_partial = bool(request.htmx) and not request.htmx.history_restore_request
    response = render(request, f"{template}#{partial}" if only_partial else template, ctx, status=status)
    patch_vary_headers(response, ["HX-Request"])
    return response
