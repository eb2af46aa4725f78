"""Recent market series of one asset as numpy arrays, for readers that judge the latest bars (alerts).

Bars come from the reference exchange, open interest is summed over the asset's enabled exchanges,
funding is weighted by each exchange's open interest. Times are UTC milliseconds, amounts USD.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
import numpy.typing as npt

from heatmaps.marketdata.rawsql import db_time as _db_time
from heatmaps.marketdata.rawsql import epoch_ms as _epoch_ms
from heatmaps.marketdata.rawsql import fetch as _fetch
from heatmaps.marketdata.store import dt_to_ms, ms_to_dt
from heatmaps.models import Asset, Candle, FundingRate, Liquidation, OpenInterest
from heatmaps.rows import BASE_BAR_MS

Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64]
FUNDING_LOOKBACK = timedelta(days=1)  # longer than any funding interval


@dataclass(frozen=True)
class RecentBars:
    """Closed 5-minute bars of the reference exchange, oldest first; ``times_ms`` are open times."""

    times_ms: Ints
    open: Floats
    high: Floats
    low: Floats
    close: Floats

    def __len__(self) -> int:
        return int(self.times_ms.size)


@dataclass(frozen=True)
class ExchangeSeries:
    times_ms: Ints
    values: Floats

    def as_of(self, at_ms: Ints) -> Floats:
        """The last value at or before each time (NaN before the first sample)."""
        index = np.searchsorted(self.times_ms, at_ms, side="right") - 1
        if self.values.size == 0:
            return np.full(at_ms.shape, np.nan)
        return np.where(index >= 0, self.values[np.maximum(index, 0)], np.nan)


@dataclass(frozen=True)
class RecentMarket:
    bars: RecentBars
    open_interest: dict[int, ExchangeSeries]  # exchange id → OI in USD
    funding: dict[int, ExchangeSeries]  # exchange id → rate per interval, stamped at the funding time

    def open_interest_usd(self) -> tuple[Ints, Floats]:
        """OI summed over exchanges at every time any exchange reported (each exchange as of then);
        a time before some exchange's first sample sums the ones known."""
        if not self.open_interest:
            return np.zeros(0, dtype=np.int64), np.zeros(0)
        times = np.unique(np.concatenate([s.times_ms for s in self.open_interest.values()]))
        stacked = np.vstack([s.as_of(times) for s in self.open_interest.values()])
        known = ~np.isnan(stacked).all(axis=0)
        return times[known], np.nansum(stacked, axis=0)[known]

    def funding_rate_at(self, at_ms: int) -> float | None:
        """The OI-weighted funding rate in force at ``at_ms`` (each exchange's latest rate and OI)."""
        at = np.array([at_ms], dtype=np.int64)
        total = weight = 0.0
        for exchange_id, series in self.funding.items():
            rate = float(series.as_of(at)[0])
            oi = self.open_interest.get(exchange_id)
            oi_usd = float(oi.as_of(at)[0]) if oi is not None else float("nan")
            if np.isfinite(rate) and np.isfinite(oi_usd) and oi_usd > 0:
                total += rate * oi_usd
                weight += oi_usd
        return total / weight if weight else None


