"""Store and query market data: rows from importers and connectors into the market tables."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.core.exceptions import ValidationError
from django.db import transaction

from heatmaps.marketdata.assets import asset_add
from heatmaps.marketdata.dumpfiles import ParsedFile, read_market_file
from heatmaps.marketdata.partitions import ensure_partitions_for_span
from heatmaps.marketdata.upserts import upsert_rows
from heatmaps.models import Asset, Candle, Exchange, FundingRate, Liquidation, OpenInterest
from heatmaps.rows import CandleRow, FundingRow, LiquidationRow, OpenInterestRow

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def ms_to_dt(ms: int) -> datetime:
    return EPOCH + timedelta(milliseconds=ms)


def dt_to_ms(dt: datetime) -> int:
    return (dt - EPOCH) // timedelta(milliseconds=1)


def _partitions_for(model: type[Candle] | type[OpenInterest], times_ms: Sequence[int]) -> None:
    if times_ms:
        ensure_partitions_for_span(model=model, first=ms_to_dt(min(times_ms)), last=ms_to_dt(max(times_ms)))


def upsert_candles(*, asset: Asset, exchange: Exchange, rows: Sequence[CandleRow]) -> int:
    _partitions_for(Candle, [r.open_time_ms for r in rows])
    return upsert_rows(
        Candle,
        key_fields=("asset", "exchange", "open_time"),
        value_fields=("open", "high", "low", "close", "volume", "taker_buy_volume", "quote_volume"),
        records=[
            (
                asset.pk,
                exchange.pk,
                ms_to_dt(r.open_time_ms),
                r.open,
                r.high,
                r.low,
                r.close,
                r.volume,
                r.taker_buy_volume,
                r.quote_volume,
            )
            for r in rows
        ],
    )


def upsert_open_interest(
    *, asset: Asset, exchange: Exchange, rows: Sequence[OpenInterestRow], simulated: bool = False
) -> int:
    _partitions_for(OpenInterest, [r.time_ms for r in rows])
    return upsert_rows(
        OpenInterest,
        key_fields=("asset", "exchange", "time"),
        value_fields=("oi_base", "oi_value", "simulated"),
        records=[(asset.pk, exchange.pk, ms_to_dt(r.time_ms), r.oi_base, r.oi_value, simulated) for r in rows],
    )


def upsert_funding(*, asset: Asset, exchange: Exchange, rows: Sequence[FundingRow]) -> int:
    # A dump without mark prices must not erase ones stored from the REST API.
    with_mark = [r for r in rows if r.mark_price is not None]
    without_mark = [r for r in rows if r.mark_price is None]
    written = upsert_rows(
        FundingRate,
        key_fields=("asset", "exchange", "funding_time"),
        value_fields=("rate", "mark_price"),
        records=[(asset.pk, exchange.pk, ms_to_dt(r.time_ms), r.rate, r.mark_price) for r in with_mark],
    )
    return written + upsert_rows(
        FundingRate,
        key_fields=("asset", "exchange", "funding_time"),
        value_fields=("rate",),
        records=[(asset.pk, exchange.pk, ms_to_dt(r.time_ms), r.rate) for r in without_mark],
    )


def insert_liquidations(*, asset: Asset, exchange: Exchange, rows: Sequence[LiquidationRow]) -> int:
    """Store events by the exchange's dedupe key; returns how many rows were inserted or grew.

    A key seen before is updated only when the new quantity is larger: Binance's key names one
    liquidation order and its quantity is the order's cumulative fill, so later partial fills replace the
    row with the largest fill (its price and value with it) and a replayed or older frame changes nothing.
    Bybit and OKX keys include the quantity, so for them a repeat is simply a no-op.
    """
    from django.db import connection  # this function alone writes raw SQL here

    largest: dict[str, LiquidationRow] = {}
    for r in rows:  # one statement cannot touch the same row twice: keep each key's largest fill
        if r.dedupe_key not in largest or r.quantity > largest[r.dedupe_key].quantity:
            largest[r.dedupe_key] = r
    if not largest:
        return 0
    q = connection.ops.quote_name
    meta = Liquidation._meta
    table = q(meta.db_table)
    names = ("exchange", "dedupe_key", "asset", "time", "side", "price", "quantity", "value")
    cols = [q(str(meta.get_field(n).column)) for n in names]  # type: ignore[union-attr]
    exchange_col, key_col, quantity_col = cols[0], cols[1], cols[6]
    # GREATEST on PostgreSQL, the two-argument MAX on SQLite (embedded mode); the WHERE keeps price, value
    # and time from the frame that carried the largest fill.
    greatest = "GREATEST" if connection.vendor == "postgresql" else "MAX"
    updates = ", ".join(f"{c} = excluded.{c}" for c in (cols[3], cols[5], cols[7]))
    records = [
        (exchange.pk, r.dedupe_key, asset.pk, ms_to_dt(r.time_ms), r.side, r.price, r.quantity, r.value)
        for r in largest.values()
    ]
    written = 0
    with transaction.atomic(), connection.cursor() as cursor:
        for start in range(0, len(records), 500):
            chunk = records[start : start + 500]
            values = ", ".join(["(" + ", ".join(["%s"] * len(cols)) + ")"] * len(chunk))
            sql = (
                f"INSERT INTO {table} ({', '.join(cols)}) VALUES {values} "
                f"ON CONFLICT ({exchange_col}, {key_col}) DO UPDATE SET "
                f"{quantity_col} = {greatest}({table}.{quantity_col}, excluded.{quantity_col}), {updates} "
                f"WHERE excluded.{quantity_col} > {table}.{quantity_col}"
            )
            cursor.execute(sql, [v for record in chunk for v in record])
            written += max(cursor.rowcount, 0)
    return written


class ImportProblem(ValueError):
    """A file cannot be imported; the message says which file and why."""


@dataclass(frozen=True)
class ImportResult:
    path: str
    kind: str
    symbol: str
    exchange: str
    rows_read: int
    rows_written: int
    first: datetime | None
    last: datetime | None


def import_market_file(
    path: str,
    *,
    asset_symbol: str | None = None,
    exchange_code: str = "binance",
    simulated_oi: bool = False,
    create_asset: bool = False,
    on_parsed: Callable[[ParsedFile], None] | None = None,
) -> ImportResult:
    """Parse one file completely, then write it in one transaction: all of it or nothing.

    An unknown asset is an error naming the command that adds it, unless ``create_asset`` is set.
    """
    parsed = read_market_file(path)
    if on_parsed:
        on_parsed(parsed)
    symbol = (asset_symbol or parsed.symbol or "").upper()
    if not symbol:
        raise ImportProblem(f"{path}: cannot tell the asset from the file; pass --asset SYMBOL")
    if asset_symbol and parsed.symbol and parsed.symbol.upper() != asset_symbol.upper() and parsed.kind == "metrics":
        raise ImportProblem(f"{path}: file holds {parsed.symbol}, not {asset_symbol}")
    try:
        exchange = Exchange.get_supported(exchange_code)
    except ValueError as exc:
        raise ImportProblem(f"{path}: {exc}") from None
    asset = Asset.objects.filter(symbol=symbol).first()
    if asset is None and not create_asset:
        known = ", ".join(Asset.objects.values_list("symbol", flat=True)) or "none"
        raise ImportProblem(
            f"{path}: unknown asset {symbol!r} (known: {known}); add it first with "
            f"`python manage.py add_asset {symbol} --exchanges {exchange.code}`, or pass --create-asset"
        )
    if parsed.first_ms is not None and parsed.last_ms is not None and parsed.kind != "funding":
        # Outside the import's transaction, so a new month's partition doesn't hold the table's lock
        # for as long as the file takes to write.
        _partitions_for(
            Candle if parsed.kind in ("klines", "ohlcv") else OpenInterest, [parsed.first_ms, parsed.last_ms]
        )
    with transaction.atomic():
        if asset is None:
            try:
                asset = asset_add(symbol=symbol, exchanges=[exchange.code])
            except ValidationError as exc:
                raise ImportProblem(f"{path}: cannot create asset {symbol!r}: {'; '.join(exc.messages)}") from None
        if parsed.kind in ("klines", "ohlcv"):
            written = upsert_candles(asset=asset, exchange=exchange, rows=parsed.rows)  # type: ignore[arg-type]
        elif parsed.kind == "metrics":
            written = upsert_open_interest(asset=asset, exchange=exchange, rows=parsed.rows, simulated=simulated_oi)  # type: ignore[arg-type]
        else:
            written = upsert_funding(asset=asset, exchange=exchange, rows=parsed.rows)  # type: ignore[arg-type]
    return ImportResult(
        path=parsed.path,
        kind=parsed.kind,
        symbol=symbol,
        exchange=exchange.code,
        rows_read=len(parsed.rows),
        rows_written=written,
        first=ms_to_dt(parsed.first_ms) if parsed.first_ms is not None else None,
        last=ms_to_dt(parsed.last_ms) if parsed.last_ms is not None else None,
    )


def liquidation_prints(
    *, asset: Asset, start: datetime, end: datetime, limit: int = 500
) -> list[list[float | int | str]]:
    """The largest recorded liquidation events in [start, end): [time ms, price, USD, side, exchange], by time."""
    rows = (
        Liquidation.objects.filter(asset=asset, time__gte=start, time__lt=end)
        .order_by("-value")
        .values_list("time", "price", "value", "side", "exchange__code")[:limit]
    )
    prints: list[list[float | int | str]] = [
        [dt_to_ms(t), price, round(value, 2), side, code] for t, price, value, side, code in rows
    ]
    prints.sort(key=lambda p: p[0])
    return prints
