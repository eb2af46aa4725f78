"""An asset's 5-minute base bars as the engine takes them: the reference exchange's candles, open
interest summed over exchanges (held-back snapshots left out), and the model parameters of the asset."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np

from heatmaps import engine
from heatmaps.marketdata.rawsql import db_time as _db_time
from heatmaps.marketdata.rawsql import dt_to_ms, ms_to_dt
from heatmaps.marketdata.rawsql import epoch_ms as _epoch_ms
from heatmaps.marketdata.rawsql import fetch as _fetch
from heatmaps.models import Asset, Candle, Exchange, HeldBackCandle, MarkCandle, OpenInterest
from heatmaps.rows import BASE_BAR_MS

OI_STALE_MS = 3_600_000  # an exchange without an OI snapshot in the last hour of data is left out


def asset_params(asset: Asset) -> engine.ModelParams:
    params = engine.ModelParams(
        tiers=engine.ModelParams.parse_tiers(asset.tiers), mmr=asset.mmr, n_bins=asset.bins, pad=asset.pad
    )
    params.validate()
    return params


@dataclass
class LoadedBars:
    bars: engine.BaseBars
    open: np.ndarray  # first open of each base bar, for drawing candles
    candle_exchange: str
    oi_exchanges: list[str]
    oi_simulated: bool
    oi_end_ms: int | None = None  # newest open-interest snapshot used
    oi_by_exchange: dict[str, np.ndarray] | None = None  # USD per base bar, exchange code → series
    # Per exchange code: which base bars' OI snapshot was held back (flagged at ingest or by the guard
    # here), and the open times (ms) of the candles held back at ingest.
    oi_held_back: dict[str, np.ndarray] = field(default_factory=dict)
    candles_held_back: dict[str, np.ndarray] = field(default_factory=dict)
    # Base bars with a stored mark-price candle of the reference exchange (model v2 sweeps on those, on
    # the last price elsewhere): 0 when the bars carry no mark prices at all.
    mark_bars: int = 0

    def held_back_counts(self, start_ms: int, end_ms: int) -> dict[str, dict[str, int]]:
        """Rows of each kind held back between two base-bar open times (inclusive), per exchange."""
        lo, hi = np.searchsorted(self.bars.open_time, [start_ms, end_ms + 1])
        counts: dict[str, dict[str, int]] = {}
        for code, mask in self.oi_held_back.items():
            if n := int(np.count_nonzero(mask[lo:hi])):
                counts.setdefault(code, {})["open_interest"] = n
        for code, times in self.candles_held_back.items():
            if n := int(np.count_nonzero((times >= start_ms) & (times <= end_ms))):
                counts.setdefault(code, {})["candles"] = n
        return counts


def load_base_bars(
    *,
    asset: Asset,
    since: datetime | None,
    until: datetime | None = None,
    exchanges: Collection[str] | None = None,
) -> LoadedBars | None:
    """Reference-exchange candles joined with open interest summed over the asset's exchanges.

    ``until`` (inclusive) ends the bars at a past open time: the data a map drawn then would have
    read. ``exchanges`` (codes) sums the open interest of those of the asset's enabled exchanges only;
    the candles stay the reference exchange's.

    An OI snapshot stamped T belongs to the bar that closes at T (Binance stamps the bar's close).
    A bar's OI is the sum over contributing exchanges, or NaN unless every one of them has a value.
    Bybit reports OI in base units only; its USD value is taken at the bar's close.

    Open interest enters the flow guarded (engine/oi_guard.py): snapshots flagged at ingest and
    any the guard finds implausible here, against that exchange's own traded volume, count as
    missing, so the model carries the previous value over them.
    """
    ref = asset.reference_exchange
    params: list[Any] = [asset.pk, ref.pk]
    where = ""
    if since is not None:
        where = " AND c.open_time >= %s"
        params.append(_db_time(since))
    if until is not None:
        where += " AND c.open_time <= %s"
        params.append(_db_time(until))
    # Times come back as epoch milliseconds from the database: converting 200 000 datetimes in
    # Python would cost more than the whole engine run.
    # The reference venue's mark-price extremes come with each candle (NULL → NaN where none is stored):
    # one query, its unique index walked beside the candles', costs less than a second pass.
    rows = _fetch(
        f"SELECT {_epoch_ms('c.open_time')}, c.open, c.high, c.low, c.close, c.volume, c.taker_buy_volume, "
        f"m.high, m.low FROM {Candle._meta.db_table} c LEFT JOIN {MarkCandle._meta.db_table} m "
        "ON m.asset_id = c.asset_id AND m.exchange_id = c.exchange_id AND m.open_time = c.open_time "
        f"WHERE c.asset_id = %s AND c.exchange_id = %s{where} ORDER BY c.open_time",
        params,
    )
    if not rows:
        return None
    n = len(rows)
    table = np.array(rows, dtype=np.float64).reshape(n, 9)  # None → NaN
    open_time = table[:, 0].astype(np.int64)
    cols = table[:, 1:7]
    mark_high, mark_low = table[:, 7], table[:, 8]
    mark_bars = int(np.count_nonzero(np.isfinite(mark_high)))
    first_ms, last_ms = int(open_time[0]), int(open_time[-1])

    enabled = asset.exchanges.filter(enabled=True)
    if exchanges is not None:
        enabled = enabled.filter(code__in=list(exchanges))
    exchange_ids = list(enabled.values_list("pk", flat=True))
    if not exchange_ids and (exchanges is None or ref.code in exchanges):
        exchange_ids = [ref.pk]
    if not exchange_ids:
        exchange_ids = [-1]  # none of those exchanges: no open interest, an empty map
    placeholders = ", ".join(["%s"] * len(exchange_ids))
    oi_rows = _fetch(
        f"SELECT exchange_id, {_epoch_ms('time')}, oi_base, oi_value, simulated, held_back "
        f"FROM {OpenInterest._meta.db_table} "
        f"WHERE asset_id = %s AND exchange_id IN ({placeholders}) AND time >= %s AND time <= %s",
        [
            asset.pk,
            *exchange_ids,
            _db_time(ms_to_dt(first_ms + BASE_BAR_MS)),
            _db_time(ms_to_dt(last_ms + BASE_BAR_MS)),
        ],
    )
    per_exchange: dict[int, np.ndarray] = {}
    held_back: dict[int, np.ndarray] = {}
    simulated = False
    oi_end_ms: int | None = None
    if oi_rows:
        ex = np.array([r[0] for r in oi_rows], dtype=np.int64)
        bar_open = np.array([r[1] for r in oi_rows], dtype=np.int64) - BASE_BAR_MS
        base = np.array([r[2] for r in oi_rows], dtype=np.float64)
        value = np.array([r[3] for r in oi_rows], dtype=np.float64)
        sim = np.array([bool(r[4]) for r in oi_rows])
        flagged = np.array([bool(r[5]) for r in oi_rows])
        at = np.searchsorted(open_time, bar_open)
        hit = at < n
        hit[hit] = open_time[at[hit]] == bar_open[hit]
        # Bybit reports base units only: value them at the reference close of that bar.
        value = np.where(np.isnan(value) & hit, base * cols[np.minimum(at, n - 1), 3], value)
        for exchange_id in np.unique(ex).tolist():
            mine = hit & (ex == exchange_id)
            # Only exchanges still reporting at the end of the data contribute: one that stopped must not
            # turn every later bar's sum into "unknown", whatever span this call happened to load.
            if not mine.any() or int(bar_open[mine].max()) < last_ms - OI_STALE_MS:
                continue
            series = np.full(n, np.nan)
            series[at[mine]] = value[mine]
            stored_flag = np.zeros(n, dtype=bool)
            stored_flag[at[mine & flagged]] = True
            series[stored_flag] = np.nan
            volume = cols[:, 4] if exchange_id == ref.pk else _exchange_volume(asset, exchange_id, open_time)
            guard = engine.guard_open_interest(series, close=cols[:, 3], volume=volume)
            held_back[exchange_id] = stored_flag | guard.held_back
            per_exchange[exchange_id] = guard.guarded(series)
            simulated = simulated or bool(sim[mine].any())
            newest_oi = int(bar_open[mine].max()) + BASE_BAR_MS
            oi_end_ms = newest_oi if oi_end_ms is None else max(oi_end_ms, newest_oi)
    _hold_late_starters(per_exchange)
    # NaN where any contributing exchange lacks a value
    oi_value = np.sum(np.vstack(list(per_exchange.values())), axis=0) if per_exchange else np.full(n, np.nan)
    codes = dict(Exchange.objects.filter(pk__in=per_exchange.keys()).values_list("pk", "code"))
    candles_held_back: dict[str, list[int]] = {}
    for code, at_ms in HeldBackCandle.objects.filter(
        asset=asset, open_time__gte=ms_to_dt(first_ms), open_time__lte=ms_to_dt(last_ms)
    ).values_list("exchange__code", "open_time"):
        candles_held_back.setdefault(code, []).append(dt_to_ms(at_ms))
    bars = engine.BaseBars(
        open_time=open_time,
        high=cols[:, 1].copy(),
        low=cols[:, 2].copy(),
        close=cols[:, 3].copy(),
        volume=cols[:, 4].copy(),
        taker_buy=cols[:, 5].copy(),
        oi_value=oi_value,
        mark_high=mark_high.copy() if mark_bars else None,
        mark_low=mark_low.copy() if mark_bars else None,
    )
    return LoadedBars(
        bars=bars,
        open=cols[:, 0].copy(),
        candle_exchange=ref.code,
        oi_exchanges=sorted(codes.values()),
        oi_simulated=simulated,
        oi_end_ms=oi_end_ms,
        oi_by_exchange={codes[pk]: series for pk, series in per_exchange.items() if pk in codes},
        oi_held_back={codes[pk]: mask for pk, mask in held_back.items() if pk in codes and mask.any()},
        candles_held_back={code: np.array(times, dtype=np.int64) for code, times in candles_held_back.items()},
        mark_bars=mark_bars,
    )


def _exchange_volume(asset: Asset, exchange_id: int, open_time: np.ndarray) -> np.ndarray:
    """Another exchange's traded volume (base units) on the reference bars, NaN where it has no candle:
    the bound on how far that exchange's open interest can move."""
    rows = _fetch(
        f"SELECT {_epoch_ms('open_time')}, volume FROM {Candle._meta.db_table} "
        "WHERE asset_id = %s AND exchange_id = %s AND open_time >= %s AND open_time <= %s",
        [asset.pk, exchange_id, _db_time(ms_to_dt(int(open_time[0]))), _db_time(ms_to_dt(int(open_time[-1])))],
    )
    volume = np.full(open_time.shape[0], np.nan)
    if rows:
        times = np.array([r[0] for r in rows], dtype=np.int64)
        values = np.array([np.nan if r[1] is None else r[1] for r in rows], dtype=np.float64)
        at = np.searchsorted(open_time, times)
        hit = at < open_time.shape[0]
        hit[hit] = open_time[at[hit]] == times[hit]
        volume[at[hit]] = values[hit]
    return volume


def _hold_late_starters(per_exchange: dict[int, np.ndarray]) -> None:
    """An exchange whose series starts after the others' (a venue added later, or one that publishes no
    open-interest history) counts at its first value before it starts: it adds nothing to the change of
    the sum there, instead of turning every earlier bar's sum into "unknown" and blanking the map's past."""
    if len(per_exchange) < 2:
        return
    starts = {
        key: int(np.argmax(np.isfinite(series))) for key, series in per_exchange.items() if np.isfinite(series).any()
    }
    if not starts:
        return
    earliest = min(starts.values())
    for key, first in starts.items():
        if first > earliest:
            series = per_exchange[key]
            series[earliest:first] = series[first]