def recent_market(*, asset: Asset, window: timedelta, bars: int) -> RecentMarket | None:
    """The last ``bars`` closed bars, or all within ``window`` of the newest when that reaches
    further back, with open interest from the same start and funding from one day earlier (so the
    rate in force at the start is known). None when the asset has no bars."""
    exchange_ids = list(asset.exchanges.filter(enabled=True).values_list("pk", flat=True)) or [
        asset.reference_exchange_id
    ]
    table_name = Candle._meta.db_table
    newest_sql = f"SELECT open_time FROM {table_name} WHERE asset_id = %s AND exchange_id = %s ORDER BY open_time DESC"
    ref = [asset.pk, asset.reference_exchange_id]
    ((newest, nth_newest),) = _fetch(
        f"SELECT ({newest_sql} LIMIT 1), ({newest_sql} LIMIT 1 OFFSET %s)", [*ref, *ref, bars - 1]
    )
    if newest is None:
        return None
    if isinstance(newest, str):  # SQLite hands back text
        newest = datetime.fromisoformat(newest).replace(tzinfo=UTC)
        nth_newest = datetime.fromisoformat(nth_newest).replace(tzinfo=UTC) if nth_newest else None
    # Fewer bars stored than asked for: all of them.
    start = min(newest - window, nth_newest) if nth_newest is not None else ms_to_dt(0)
    # Times come back as epoch milliseconds: converting thousands of datetimes in Python would
    # cost more than everything else an alert cycle does with them.
    rows = _fetch(
        f"SELECT {_epoch_ms('open_time')}, open, high, low, close FROM {Candle._meta.db_table} "
        "WHERE asset_id = %s AND exchange_id = %s AND open_time >= %s ORDER BY open_time",
        [asset.pk, asset.reference_exchange_id, _db_time(start)],
    )
    table = np.array(rows, dtype=np.float64).reshape(len(rows), 5)
    recent = RecentBars(table[:, 0].astype(np.int64), table[:, 1], table[:, 2], table[:, 3], table[:, 4])
    close_at = dict(zip((recent.times_ms + BASE_BAR_MS).tolist(), recent.close.tolist(), strict=True))
    ids = ", ".join(["%s"] * len(exchange_ids))
    oi: dict[int, list[tuple[int, float]]] = {}
    for exchange_id, at, value, base in _fetch(
        f"SELECT exchange_id, {_epoch_ms('time')}, oi_value, oi_base FROM {OpenInterest._meta.db_table} "
        f"WHERE asset_id = %s AND exchange_id IN ({ids}) AND time >= %s ORDER BY exchange_id, time",
        [asset.pk, *exchange_ids, _db_time(start)],
    ):
        if value is None and base is not None and at in close_at:
            value = base * close_at[at]  # Bybit reports base units only: valued at the bar's close
        if value is not None:
            oi.setdefault(exchange_id, []).append((int(at), value))
    funding: dict[int, list[tuple[int, float]]] = {}
    for exchange_id, at, rate in _fetch(
        f"SELECT exchange_id, {_epoch_ms('funding_time')}, rate FROM {FundingRate._meta.db_table} "
        f"WHERE asset_id = %s AND exchange_id IN ({ids}) AND funding_time >= %s ORDER BY exchange_id, funding_time",
        [asset.pk, *exchange_ids, _db_time(start - FUNDING_LOOKBACK)],
    ):
        funding.setdefault(exchange_id, []).append((int(at), rate))
    return RecentMarket(bars=recent, open_interest=_series(oi), funding=_series(funding))


def _series(samples: dict[int, list[tuple[int, float]]]) -> dict[int, ExchangeSeries]:
    return {
        key: ExchangeSeries(np.array([t for t, _ in rows], dtype=np.int64), np.array([v for _, v in rows], dtype=float))
        for key, rows in samples.items()
    }


@dataclass(frozen=True)
class RecordedLiquidations:
    times_ms: Ints
    usd: Floats
    long: npt.NDArray[np.bool_]


def recorded_liquidations(*, asset: Asset, since: datetime) -> RecordedLiquidations | None:
    """Liquidation events from ``since`` on; None when none were ever recorded for the asset (no
    recorder runs for it, so "nothing liquidated" would be a guess)."""
    rows = list(
        Liquidation.objects.filter(asset=asset, time__gte=since).order_by("time").values_list("time", "value", "side")
    )
    if not rows and not Liquidation.objects.filter(asset=asset).exists():
        return None
    return RecordedLiquidations(
        times_ms=np.array([dt_to_ms(r[0]) for r in rows], dtype=np.int64),
        usd=np.array([r[1] for r in rows], dtype=np.float64),
        long=np.array([r[2] == Liquidation.Side.LONG for r in rows], dtype=np.bool_),
    )
