"""Mark-price candles at rest: the idempotent upsert, the newest stored bar, and the extremes on a set of
base bars (what model v2 sweeps positions with; NaN where no mark candle is stored)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from heatmaps.marketdata.rawsql import db_time, epoch_ms, fetch, ms_to_dt
from heatmaps.marketdata.upserts import upsert_rows
from heatmaps.models import Asset, Exchange, MarkCandle
from heatmaps.rows import CandleRow


def upsert_mark_candles(*, asset: Asset, exchange: Exchange, rows: Sequence[CandleRow]) -> int:
    """Insert or update mark-price bars (their volumes, which venues do not give, are ignored); returns the
    rows inserted or changed, so storing the same bars twice reports 0."""
    by_time = {r.open_time_ms: r for r in rows}  # one row per key, the last one seen
    return upsert_rows(
        MarkCandle,
        key_fields=("asset", "exchange", "open_time"),
        value_fields=("open", "high", "low", "close"),
        records=[
            (asset.pk, exchange.pk, ms_to_dt(r.open_time_ms), r.open, r.high, r.low, r.close)
            for _t, r in sorted(by_time.items())
        ],
    )


def last_mark_candle_ms(*, asset: Asset, exchange: Exchange) -> int | None:
    rows = fetch(
        f"SELECT {epoch_ms('max(open_time)')} FROM {MarkCandle._meta.db_table} WHERE asset_id = %s AND exchange_id = %s",
        [asset.pk, exchange.pk],
    )
    return None if not rows or rows[0][0] is None else int(rows[0][0])


def mark_extremes(*, asset_id: int, exchange_id: int, open_time: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """(mark high, mark low) of the mark candles opening at ``open_time`` (sorted epoch ms), NaN where none
    is stored; None when none of those bars has one."""
    n = int(open_time.shape[0])
    if n == 0:
        return None
    rows = fetch(
        f"SELECT {epoch_ms('open_time')}, high, low FROM {MarkCandle._meta.db_table} "
        "WHERE asset_id = %s AND exchange_id = %s AND open_time >= %s AND open_time <= %s",
        [asset_id, exchange_id, db_time(ms_to_dt(int(open_time[0]))), db_time(ms_to_dt(int(open_time[-1])))],
    )
    if not rows:
        return None
    table = np.array(rows, dtype=np.float64).reshape(len(rows), 3)
    times = table[:, 0].astype(np.int64)
    at = np.searchsorted(open_time, times)
    hit = at < n
    hit[hit] = open_time[at[hit]] == times[hit]
    if not hit.any():
        return None
    high = np.full(n, np.nan)
    low = np.full(n, np.nan)
    high[at[hit]] = table[hit, 1]
    low[at[hit]] = table[hit, 2]
    return high, low
