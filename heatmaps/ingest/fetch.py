"""Market-data ingestion: fetch since the last stored row, backfill a range, repair gaps.

Plain functions; Celery tasks and management commands call them. PostgreSQL is the source of truth:
every call re-derives its work from what is stored, so running one twice (or after a lost message)
adds nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Literal

import redis
from django.conf import settings
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from heatmaps.exchanges import (
    BaseConnector,
    ExchangeError,
    InMemoryRateLimiter,
    PageProgress,
    RateLimiter,
    RedisRateLimiter,
    TransientExchangeError,
    get_connector,
)
from heatmaps.ingest.mark_candles import mark_candles_fetch, mark_candles_since_last
from heatmaps.live import publishers as live
from heatmaps.marketdata import (
    Candles,
    candle_problems,
    dt_to_ms,
    find_gaps,
    ms_to_dt,
    stored_candles_before,
    upsert_candles,
    upsert_funding,
    upsert_open_interest,
)
from heatmaps.marketdata.oi_flags import open_interest_flags_refresh
from heatmaps.models import Asset, Candle, Exchange, FundingRate, HeldBackCandle, OpenInterest, Ticker, VenueSymbol
from heatmaps.rows import BASE_BAR_MS, CandleRow

log = logging.getLogger(__name__)

Kind = Literal["candles", "open_interest", "funding"]
KINDS: tuple[Kind, ...] = ("candles", "open_interest", "funding")
KIND_ALIASES = {"candles": "candles", "oi": "open_interest", "open_interest": "open_interest", "funding": "funding"}
_MODEL_TIME = {
    "candles": (Candle, "open_time"),
    "open_interest": (OpenInterest, "time"),
    "funding": (FundingRate, "funding_time"),
}
_IN_MEMORY_LIMITERS: dict[str, InMemoryRateLimiter] = {}


def rest_url(code: str) -> str:
    urls = {
        "binance": settings.LIQ_BINANCE_FAPI_URL,
        "bybit": settings.LIQ_BYBIT_URL,
        "okx": settings.LIQ_OKX_URL,
        "hyperliquid": settings.LIQ_HYPERLIQUID_URL,
        "bitget": settings.LIQ_BITGET_URL,
        "gate": settings.LIQ_GATE_URL,
        "bitmex": settings.LIQ_BITMEX_URL,
        "deribit": settings.LIQ_DERIBIT_URL,
    }
    if code not in urls:
        raise ValueError(f"no connector for exchange {code!r}")
    return urls[code]


def shared_limiter(code: str) -> RateLimiter:
    """The one rate-limit budget per exchange that every worker process draws from (kept in Redis)."""
    if settings.EMBEDDED:
        return _IN_MEMORY_LIMITERS.setdefault(code, InMemoryRateLimiter(code))
    return RedisRateLimiter(redis.Redis.from_url(settings.REDIS_URL), code)


def connector_for(exchange: Exchange, **http_kwargs: Any) -> BaseConnector:
    http_kwargs.setdefault("timeout", settings.LIQ_HTTP_TIMEOUT)
    return get_connector(
        exchange.code, base_url=rest_url(exchange.code), limiter=shared_limiter(exchange.code), **http_kwargs
    )


def symbol_for(asset: Asset, exchange: Exchange, connector: BaseConnector) -> str:
    """The venue's name for the asset: its VenueSymbol row (edited in the admin), else the venue's convention."""
    mapped = VenueSymbol.objects.filter(asset=asset, exchange=exchange).values_list("symbol", flat=True).first()
    return mapped or connector.instrument(asset.base, asset.quote)


def _fetch_pages(connector: BaseConnector, kind: Kind, symbol: str, start_ms: int, end_ms: int) -> Iterator[Any]:
    if kind == "candles":
        return connector.iter_candles(symbol, start_ms, end_ms)
    if kind == "open_interest":
        return connector.iter_open_interest(symbol, start_ms, end_ms)
    return connector.iter_funding(symbol, start_ms, end_ms)


def _store_candles(asset: Asset, exchange: Exchange, rows: list[CandleRow]) -> int:
    """Upsert the plausible candles. Implausible ones (marketdata/plausibility.py: inconsistent OHLC, or
    a jump from the stored candles before them) go to HeldBackCandle instead, where no map reads them."""
    if not rows:
        return 0
    rows = sorted(rows, key=lambda r: r.open_time_ms)
    candles = Candles.from_rows(rows)
    before = stored_candles_before(asset=asset, exchange=exchange, before_ms=rows[0].open_time_ms)
    problems = {p.index: p for p in candle_problems(candles, before=before)}
    if problems:
        now = timezone.now()
        held = [
            HeldBackCandle(
                asset=asset, exchange=exchange, open_time=ms_to_dt(rows[i].open_time_ms), reason=p.reason,
                detail=p.detail, seen_at=now,
                values={f: getattr(rows[i], f) for f in ("open", "high", "low", "close", "volume")},
            )
            for i, p in problems.items()
        ]  # fmt: skip
        HeldBackCandle.objects.bulk_create(
            held,
            update_conflicts=True,
            unique_fields=["asset", "exchange", "open_time"],
            update_fields=["reason", "detail", "values", "seen_at"],
        )
        first = problems[min(problems)]
        log.warning(
            "held back %d implausible candle(s) of %s@%s, not stored; first: %s (%s)",
            len(problems), asset.symbol, exchange.code, first.detail, first.reason,
        )  # fmt: skip
    # A candle judged plausible now (its neighbours arrived) no longer counts as held back.
    HeldBackCandle.objects.filter(
        asset=asset,
        exchange=exchange,
        open_time__range=(ms_to_dt(rows[0].open_time_ms), ms_to_dt(rows[-1].open_time_ms)),
    ).exclude(open_time__in=[ms_to_dt(rows[i].open_time_ms) for i in problems]).delete()
    good = [r for i, r in enumerate(rows) if i not in problems]
    written = upsert_candles(asset=asset, exchange=exchange, rows=good)
    live.bars_stored(asset=asset, exchange=exchange, rows=good)
    return written


def _store(kind: Kind, asset: Asset, exchange: Exchange, rows: list[Any]) -> int:
    if kind == "candles":
        return _store_candles(asset, exchange, rows)
    if kind == "open_interest":
        # While the sample is replayed (the offline demo), the open interest read is its simulated series.
        written = upsert_open_interest(asset=asset, exchange=exchange, rows=rows, simulated=settings.LIQ_REPLAY)
        if rows:
            # Judged against the stored rows around them; a held-back snapshot stays stored but flagged.
            times = [r.time_ms for r in rows]
            open_interest_flags_refresh(asset=asset, exchange=exchange, start_ms=min(times), end_ms=max(times))
        return written
    return upsert_funding(asset=asset, exchange=exchange, rows=rows)


def last_stored_ms(*, asset: Asset, exchange: Exchange, kind: Kind) -> int | None:
    model, time_field = _MODEL_TIME[kind]
    newest = model._default_manager.filter(asset=asset, exchange=exchange).aggregate(newest=Max(time_field))["newest"]
    return None if newest is None else dt_to_ms(newest)


def mark_exchange_ok(exchange: Exchange) -> None:
    Exchange.objects.filter(pk=exchange.pk).update(degraded_since=None, last_error="", last_success_at=timezone.now())


def note_exchange_error(exchange: Exchange, error: ExchangeError) -> None:
    """Record the error for the admin; mark the exchange degraded only for transient failures (timeouts,
    5xx, rate limits, bans): a bad symbol or payload for one asset says nothing about its health."""
    now = timezone.now()
    if isinstance(error, TransientExchangeError):
        Exchange.objects.filter(pk=exchange.pk, degraded_since__isnull=True).update(degraded_since=now)
    Exchange.objects.filter(pk=exchange.pk).update(last_error=f"{now:%Y-%m-%d %H:%M:%S} UTC: {error}"[:2000])


@contextmanager
def _session(exchange: Exchange, connector: BaseConnector | None) -> Iterator[BaseConnector]:
    """The connector to use (a new one, closed afterwards, unless the caller passed its own); exchange
    errors on the way out are recorded on the exchange before they propagate."""
    conn = connector or connector_for(exchange)
    try:
        yield conn
    except ExchangeError as exc:
        note_exchange_error(exchange, exc)
        raise
    finally:
        if connector is None:
            conn.close()


@dataclass
class FetchResult:
    kind: Kind
    start_ms: int
    end_ms: int
    rows_fetched: int = 0
    rows_written: int = 0
    notes: list[str] = field(default_factory=list)


def _run(
    *,
    asset: Asset,
    exchange: Exchange,
    kind: Kind,
    start_ms: int,
    end_ms: int,
    connector: BaseConnector,
    progress: Callable[[PageProgress], None] | None = None,
    all_or_nothing: bool = False,
) -> FetchResult:
    """Walk the exchange's pages over [start_ms, end_ms) and upsert them.

    By default each page is written in its own transaction, so an interrupted backfill keeps what it
    fetched and a rerun over the same range fills in the rest. With `all_or_nothing` the pages are
    buffered and written once at the end: resuming "after the newest stored row" is only safe that way,
    because OKX (and Bybit funding) page backwards, newest first, and a run that stopped halfway would
    otherwise leave a hole behind its newest row that no later run would look into.
    """
    result = FetchResult(kind=kind, start_ms=start_ms, end_ms=end_ms)
    if end_ms <= start_ms:
        return result
    symbol = symbol_for(asset, exchange, connector)
    buffered: list[Any] = []
    for pages, page in enumerate(_fetch_pages(connector, kind, symbol, start_ms, end_ms), start=1):
        result.rows_fetched += len(page.rows)
        if all_or_nothing:
            buffered.extend(page.rows)
        else:
            with transaction.atomic():
                result.rows_written += _store(kind, asset, exchange, page.rows)
        if progress:
            progress(
                PageProgress(
                    exchange=exchange.code,
                    kind=kind,
                    symbol=symbol,
                    pages=pages,
                    rows=result.rows_fetched,
                    start_ms=start_ms,
                    end_ms=end_ms,
                    covered_ms=page.covered_ms,
                )
            )
    if buffered:
        with transaction.atomic():
            result.rows_written += _store(kind, asset, exchange, buffered)
    return result


def ingest_since_last(
    *, asset: Asset, exchange: Exchange, kind: Kind, now_ms: int | None = None, connector: BaseConnector | None = None
) -> FetchResult:
    """Fetch what is new since the newest stored row (or the look-back window when nothing is stored)."""
    now_ms = now_ms if now_ms is not None else dt_to_ms(timezone.now())
    last = last_stored_ms(asset=asset, exchange=exchange, kind=kind)
    if last is None:
        start = now_ms - settings.LIQ_INGEST_LOOKBACK_DAYS * 86_400_000
        start -= start % BASE_BAR_MS
    else:
        start = last + (BASE_BAR_MS if kind != "funding" else 1)
    with _session(exchange, connector) as conn:
        result = _run(
            asset=asset,
            exchange=exchange,
            kind=kind,
            start_ms=start,
            end_ms=now_ms,
            connector=conn,
            all_or_nothing=True,
        )
        if kind == "candles":
            lookback = now_ms - settings.LIQ_INGEST_LOOKBACK_DAYS * 86_400_000
            result.notes += mark_candles_since_last(
                asset=asset, exchange=exchange, connector=conn, symbol=symbol_for(asset, exchange, conn),
                first_ms=lookback - lookback % BASE_BAR_MS, now_ms=now_ms,
            )  # fmt: skip
    mark_exchange_ok(exchange)
    log.info(
        "ingest %s %s@%s: %d fetched, %d written (%s → %s UTC)",
        kind, asset.symbol, exchange.code, result.rows_fetched, result.rows_written,
        f"{ms_to_dt(start):%Y-%m-%d %H:%M}", f"{ms_to_dt(now_ms):%Y-%m-%d %H:%M}",
    )  # fmt: skip
    return result


def backfill(
    *,
    asset: Asset,
    exchange: Exchange,
    kinds: list[Kind],
    start_ms: int,
    end_ms: int,
    now_ms: int | None = None,
    connector: BaseConnector | None = None,
    progress: Callable[[PageProgress], None] | None = None,
) -> list[FetchResult]:
    """History over [start_ms, end_ms). Where the API cannot reach back that far, fetch what it serves
    and say so (Binance keeps ~30 days of 5m open interest: older history is in the metrics dump)."""
    now_ms = now_ms if now_ms is not None else dt_to_ms(timezone.now())
    results = []
    with _session(exchange, connector) as conn:
        for kind in kinds:
            start = start_ms
            notes = []
            reach = conn.max_history_ms(kind)
            if reach is not None and start < now_ms - reach:
                oldest = now_ms - reach
                oldest += -oldest % BASE_BAR_MS
                notes.append(
                    f"{exchange.code} serves {kind.replace('_', ' ')} only back to {ms_to_dt(oldest):%Y-%m-%d %H:%M} UTC "
                    f"(about {reach // 86_400_000} days); for older history import the public dump files with "
                    f"`python manage.py import_market_data` (Binance: daily `metrics` files for open interest)"
                )
                start = oldest
            result = _run(
                asset=asset,
                exchange=exchange,
                kind=kind,
                start_ms=start,
                end_ms=end_ms,
                connector=conn,
                progress=progress,
            )
            if kind == "candles":
                notes += mark_candles_fetch(
                    asset=asset, exchange=exchange, connector=conn, symbol=symbol_for(asset, exchange, conn),
                    start_ms=start, end_ms=end_ms,
                )  # fmt: skip
            result.notes.extend(notes)
            results.append(result)
    mark_exchange_ok(exchange)
    return results


def repair_gaps(
    *, asset: Asset, exchange: Exchange, days: int, now_ms: int | None = None, connector: BaseConnector | None = None
) -> int:
    """Find holes in the last `days` of 5m candles and open interest (lag() over stored rows) and refetch
    each one. Returns the rows written."""
    now_ms = now_ms if now_ms is not None else dt_to_ms(timezone.now())
    since = ms_to_dt(now_ms) - timedelta(days=days)
    holes = [
        (kind, gap)
        for kind in ("candles", "open_interest")
        for gap in find_gaps(asset_id=asset.pk, exchange_id=exchange.pk, since=since, kind=kind)
    ]
    if not holes:
        return 0
    written = 0
    with _session(exchange, connector) as conn:
        for kind, gap in holes:
            result = _run(
                asset=asset,
                exchange=exchange,
                kind=kind,  # type: ignore[arg-type]
                start_ms=dt_to_ms(gap.after) + BASE_BAR_MS,
                end_ms=dt_to_ms(gap.before),
                connector=conn,
            )
            written += result.rows_written
            log.info(
                "%s gap %s@%s after %s UTC: %d of %d rows refetched",
                kind, asset.symbol, exchange.code, gap.after, result.rows_written, gap.missing_bars,
            )  # fmt: skip
    return written


def ingest_ticker(*, asset: Asset, exchange: Exchange, connector: BaseConnector | None = None) -> Ticker | None:
    """Mark price and the next funding estimate, where the exchange publishes them (Binance premiumIndex).

    Returns None for an exchange without such an endpoint. Storing is an upsert: running it twice is harmless.
    """
    with _session(exchange, connector) as conn:
        fetch = getattr(conn, "fetch_mark_price", None)
        if fetch is None:
            return None
        mark = fetch(symbol_for(asset, exchange, conn))
    ticker, _ = Ticker.objects.update_or_create(
        asset=asset,
        exchange=exchange,
        defaults={
            "time": ms_to_dt(mark.time_ms),
            "mark_price": mark.mark_price,
            "index_price": mark.index_price,
            "funding_rate": mark.last_funding_rate,
            "next_funding_time": ms_to_dt(mark.next_funding_time_ms) if mark.next_funding_time_ms else None,
        },
    )
    live.ticker_stored(asset=asset, exchange=exchange, ticker=ticker)
    return ticker
