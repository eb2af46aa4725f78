"""The panels under a heat map — open interest, funding, volume — on the map's own columns.

Computed once when a map is stored (maps._store) and kept with it, so the page's JSON carries them at
no extra cost per request and they always describe exactly the bars the map was computed from.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from heatmaps.engine import FloatArray, IntArray, bucket_last, bucket_sum
from heatmaps.marketdata.store import dt_to_ms, ms_to_dt
from heatmaps.models import Asset, FundingRate


def _series(values: FloatArray) -> list[float | None]:
    """Whole dollars, None for unknown: the chart leaves a gap rather than drawing zero."""
    return [None if not np.isfinite(v) else round(float(v)) for v in values]


def map_panels(
    *,
    asset: Asset,
    open_time: IntArray,
    close: FloatArray,
    volume: FloatArray,
    taker_buy: FloatArray,
    oi_by_exchange: dict[str, FloatArray],
    times: IntArray,
    bar_ms: int,
) -> dict[str, Any]:
    """Per column: open interest in USD at the column's last bar (summed, and per exchange), taker buy
    and sell volume in USD (base volume × the bar's close), and the funding settlements in the window."""
    oi = {code: bucket_last(open_time, series, times, bar_ms) for code, series in sorted(oi_by_exchange.items())}
    total = np.sum(np.vstack(list(oi.values())), axis=0) if oi else np.full(times.shape[0], np.nan)
    volume_usd = bucket_sum(open_time, volume * close, times, bar_ms)
    buy_usd = bucket_sum(open_time, taker_buy * close, times, bar_ms)
    sell_usd = bucket_sum(open_time, (volume - taker_buy) * close, times, bar_ms)
    window_end = int(times[-1]) + bar_ms if times.size else 0
    funding = (
        FundingRate.objects.filter(
            asset=asset, funding_time__gte=ms_to_dt(int(times[0])), funding_time__lt=ms_to_dt(window_end)
        )
        .order_by("funding_time", "exchange__code")
        .values_list("funding_time", "rate", "exchange__code")
        if times.size
        else []
    )
    return {
        "oi_usd": _series(total),
        "oi_by_exchange": {code: _series(series) for code, series in oi.items()},
        "volume_usd": _series(volume_usd),
        "buy_usd": _series(buy_usd),
        "sell_usd": _series(sell_usd),
        # [settlement time ms, rate as a fraction, exchange]
        "funding": [[dt_to_ms(t), rate, code] for t, rate, code in funding],
    }
