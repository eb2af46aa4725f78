"""Store and query market data: rows from importers and connectors into the market tables."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import cast

from django.core.exceptions import ValidationError
from django.db import transaction

from heatmaps.marketdata.assets import asset_add
from heatmaps.marketdata.dumpfiles import ParsedFile, read_market_file, symbol_from_filename
from heatmaps.marketdata.partitions import ensure_partitions_for_span
from heatmaps.marketdata.plausibility import Candles, candle_problems
from heatmaps.marketdata.rawsql import dt_to_ms, ms_to_dt
from heatmaps.marketdata.upserts import upsert_rows
from heatmaps.models import Asset, Candle, Exchange, FundingRate, Liquidation, OpenInterest
from heatmaps.rows import CandleRow, FundingRow, LiquidationRow, OpenInterestRow


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
    largest: dict[str, LiquidationRow] = {}
    for r in rows:  # one statement cannot touch the same row twice: keep each key's largest fill
        if r.dedupe_key not in largest or r.quantity > largest[r.dedupe_key].quantity:
            largest[r.dedupe_key] = r
    return upsert_rows(
        Liquidation,
        key_fields=("exchange", "dedupe_key"),
        value_fields=("time", "price", "quantity", "value"),
        insert_only_fields=("asset", "side"),
        only_if_greater="quantity",
        records=[
            (exchange.pk, r.dedupe_key, ms_to_dt(r.time_ms), r.price, r.quantity, r.value, asset.pk, r.side)
            for r in largest.values()
        ],
    )


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
    duplicates: int = 0  # lines dropped as exact repeats of an earlier line of the file
    relabelled: int = 0  # open-interest rows whose simulated label changed (only with replace)


STORED_CONTEXT_BARS = 288  # a day of stored candles before a file: its first reference and volatility


def stored_candles_before(*, asset: Asset, exchange: Exchange, before_ms: int) -> Candles:
    """The last day of stored candles before `before_ms`: what new candles are judged against."""
    rows = list(
        Candle.objects.filter(asset=asset, exchange=exchange, open_time__lt=ms_to_dt(before_ms))
        .order_by("-open_time")
        .values_list("open_time", "open", "high", "low", "close")[:STORED_CONTEXT_BARS]
    )[::-1]
    return Candles.of(
        [dt_to_ms(r[0]) for r in rows],
        [r[1] for r in rows],
        [r[2] for r in rows],
        [r[3] for r in rows],
        [r[4] for r in rows],
    )


def _refuse_implausible_candles(parsed: ParsedFile, *, asset: Asset, exchange: Exchange) -> None:
    """A file whose candles jump implausibly, within it or from the stored candles before it, is
    refused naming the line (and the stored candle it contradicts)."""
    rows = cast(list[CandleRow], parsed.rows)
    candles = Candles.from_rows(rows)
    problems = candle_problems(
        candles, before=stored_candles_before(asset=asset, exchange=exchange, before_ms=rows[0].open_time_ms)
    )
    if not problems:
        return
    first = problems[0]
    more = f" ({len(problems) - 1} more implausible candle(s) after it)" if len(problems) > 1 else ""
    line = parsed.lines[first.index]
    ref = first.reference_time_ms
    if first.reason == "jump" and ref is not None and ref < rows[0].open_time_ms:
        raise ImportProblem(
            f"{parsed.path} line {line}: prices do not continue the stored {asset.symbol}@{exchange.code} candles: "
            f"the stored candle at {ms_to_dt(ref):%Y-%m-%d %H:%M} UTC closed at {first.reference_close:g}, "
            f"the file's {'first ' if first.index == 0 else ''}candle: {first.detail}{more}"
        )
    raise ImportProblem(f"{parsed.path} line {line}: implausible candle: {first.detail}{more}")


def _open_interest_by_label(
    parsed: ParsedFile, *, asset: Asset, exchange: Exchange, simulated: bool, replace: bool
) -> tuple[dict[bool, list[OpenInterestRow]], int]:
    """The file's open interest split by the label each row is stored with, and how many rows change label.

    Provenance never changes silently: a row identical to a stored one keeps the stored label, and a
    row that differs from a stored one of the other label is refused unless `replace` is set."""
    rows = cast(list[OpenInterestRow], parsed.rows)
    stored = {
        dt_to_ms(t): (base, value, label)
        for t, base, value, label in OpenInterest.objects.filter(
            asset=asset, exchange=exchange, time__gte=ms_to_dt(rows[0].time_ms), time__lte=ms_to_dt(rows[-1].time_ms)
        ).values_list("time", "oi_base", "oi_value", "simulated")
    }
    by_label: dict[bool, list[OpenInterestRow]] = {True: [], False: []}
    conflicts: list[int] = []
    for i, row in enumerate(rows):
        base, value, label = stored.get(row.time_ms, (None, None, simulated))
        if label == simulated:
            by_label[simulated].append(row)
        elif (base, value) == (row.oi_base, row.oi_value):
            by_label[label].append(row)  # the same figures: they stay labelled as they are
        else:
            conflicts.append(i)
            by_label[simulated].append(row)
    if conflicts and not replace:
        i = conflicts[0]
        base, value, label = stored[rows[i].time_ms]
        was, now = ("simulated", "market data") if label else ("market data", "simulated")
        raise ImportProblem(
            f"{parsed.path} line {parsed.lines[i]}: open interest at {ms_to_dt(rows[i].time_ms):%Y-%m-%d %H:%M} UTC "
            f"({rows[i].oi_value:g}) differs from the stored value ({value:g}) labelled {was}; importing it would "
            f"relabel {len(conflicts)} row(s) as {now}. Pass --simulated-oi to match the stored label, or "
            f"--replace to replace them"
        )
    return by_label, len(conflicts)


def import_market_file(
    path: str,
    *,
    asset_symbol: str | None = None,
    exchange_code: str = "binance",
    simulated_oi: bool = False,
    create_asset: bool = False,
    replace: bool = False,
    on_parsed: Callable[[ParsedFile], None] | None = None,
) -> ImportResult:
    """Parse one file completely, check it, then write it in one transaction: all of it or nothing.

    An unknown asset is an error naming the command that adds it, unless ``create_asset`` is set. A
    file named for another symbol is refused, and so are candles that are implausible
    (heatmaps/marketdata/plausibility.py) or do not continue the asset's stored prices, and open
    interest whose simulated label would change without ``replace``.
    """
    parsed = read_market_file(path)
    if on_parsed:
        on_parsed(parsed)
    symbol = (asset_symbol or parsed.symbol or "").upper()
    if not symbol:
        raise ImportProblem(f"{path}: cannot tell the asset from the file; pass --asset SYMBOL")
    if asset_symbol and parsed.symbol and parsed.symbol.upper() != asset_symbol.upper():
        raise ImportProblem(f"{path}: file holds {parsed.symbol} (by its {_symbol_source(parsed)}), not {asset_symbol}")
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
    relabelled = 0
    with transaction.atomic():
        if asset is None:
            try:
                asset = asset_add(symbol=symbol, exchanges=[exchange.code])
            except ValidationError as exc:
                raise ImportProblem(f"{path}: cannot create asset {symbol!r}: {'; '.join(exc.messages)}") from None
        if parsed.kind in ("klines", "ohlcv"):
            _refuse_implausible_candles(parsed, asset=asset, exchange=exchange)
            written = upsert_candles(asset=asset, exchange=exchange, rows=cast(list[CandleRow], parsed.rows))
        elif parsed.kind == "metrics":
            by_label, relabelled = _open_interest_by_label(
                parsed, asset=asset, exchange=exchange, simulated=simulated_oi, replace=replace
            )
            written = sum(
                upsert_open_interest(asset=asset, exchange=exchange, rows=rows, simulated=label)
                for label, rows in by_label.items()
                if rows
            )
            from heatmaps.marketdata.oi_flags import open_interest_flags_refresh

            assert parsed.first_ms is not None and parsed.last_ms is not None
            open_interest_flags_refresh(asset=asset, exchange=exchange, start_ms=parsed.first_ms, end_ms=parsed.last_ms)
        else:
            written = upsert_funding(asset=asset, exchange=exchange, rows=cast(list[FundingRow], parsed.rows))
    return ImportResult(
        path=parsed.path,
        kind=parsed.kind,
        symbol=symbol,
        exchange=exchange.code,
        rows_read=len(parsed.rows),
        rows_written=written,
        first=ms_to_dt(parsed.first_ms) if parsed.first_ms is not None else None,
        last=ms_to_dt(parsed.last_ms) if parsed.last_ms is not None else None,
        duplicates=parsed.duplicates,
        relabelled=relabelled,
    )


def _symbol_source(parsed: ParsedFile) -> str:
    return "name" if symbol_from_filename(parsed.path.split("!")[0]) == parsed.symbol else "symbol column"


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
