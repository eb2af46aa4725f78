"""What one evaluation cycle reads of an asset: its memory (locked) and enabled rules in one round
trip to PostgreSQL, its market in another.

The market is the same rows as ``recent_market``, ``recorded_liquidations`` and ``stored_clusters`` (heatmaps),
read by one statement of array aggregates instead of seven queries: on a busy database server each
round trip waits for its turn, and 50 assets × 7 of them cost more than the whole evaluation.
Other backends take those three functions as they are.

Liquidations come from a floor that is never later than the first bar a cycle evaluates (the newer
of the memory's bar and the oldest bar a catch-up may reach); ``liquidations_since`` then keeps
exactly the rows ``recorded_liquidations`` would have returned.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from types import MappingProxyType
from typing import Any

import numpy as np
from django.db import connection

from accounts.models import AlertMarketMemory, AlertRule
from heatmaps.maps import MODEL, StoredClusters, stored_clusters
from heatmaps.marketdata import ms_to_dt, recent_market, recorded_liquidations
from heatmaps.marketdata.series import FUNDING_LOOKBACK, ExchangeSeries, RecentBars, RecentMarket, RecordedLiquidations
from heatmaps.models import Asset, Candle, Exchange, FundingRate, Heatmap, Liquidation, OpenInterest
from heatmaps.rows import BASE_BAR_MS

NO_MEMORY = datetime(1970, 1, 1, tzinfo=UTC)  # the memory of an asset no cycle has seen yet


@dataclass(frozen=True)
class CycleMarket:
    market: RecentMarket | None  # None: the asset has no bars
    maps: dict[str, StoredClusters]
    liquidations: RecordedLiquidations | None  # from the floor on; None: none ever recorded

    def liquidations_since(self, since_ms: int) -> RecordedLiquidations | None:
        found = self.liquidations
        if found is None:
            return None
        keep = found.times_ms >= since_ms
        return RecordedLiquidations(found.times_ms[keep], found.usd[keep], found.long[keep])


@dataclass(frozen=True, slots=True)
class StoredRule:
    """What a cycle reads of a rule: one row of a values query, not a model instance (10 000 of
    those cost more than the whole evaluation)."""

    id: int
    user_id: int
    condition: str
    params: Mapping[str, Any]  # read-only: rules with the same parameters share one
    params_json: str  # the same, as canonical JSON (jsonb's own text): a key for caches
    zone: tuple[float, float | None] | None
    trigger: str
    cooldown_minutes: int
    expires_at: datetime | None
    last_fired_bar: datetime | None
    channels: list[str]
    webhook_active: bool
    followup_horizon_minutes: int | None = None


def lock_memory_and_rules(*, asset: Asset) -> tuple[AlertMarketMemory, list[StoredRule]]:
    """The asset's memory, created if missing and locked for the rest of the transaction, then its
    enabled rules as they are once the lock is held."""
    query = AlertRule.objects.filter(asset=asset, enabled=True).values_list(*RULE_COLUMNS)
    if connection.vendor != "postgresql":
        AlertMarketMemory.objects.bulk_create(
            [AlertMarketMemory(asset=asset, bar_time=NO_MEMORY, clusters={})], ignore_conflicts=True
        )
        memory = AlertMarketMemory.objects.select_for_update().get(asset=asset)
        return memory, [_stored_rule(r, r[3], json.dumps(r[3], sort_keys=True), r[10]) for r in query]
    # The no-op update of the upsert takes the same row lock as FOR UPDATE. Two statements in one
    # round trip: the second starts (and takes its snapshot) after the first holds the lock. The
    # rules' query is the ORM's own SQL, run without its per-value converters (they cost more than
    # evaluating the rules); the JSON columns come back as text.
    table = AlertMarketMemory._meta.db_table
    lock = (
        f"INSERT INTO {table} (asset_id, bar_time, clusters, updated_at) VALUES (%s, %s, '{{}}'::jsonb, now()) "
        f"ON CONFLICT (asset_id) DO UPDATE SET bar_time = {table}.bar_time "
        "RETURNING id, asset_id, bar_time, clusters::text, updated_at"
    )
    sql, params = query.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(f"{lock}; {sql}", [asset.pk, NO_MEMORY, *params])
        locked = cursor.fetchone()
        cursor.nextset()
        rows = cursor.fetchall()
    assert locked is not None  # an upsert returns its row
    memory = AlertMarketMemory.from_db(
        connection.alias,
        ["id", "asset_id", "bar_time", "clusters", "updated_at"],
        [*locked[:3], json.loads(locked[3]), locked[4]],
    )
    parsed: dict[str, list[str]] = {}

    def channels(text: str | list[str]) -> list[str]:
        # A cycle's rules mostly share a few channel lists: each distinct one is parsed once.
        if not isinstance(text, str):
            return text
        if text not in parsed:
            parsed[text] = json.loads(text)
        return parsed[text]

    return memory, [_stored_rule(r, _read_params(r[3]), r[3], channels(r[10])) for r in rows]


@lru_cache(maxsize=65_536)
def _read_params(text: str) -> Mapping[str, Any]:
    # The same rules come back every cycle: their parameters are parsed once a process.
    value = json.loads(text)
    return MappingProxyType(value if isinstance(value, dict) else {})  # not an object: refused when parsed


RULE_COLUMNS = (
    "id",
    "user_id",
    "condition",
    "params",
    "annotation__price",
    "annotation__price_high",
    "trigger",
    "cooldown_minutes",
    "expires_at",
    "last_fired_bar",
    "channels",
    "webhook_url",
    "webhook_disabled_reason",
    "followup_horizon_minutes",
)


def _stored_rule(r: tuple[Any, ...], params: Mapping[str, Any], params_json: str, channels: list[str]) -> StoredRule:
    return StoredRule(
        id=r[0],
        user_id=r[1],
        condition=r[2],
        params=params,
        params_json=params_json,
        zone=(r[4], r[5]) if r[4] is not None else None,
        trigger=r[6],
        cooldown_minutes=r[7],
        expires_at=r[8],
        last_fired_bar=r[9],
        channels=channels,
        webhook_active="webhook" in channels and bool(r[11]) and not r[12],
        followup_horizon_minutes=r[13],
    )


def read_cycle_market(
    *, asset: Asset, window: timedelta, bars: int, catch_up_bars: int, last_seen: datetime
) -> CycleMarket:
    """The asset's recent market as ``recent_market(asset, window, bars)`` reads it, its stored maps'
    clusters, and its liquidations from the newer of ``last_seen`` and the open time of the
    ``catch_up_bars``-th newest bar."""
    if connection.vendor != "postgresql":
        floor = last_seen
        market = recent_market(asset=asset, window=window, bars=bars)
        if market is not None and len(market.bars) >= catch_up_bars:
            floor = max(floor, ms_to_dt(int(market.bars.times_ms[-catch_up_bars])))
        return CycleMarket(
            market, stored_clusters(asset=asset), recorded_liquidations(asset=asset, since=floor) if market else None
        )
    with connection.cursor() as cursor:
        cursor.execute(_SQL, _params(asset, window, bars, catch_up_bars, last_seen))
        row = cursor.fetchone()
    return _parse(row)


def _ms(column: str, *, floor: bool = False) -> str:
    # recent_market rounds (SQL), recorded_liquidations floors (Python's dt_to_ms): the same here.
    inner = f"EXTRACT(EPOCH FROM {column}) * 1000"
    return f"(floor({inner}))::bigint" if floor else f"({inner})::bigint"


def _lateral(name: str, table: str, columns: list[str], where: str, order: str) -> str:
    aggregates = ", ".join(f"array_agg({c} ORDER BY {order}) AS {name}{i}" for i, c in enumerate(columns))
    return f"LATERAL (SELECT {aggregates} FROM {table} WHERE {where}) AS {name}"


_CANDLE = Candle._meta.db_table
_NEWEST = (
    f"SELECT open_time FROM {_CANDLE} WHERE asset_id = %(asset)s AND exchange_id = %(ref)s ORDER BY open_time DESC"
)
_EXCHANGES = "exchange_id = ANY(ex.ids)"
_SQL = f"""
WITH ex AS (
    SELECT COALESCE(
        (SELECT array_agg(ae.exchange_id) FROM {Asset.exchanges.through._meta.db_table} ae
         JOIN {Exchange._meta.db_table} e ON e.id = ae.exchange_id WHERE ae.asset_id = %(asset)s AND e.enabled),
        ARRAY[%(ref)s]::bigint[]) AS ids
), lim AS (
    SELECT ({_NEWEST} LIMIT 1) AS newest, ({_NEWEST} LIMIT 1 OFFSET %(nth)s) AS nth,
           ({_NEWEST} LIMIT 1 OFFSET %(catch_up)s) AS catch_up
), st AS (
    SELECT newest, CASE WHEN nth IS NULL THEN 'epoch'::timestamptz ELSE LEAST(newest - %(window)s, nth) END AS start,
           GREATEST(%(last_seen)s, COALESCE(catch_up, 'epoch'::timestamptz)) AS floor
    FROM lim
)
SELECT st.newest IS NOT NULL, c.*, o.*, f.*, l.*,
    EXISTS (SELECT 1 FROM {Liquidation._meta.db_table} WHERE asset_id = %(asset)s), m.*
