"""Open-interest rows judged where they are stored: implausible snapshots flagged ``held_back``.

The rule is the engine's (``heatmaps/engine/oi_guard.py``): a snapshot may differ from the last
accepted one by at most the contracts traded between them on the same exchange, and one that jumps
and comes back is a glitch. Here it runs over the rows just written with a day of stored context
either side, using that exchange's own candles for the volume, and the verdict is stored on each
row next to its provenance (``simulated``). A flagged row stays in the table (nothing is lost; a
later import or a correction can clear it) but never reaches a map as flow.
"""

from __future__ import annotations

import logging

import numpy as np
from django.db import connection

from heatmaps.engine.oi_guard import REASONS, guard_open_interest
from heatmaps.marketdata.rawsql import db_time, epoch_ms, fetch, ms_to_dt
from heatmaps.models import Asset, Candle, Exchange, OpenInterest
from heatmaps.rows import BASE_BAR_MS

log = logging.getLogger(__name__)
# Enough stored rows either side to tell a glitch that returns from a level that stays.
CONTEXT_MS = 24 * 3_600_000


def open_interest_flags_refresh(*, asset: Asset, exchange: Exchange, start_ms: int, end_ms: int) -> int:
    """Judge the open-interest rows of one asset × exchange stamped in [start_ms, end_ms] and store
    each verdict; returns how many of them are held back. Idempotent: a second call changes nothing."""
    lo, hi = start_ms - CONTEXT_MS, end_ms + CONTEXT_MS
    oi_rows = fetch(
        f"SELECT {epoch_ms('time')}, oi_base, oi_value, held_back FROM {OpenInterest._meta.db_table} "
        "WHERE asset_id = %s AND exchange_id = %s AND time >= %s AND time <= %s ORDER BY time",
        [asset.pk, exchange.pk, db_time(ms_to_dt(lo)), db_time(ms_to_dt(hi))],
    )
    if not oi_rows:
        return 0
    candle_rows = fetch(
        f"SELECT {epoch_ms('open_time')}, close, volume FROM {Candle._meta.db_table} "
        "WHERE asset_id = %s AND exchange_id = %s AND open_time >= %s AND open_time <= %s",
        [asset.pk, exchange.pk, db_time(ms_to_dt(lo - BASE_BAR_MS)), db_time(ms_to_dt(hi))],
    )
    stamp = np.array([r[0] for r in oi_rows], dtype=np.int64)
    # A snapshot stamped T closes the bar that opened at T − 5 min: put both on one grid of base bars.
    bar = (stamp - BASE_BAR_MS) // BASE_BAR_MS
    first = int(bar.min())
    n = int(bar.max()) - first + 1
    contracts = np.full(n, np.nan)
    oi_base = np.array([np.nan if r[1] is None else r[1] for r in oi_rows], dtype=np.float64)
    oi_value = np.array([np.nan if r[2] is None else r[2] for r in oi_rows], dtype=np.float64)
    close = np.full(n, np.nan)
    volume = np.full(n, np.nan)
    if candle_rows:
        c_bar = np.array([r[0] for r in candle_rows], dtype=np.int64) // BASE_BAR_MS - first
        inside = (c_bar >= 0) & (c_bar < n)
        close[c_bar[inside]] = np.array([r[1] for r in candle_rows], dtype=np.float64)[inside]
        volume[c_bar[inside]] = np.array([np.nan if r[2] is None else r[2] for r in candle_rows], dtype=np.float64)[
            inside
        ]
    # Contracts: the base amount where the exchange reports it, else the USD value at that bar's close.
    at = bar - first
    contracts[at] = np.where(np.isnan(oi_base), oi_value / close[at], oi_base)
    verdict = guard_open_interest(contracts, close=np.ones(n), volume=volume).reason[at]
    wanted = [REASONS.get(int(v), "") for v in verdict]
    changed = [
        (wanted[i], int(stamp[i]))
        for i in range(len(oi_rows))
        if start_ms <= stamp[i] <= end_ms and oi_rows[i][3] != wanted[i]
    ]
    if changed:
        with connection.cursor() as cur:
            cur.executemany(
                f"UPDATE {OpenInterest._meta.db_table} SET held_back = %s "
                "WHERE asset_id = %s AND exchange_id = %s AND time = %s",
                [(reason, asset.pk, exchange.pk, db_time(ms_to_dt(ms))) for reason, ms in changed],
            )
    held = sum(1 for i in range(len(oi_rows)) if start_ms <= stamp[i] <= end_ms and wanted[i])
    if held:
        log.warning(
            "%s@%s: %d open-interest snapshot(s) between %s and %s held back as implausible",
            asset.symbol,
            exchange.code,
            held,
            ms_to_dt(start_ms),
            ms_to_dt(end_ms),
        )
    return held
