"""The map as a page shows it, for its PNG and CSV buttons: the zoomed window as whole columns and
price bins, and the words a shared picture carries about itself (heatmaps/exports.py draws it)."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

from heatmaps import exports
from heatmaps.models import EXCHANGE_NAMES, Asset, Heatmap


def export_window(stored: Any, query: dict[str, Any]) -> tuple[slice, slice]:
    """The columns and price bins a zoomed page shows (start/end, price_low/price_high), whole ones
    covering the window; the whole map without them."""
    m = stored.heatmap
    bar_ms = m.bar_seconds * 1000
    first = int(stored.times[0])
    c0 = min(max(0, (query["start"] - first) // bar_ms), m.width - 1) if "start" in query else 0
    c1 = min(max(c0 + 1, -(-(query["end"] - first) // bar_ms)), m.width) if "end" in query else m.width
    bin_w = (m.price_hi - m.price_lo) / m.bins
    b0 = min(max(0, math.floor((query["price_low"] - m.price_lo) / bin_w)), m.bins - 1) if "price_low" in query else 0
    b1 = (
        min(max(b0 + 1, math.ceil((query["price_high"] - m.price_lo) / bin_w)), m.bins)
        if "price_high" in query
        else m.bins
    )
    return slice(int(c0), int(c1)), slice(int(b0), int(b1))


def png_frame(
    asset: Asset, m: Heatmap, query: dict[str, Any], full_usd: float, *, start_ms: int, bar_ms: int, cols: slice
) -> exports.PngFrame:
    """The words a shared picture carries: what it is (asset, timeframe, model, side, intensity) and
    where it comes from (computed at, the exchanges, simulated open interest)."""
    side = {"both": "longs + shorts", "long": "longs only", "short": "shorts only"}[query["side"]]
    filters = [side]
    # An on-request filtered map (heatmaps/explorer.py) says which part of the run it shows.
    if (explored := getattr(m, "explorer_filter", None)) is not None:
        filters.extend(explored.words())
    if query["min_usd"]:
        filters.append(f"hidden below {exports.usd_text(query['min_usd'])}")
    filters.append(f"full at {exports.usd_text(full_usd)}" + (" (pinned)" if "full" in query else ""))
    end_ms = start_ms + (cols.stop - cols.start) * bar_ms
    oi = ", ".join(EXCHANGE_NAMES.get(code, code) for code in m.oi_exchanges) or "no"
    return exports.PngFrame(
        title=f"{asset.symbol} {m.timeframe} liquidation heat map · {getattr(m, 'model_label', f'model {m.model}')} · {' · '.join(filters)}",
        subtitle=f"computed {_utc_minute(m.computed_at)} UTC · window {exports.utc_text(start_ms)[:16].replace('T', ' ')}"
        f" to {exports.utc_text(end_ms)[:16].replace('T', ' ')} UTC · prices in {asset.quote}",
        footer=f"data: {EXCHANGE_NAMES.get(m.candle_exchange, m.candle_exchange)} candles, {oi} open interest"
        + (" (SIMULATED)" if m.oi_simulated else "")
        + " · liqplatform",
        quote=asset.quote,
        current_price=m.current_price,
        start_ms=start_ms,
        end_ms=end_ms,
    )


def _utc_minute(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%Y-%m-%d %H:%M")