FROM st, ex,
{
    _lateral(
        "c",
        _CANDLE,
        [_ms("open_time"), "open", "high", "low", "close"],
        "asset_id = %(asset)s AND exchange_id = %(ref)s AND open_time >= st.start",
        "open_time",
    )
},
{
    _lateral(
        "o",
        OpenInterest._meta.db_table,
        ["exchange_id", _ms("time"), "oi_value", "oi_base"],
        f"asset_id = %(asset)s AND {_EXCHANGES} AND time >= st.start",
        "exchange_id, time",
    )
},
{
    _lateral(
        "f",
        FundingRate._meta.db_table,
        ["exchange_id", _ms("funding_time"), "rate"],
        f"asset_id = %(asset)s AND {_EXCHANGES} AND funding_time >= st.start - %(lookback)s",
        "exchange_id, funding_time",
    )
},
{
    _lateral(
        "l",
        Liquidation._meta.db_table,
        [_ms("time", floor=True), "value", "side"],
        "asset_id = %(asset)s AND time >= st.floor",
        "time",
    )
},
{
    _lateral(
        "m",
        Heatmap._meta.db_table,
        ["timeframe", "version", _ms("data_end", floor=True), "clusters::text"],
        "asset_id = %(asset)s AND model = %(model)s",
        "timeframe",
    )
}
"""


def _params(asset: Asset, window: timedelta, bars: int, catch_up_bars: int, last_seen: datetime) -> dict[str, Any]:
    return {
        "asset": asset.pk,
        "ref": asset.reference_exchange_id,
        "nth": bars - 1,
        "catch_up": catch_up_bars - 1,
        "window": window,
        "last_seen": last_seen,
        "lookback": FUNDING_LOOKBACK,
        "model": MODEL,
    }


def _list(values: list[Any] | None) -> list[Any]:
    return values if values is not None else []  # an aggregate over no rows is NULL


def _parse(row: tuple[Any, ...]) -> CycleMarket:
    has_bars = row[0]
    candles, oi_rows, funding_rows, liq_rows = row[1:6], row[6:10], row[10:13], row[13:16]
    liq_exist, map_rows = row[16], row[17:21]
    maps = {
        tf: StoredClusters(tf, version, end + BASE_BAR_MS, json.loads(c) if c is not None else [])
        for tf, version, end, c in zip(*map(_list, map_rows), strict=True)
    }
    liquidations = None
    if liq_exist:
        times, usd, side = map(_list, liq_rows)
        liquidations = RecordedLiquidations(
            times_ms=np.array(times, dtype=np.int64),
            usd=np.array(usd, dtype=np.float64),
            long=np.array([s == Liquidation.Side.LONG for s in side], dtype=np.bool_),
        )
    if not has_bars:
        return CycleMarket(None, maps, liquidations)
    times, open_, high, low, close = map(_list, candles)
    recent = RecentBars(
        np.array(times, dtype=np.int64),
        np.array(open_, dtype=np.float64),
        np.array(high, dtype=np.float64),
        np.array(low, dtype=np.float64),
        np.array(close, dtype=np.float64),
    )
    close_at = dict(zip((recent.times_ms + BASE_BAR_MS).tolist(), recent.close.tolist(), strict=True))
    oi: dict[int, list[tuple[int, float]]] = {}
    for exchange_id, at, value, base in zip(*map(_list, oi_rows), strict=True):
        if value is None and base is not None and at in close_at:
            value = base * close_at[at]  # Bybit reports base units only: valued at the bar's close
        if value is not None:
            oi.setdefault(exchange_id, []).append((int(at), value))
    funding: dict[int, list[tuple[int, float]]] = {}
    for exchange_id, at, rate in zip(*map(_list, funding_rows), strict=True):
        funding.setdefault(exchange_id, []).append((int(at), rate))
    return CycleMarket(
        RecentMarket(bars=recent, open_interest=_series(oi), funding=_series(funding)), maps, liquidations
    )


def _series(samples: dict[int, list[tuple[int, float]]]) -> dict[int, ExchangeSeries]:
    return {
        key: ExchangeSeries(np.array([t for t, _ in rows], dtype=np.int64), np.array([v for _, v in rows], dtype=float))
        for key, rows in samples.items()
    }
