"""Data coverage: what market data is stored, per asset, exchange and kind, and where bars are missing."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from django.db import connection
from django.db.models import Count, Max, Min

from heatmaps.models import Asset, Candle, Exchange, FundingRate, HeldBackCandle, Liquidation, OpenInterest
from heatmaps.rows import BASE_BAR_MS

KINDS: dict[str, tuple[type[Any], str, bool]] = {
    # kind: (model, time field, on the 5-minute grid?)
    "candles": (Candle, "open_time", True),
    "open_interest": (OpenInterest, "time", True),
    "funding": (FundingRate, "funding_time", False),
    "liquidations": (Liquidation, "time", False),
}


@dataclass(frozen=True)
class Coverage:
    asset: str
    exchange: str
    kind: str
    first: datetime | None
    last: datetime | None
    rows: int
    missing_bars: int | None  # None where the kind is not on the 5-minute grid
    simulated: bool = False
    held_back: int = 0  # rows left out as implausible (OI flagged where stored; candles kept apart)

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["first"] = self.first.isoformat() if self.first else None
        data["last"] = self.last.isoformat() if self.last else None
        return data


def data_coverage(*, assets: list[Asset] | None = None) -> list[Coverage]:
    """One aggregate query per kind (grouped by asset and exchange); no row-by-row scans."""
    wanted = assets if assets is not None else list(Asset.objects.all())
    by_id = {a.pk: a.symbol for a in wanted}
    exchange_codes = dict(Exchange.objects.values_list("pk", "code"))
    simulated = set(
        OpenInterest.objects.filter(asset_id__in=by_id.keys(), simulated=True)
        .values_list("asset_id", "exchange_id")
        .distinct()
    )
    held: dict[tuple[int, int, str], int] = {}
    for row in (
        OpenInterest.objects.filter(asset_id__in=by_id.keys())
        .exclude(held_back="")
        .values("asset_id", "exchange_id")
        .annotate(n=Count("*"))
    ):
        held[(row["asset_id"], row["exchange_id"], "open_interest")] = row["n"]
    for row in (
        HeldBackCandle.objects.filter(asset_id__in=by_id.keys())
        .values("asset_id", "exchange_id")
        .annotate(n=Count("*"))
    ):
        held[(row["asset_id"], row["exchange_id"], "candles")] = row["n"]
    result: list[Coverage] = []
    for kind, (model, field, gridded) in KINDS.items():
        stats = (
            model.objects.filter(asset_id__in=by_id.keys())
            .values("asset_id", "exchange_id")
            .annotate(first=Min(field), last=Max(field), rows=Count("*"))
        )
        for row in stats.order_by("asset_id", "exchange_id"):
            missing = None
            if gridded and row["first"] and row["last"]:
                span = int((row["last"] - row["first"]).total_seconds() * 1000) // BASE_BAR_MS + 1
                missing = span - row["rows"]
            result.append(
                Coverage(
                    asset=by_id[row["asset_id"]],
                    exchange=exchange_codes[row["exchange_id"]],
                    kind=kind,
                    first=row["first"],
                    last=row["last"],
                    rows=row["rows"],
                    missing_bars=missing,
                    simulated=kind == "open_interest" and (row["asset_id"], row["exchange_id"]) in simulated,
                    held_back=held.get((row["asset_id"], row["exchange_id"], kind), 0),
                )
            )
    result.sort(key=lambda c: (c.asset, c.exchange, list(KINDS).index(c.kind)))
    return result


@dataclass(frozen=True)
class HeldBackRow:
    asset: str
    exchange: str
    kind: str  # "open_interest" or "candles"
    time: datetime
    reason: str
    detail: str

    def as_json(self) -> dict[str, Any]:
        return {**asdict(self), "time": self.time.isoformat()}


def held_back_rows(*, assets: list[Asset] | None = None, limit: int = 200) -> list[HeldBackRow]:
    """The rows left out as implausible, newest first: open-interest snapshots flagged where stored
    (with their value) and candles held back at ingest (with what was wrong)."""
    flt: dict[str, Any] = {} if assets is None else {"asset__in": assets}
    rows = [
        HeldBackRow(
            asset=symbol,
            exchange=code,
            kind="open_interest",
            time=time,
            reason=reason,
            detail=f"{value:,.0f} USD" if value is not None else f"{base:,.4f} base units",
        )
        for symbol, code, time, reason, value, base in OpenInterest.objects.filter(**flt)
        .exclude(held_back="")
        .order_by("-time")
        .values_list("asset__symbol", "exchange__code", "time", "held_back", "oi_value", "oi_base")[:limit]
    ]
    rows += [
        HeldBackRow(asset=symbol, exchange=code, kind="candles", time=time, reason=reason, detail=detail)
        for symbol, code, time, reason, detail in HeldBackCandle.objects.filter(**flt)
        .order_by("-open_time")
        .values_list("asset__symbol", "exchange__code", "open_time", "reason", "detail")[:limit]
    ]
    rows.sort(key=lambda r: r.time, reverse=True)
    return rows[:limit]


@dataclass(frozen=True)
class Gap:
    after: datetime  # last bar present before the hole
    before: datetime  # first bar present after it
    missing_bars: int


def find_gaps(*, asset_id: int, exchange_id: int, since: datetime, kind: str = "candles") -> list[Gap]:
    """Holes in a 5-minute series (candles or open interest) since `since`, found with lag() over the
    stored rows rather than against a generated time spine."""
    model, column, gridded = KINDS[kind]
    if not gridded:
        raise ValueError(f"{kind} is not on the 5-minute grid")
    table = model._meta.db_table
    sql = f"""
        SELECT prev_time, {column} FROM (
            SELECT {column}, LAG({column}) OVER (ORDER BY {column}) AS prev_time
            FROM {table} WHERE asset_id = %s AND exchange_id = %s AND {column} >= %s
        ) AS t
        WHERE prev_time IS NOT NULL AND {column} > prev_time
    """
    gaps: list[Gap] = []
    params = [asset_id, exchange_id, connection.ops.adapt_datetimefield_value(since)]  # SQLite compares text
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(sql + f" AND {column} - prev_time > interval '5 minutes' ORDER BY {column}", params)
        else:
            cursor.execute(sql + f" ORDER BY {column}", params)
        rows = cursor.fetchall()
    for prev_time, time in rows:
        prev_dt = _as_dt(prev_time)
        next_dt = _as_dt(time)
        step = int((next_dt - prev_dt).total_seconds() * 1000) // BASE_BAR_MS
        if step > 1:
            gaps.append(Gap(after=prev_dt, before=next_dt, missing_bars=step - 1))
    return gaps


def _as_dt(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value))


@dataclass(frozen=True)
class SpanSummary:
    kind: str
    rows: int
    first: datetime | None
    last: datetime | None
    missing_bars: int | None  # None for funding, which is not on the 5-minute grid


def span_summary(*, asset_id: int, exchange_id: int, kind: str, start: datetime, end: datetime) -> SpanSummary:
    """What is stored of one series in [start, end): rows, first and last time, and for 5-minute
    series the bars missing between the first and the last stored one."""
    model, column, gridded = KINDS[kind]
    stats = model.objects.filter(
        asset_id=asset_id, exchange_id=exchange_id, **{f"{column}__gte": start, f"{column}__lt": end}
    ).aggregate(rows=Count("*"), first=Min(column), last=Max(column))
    first, last, rows = stats["first"], stats["last"], stats["rows"]
    missing = None
    if gridded:
        expected = 0 if first is None else int((last - first).total_seconds() * 1000) // BASE_BAR_MS + 1
        missing = expected - rows
    return SpanSummary(kind=kind, rows=rows, first=first, last=last, missing_bars=missing)
