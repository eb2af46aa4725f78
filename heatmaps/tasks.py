"""Celery tasks: thin, take IDs, idempotent, enqueued after commit. The work is in plain functions."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from functools import partial
from typing import Any

import redis
from celery import shared_task
from django.conf import settings
from django.db import InterfaceError, OperationalError, transaction
from django.utils import timezone
from prometheus_client import Counter

import liqplatform.celery  # noqa: F401  (the configured app: current before any task here is sent)
from heatmaps import ingest, validity
from heatmaps.engine import TIMEFRAMES
from heatmaps.events import announce_market_data
from heatmaps.exchanges import ExchangeError, PermanentExchangeError, TransientExchangeError, publishes_mark_price
from heatmaps.health import WORKER_KEY, record_heartbeat
from heatmaps.ingest.instruments import EXCHANGES_WITH_CONTRACTS, instrument_specs_refresh
from heatmaps.maps import MODEL_V2, heatmap_compute, stale_timeframes, trailing_v2_timeframes
from heatmaps.marketdata import asset_summary_refresh, drop_expired_partitions, dt_to_ms, ensure_partitions
from heatmaps.marketdata.partitions import add_months, month_start
from heatmaps.models import Asset, Exchange, Heatmap
from heatmaps.published import prune_published

log = logging.getLogger(__name__)

SHORT_TIMEFRAMES = ["12h", "24h"]
# Broker priorities (0 first): the long maps of one asset re-read up to two years of bars, so after a bar
# closes on many assets at once they wait behind every asset's short maps instead of delaying them.
LONG_MAPS_PRIORITY = 9
# A trigger no longer waits for more to arrive: bursts are coalesced instead (see recompute_trigger).
RECOMPUTE_DEBOUNCE_SECONDS = 0
PARTITION_MONTHS_AHEAD = 3
IDEMPOTENT: dict[str, Any] = {"acks_late": True, "reject_on_worker_lost": True}


def _redis() -> redis.Redis:
    return redis.Redis.from_url(settings.REDIS_URL)


def enqueue_recompute(*, asset_ids: list[int], timeframes: list[str] | None = None) -> None:
    for asset_id in asset_ids:
        transaction.on_commit(partial(recompute_asset.delay, asset_id, timeframes))


def _pending_key(asset_id: int) -> str:
    return f"liq:recompute-pending:{asset_id}"


def _dirty_key(asset_id: int) -> str:
    return f"liq:recompute-dirty:{asset_id}"


# Each is one Redis round trip and atomic, so a trigger can never slip between the running compute's
# last look at "dirty" and its release of "pending" (which would leave new data uncomputed).
_TRIGGER = """
if redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[1]) then return 1 end
redis.call('SET', KEYS[2], '1', 'EX', ARGV[1])
return 0
"""
_FINISH = """
if redis.call('DEL', KEYS[2]) == 1 then
  redis.call('EXPIRE', KEYS[1], ARGV[1])
  return 1
end
redis.call('DEL', KEYS[1])
return 0
"""


def recompute_trigger(asset_id: int) -> bool:
    """New data of an asset is committed: recompute its due maps now, coalesced per asset.

    No compute queued or running: one is enqueued at once (returns True). Otherwise the asset is
    marked dirty (returns False): a queued compute will read the new rows anyway, and a running one
    runs exactly once more when it finishes. However many triggers arrive, at most one compute per
    asset waits in the queue. Call it only after the data is committed (schedule_recompute does).
    """
    if settings.CELERY_TASK_ALWAYS_EAGER:  # embedded mode: no Redis, every map at once
        recompute_asset.delay(asset_id)
        return True
    ttl = settings.LIQ_RECOMPUTE_PENDING_SECONDS
    if not _redis().eval(_TRIGGER, 2, _pending_key(asset_id), _dirty_key(asset_id), ttl):
        return False
    recompute_asset.delay(asset_id, None, True)
    return True


def schedule_recompute(asset_id: int) -> None:
    """recompute_trigger once the current transaction commits (at once outside one): a compute that
    started earlier would otherwise finish without the rows and nothing would follow it."""
    transaction.on_commit(partial(recompute_trigger, asset_id))


def recompute_runs_key(asset_id: int) -> str:
    """How many coalesced computes of the asset started (kept a day): what coalescing saved is visible."""
    return f"liq:recompute-runs:{asset_id}"


def _recompute_begin(asset_id: int) -> None:
    """The compute about to read the asset covers every trigger so far; the pending mark lives on."""
    with _redis().pipeline() as pipe:
        pipe.delete(_dirty_key(asset_id))
        pipe.expire(_pending_key(asset_id), settings.LIQ_RECOMPUTE_PENDING_SECONDS)
        pipe.incr(recompute_runs_key(asset_id))
        pipe.expire(recompute_runs_key(asset_id), 86_400)
        pipe.execute()


def _recompute_finish(asset_id: int) -> None:
    """Release the asset, or, when a trigger arrived during the compute, enqueue exactly one more."""
    ttl = settings.LIQ_RECOMPUTE_PENDING_SECONDS
    if _redis().eval(_FINISH, 2, _pending_key(asset_id), _dirty_key(asset_id), ttl):
        recompute_asset.delay(asset_id, None, True)


def enqueue_backfill(*, asset_ids: list[int], days: int) -> None:
    for asset_id in asset_ids:
        transaction.on_commit(partial(backfill_asset.delay, asset_id, days))


@shared_task(name="heatmaps.heartbeat", ignore_result=True, expires=120)
def heartbeat() -> None:
    """Sent by beat every 30 s; a worker running it proves the queue is being consumed (/readyz)."""
    record_heartbeat(WORKER_KEY)


# A lost database or Redis connection passes; anything else (bad parameters, a bug) would fail again.
TRANSIENT_COMPUTE_ERRORS = (OperationalError, InterfaceError, redis.ConnectionError, redis.TimeoutError)


@shared_task(bind=True, name="heatmaps.recompute_asset", max_retries=3, **IDEMPOTENT)
def recompute_asset(self: Any, asset_id: int, timeframes: list[str] | None = None, debounced: bool = False) -> int:
    """Recompute (all or some) timeframes of one asset. A failure leaves the previous maps in place.

    `debounced` marks the coalesced compute after new data (recompute_trigger): it refreshes only the
    maps that are due, the short ones first, and releases the asset (or runs once more) at the end.
    """
    coalesced = debounced and not settings.CELERY_TASK_ALWAYS_EAGER
    if coalesced:
        _recompute_begin(asset_id)
    retrying = False
    try:
        count = _recompute(asset_id, timeframes, due_only=debounced and timeframes is None)
        if not debounced and timeframes is None and count:
            # Every map recomputed (history changed): model v2 follows in the low-priority follow-up, as
            # after a coalesced compute. The minute's short maps leave v2 to the next coalesced compute.
            _enqueue_long_maps(asset_id)
        return count
    except TRANSIENT_COMPUTE_ERRORS as exc:
        retrying = self.request.retries < self.max_retries
        raise self.retry(exc=exc, countdown=2 * 2**self.request.retries) from None
    finally:
        if coalesced and not retrying:
            _recompute_finish(asset_id)


def _recompute(asset_id: int, timeframes: list[str] | None, *, due_only: bool) -> int:
    asset = Asset.objects.select_related("reference_exchange").filter(pk=asset_id).first()
    if asset is None:
        log.warning("recompute: asset %s no longer exists", asset_id)
        return 0
    if due_only:
        due = stale_timeframes(asset=asset)  # after ingest: only what is worth refreshing
        timeframes = [k for k in due if k in SHORT_TIMEFRAMES]
        if not timeframes:
            asset_summary_refresh(asset=asset)  # no map due, but the overview's price and OI moved
            if due:
                _enqueue_long_maps(asset.pk)
            return 0
    keys = timeframes or list(TIMEFRAMES)
    summary = not due_only  # a coalesced compute leaves the overview's row to its low-priority follow-up
    # The short maps move with every bar and need two days of bars; the long ones re-read up to two
    # years. Stored first, the short maps are served while the long ones are still being computed.
    batches = [
        b for b in ([k for k in keys if k in SHORT_TIMEFRAMES], [k for k in keys if k not in SHORT_TIMEFRAMES]) if b
    ]
    maps: list[Heatmap] = []
    try:
        for batch in batches:
            stored = heatmap_compute(asset=asset, timeframes=batch, summary=summary)
            if stored:
                announce_market_data(asset.pk)
            maps += stored
    except Exception:
        log.exception("recompute of %s failed; the previous maps stay in place", asset.symbol)
        raise
    if due_only:  # the long maps and the overview's row follow at low priority: the short maps came first
        _enqueue_long_maps(asset.pk)
    log.info("recomputed %s: %s", asset.symbol, ", ".join(m.timeframe for m in maps) or "no data")
    return len(maps)


def _long_pending_key(asset_id: int) -> str:
    return f"liq:recompute-long-pending:{asset_id}"


def _enqueue_long_maps(asset_id: int) -> None:
    """At most one long-map compute per asset waits in the queue, behind the short maps (it reads what is
    due when it starts, so triggers while it waits need nothing more)."""
    if settings.CELERY_TASK_ALWAYS_EAGER:
        recompute_long_maps.delay(asset_id)
        return
    if _redis().set(_long_pending_key(asset_id), "1", nx=True, ex=settings.LIQ_RECOMPUTE_PENDING_SECONDS):
        recompute_long_maps.apply_async((asset_id,), priority=LONG_MAPS_PRIORITY)


@shared_task(bind=True, name="heatmaps.recompute_long_maps", max_retries=3, **IDEMPOTENT)
def recompute_long_maps(self: Any, asset_id: int) -> int:
    """After a compute, at low priority: the due maps longer than 24h of one asset and the overview's row
    (refreshed by the long maps' compute, or on its own when none is due), then model v2's maps of every
    timeframe whose v1 map is newer than its v2 map: v2 trails v1 by this follow-up, off the short maps' path."""
    if not settings.CELERY_TASK_ALWAYS_EAGER:
        _redis().delete(_long_pending_key(asset_id))  # from here on, new data queues a fresh run
    asset = Asset.objects.select_related("reference_exchange").filter(pk=asset_id).first()
    if asset is None:
        return 0
    due = [k for k in stale_timeframes(asset=asset) if k not in SHORT_TIMEFRAMES]
    try:
        if due:
            count = _recompute(asset_id, due, due_only=False)
        else:
            asset_summary_refresh(asset=asset)  # the short maps' new clusters and the bar's price, for the overview
            count = 0
        if trailing := trailing_v2_timeframes(asset=asset):
            count += len(heatmap_compute(asset=asset, timeframes=trailing, summary=False, model=MODEL_V2))
        return count
    except TRANSIENT_COMPUTE_ERRORS as exc:
        raise self.retry(exc=exc, countdown=2 * 2**self.request.retries) from None


@shared_task(name="heatmaps.refresh_short_maps")
def refresh_short_maps() -> None:
    """Every minute: the 12h/24h maps need only two days of bars, so they stay current cheaply."""
    for asset_id in Asset.objects.filter(enabled=True).values_list("pk", flat=True):
        recompute_asset.delay(asset_id, SHORT_TIMEFRAMES)


@shared_task(name="heatmaps.maintain_partitions", **IDEMPOTENT)
def maintain_partitions() -> dict[str, list[str]]:
    """Daily: partitions for the coming months (and any month whose rows wait in DEFAULT), then
    retention. Each step re-reads the catalogue, so a repeated or lost run costs nothing."""
    created = ensure_partitions(months_ahead=PARTITION_MONTHS_AHEAD)
    dropped = drop_expired_partitions(retention_months=settings.LIQ_RETENTION_MONTHS)
    # The maps as published go with the raw data they were drawn from.
    if settings.LIQ_RETENTION_MONTHS > 0:
        oldest_kept = add_months(month_start(timezone.now()), -settings.LIQ_RETENTION_MONTHS)
        prune_published(before=datetime(oldest_kept.year, oldest_kept.month, 1, tzinfo=UTC))
    return {"created": [c.name for c in created], "dropped": dropped}


MAX_BACKOFF_SECONDS = 15 * 60  # below the broker's visibility_timeout, so a retry is never redelivered twice


def _backoff(retries: int, retry_after: float | None) -> float:
    if retry_after is not None:
        return min(MAX_BACKOFF_SECONDS, retry_after)
    return min(MAX_BACKOFF_SECONDS, 10 * 2**retries)


def _feeds(asset: Asset) -> list[Exchange]:
    """The enabled exchanges feeding an asset, its reference exchange always among them."""
    exchanges = {e.pk: e for e in asset.exchanges.all()}
    exchanges.setdefault(asset.reference_exchange_id, asset.reference_exchange)
    return [e for e in exchanges.values() if e.enabled]


@shared_task(name="heatmaps.ingest_tick")
def ingest_tick(kind: str) -> int:
    """Beat fans out one task per enabled asset × enabled exchange; each derives its own start."""
    if kind not in ingest.KINDS:
        raise ValueError(f"unknown kind {kind!r}")
    count = 0
    for asset in Asset.objects.filter(enabled=True).select_related("reference_exchange").prefetch_related("exchanges"):
        for exchange in _feeds(asset):
            ingest_asset_exchange.delay(asset.pk, exchange.pk, kind)
            count += 1
    return count


@shared_task(bind=True, name="heatmaps.ingest_asset_exchange", max_retries=6, **IDEMPOTENT)
def ingest_asset_exchange(self: Any, asset_id: int, exchange_id: int, kind: str) -> int:
    asset = Asset.objects.filter(pk=asset_id).first()
    exchange = Exchange.objects.filter(pk=exchange_id).first()
    if asset is None or exchange is None:
        log.warning("ingest: asset %s or exchange %s no longer exists", asset_id, exchange_id)
        return 0
    try:
        result = ingest.ingest_since_last(asset=asset, exchange=exchange, kind=kind)  # type: ignore[arg-type]
    except TransientExchangeError as exc:
        countdown = _backoff(self.request.retries, exc.retry_after)
        log.warning("ingest %s %s@%s: %s; retry in %.0f s", kind, asset.symbol, exchange.code, exc, countdown)
        raise self.retry(exc=exc, countdown=countdown) from None
    except PermanentExchangeError as exc:
        log.error("ingest %s %s@%s failed and will not be retried: %s", kind, asset.symbol, exchange.code, exc)
        return 0
    if result.rows_written:
        schedule_recompute(asset.pk)
        announce_market_data(asset.pk)
    return result.rows_written


@shared_task(name="heatmaps.ingest_ticker_tick")
def ingest_ticker_tick() -> int:
    """Mark price and funding estimate for every enabled asset, from its reference exchange when that one
    publishes them, else from the first of its exchanges that does."""
    count = 0
    for asset in Asset.objects.filter(enabled=True).select_related("reference_exchange"):
        feeds = sorted(_feeds(asset), key=lambda e: e.pk != asset.reference_exchange_id)
        source = next((e for e in feeds if publishes_mark_price(e.code)), None)
        if source is not None:
            ingest_ticker.delay(asset.pk, source.pk)
            count += 1
    return count


@shared_task(bind=True, name="heatmaps.ingest_ticker", max_retries=2, **IDEMPOTENT)
def ingest_ticker(self: Any, asset_id: int, exchange_id: int) -> bool:
    asset = Asset.objects.filter(pk=asset_id).first()
    exchange = Exchange.objects.filter(pk=exchange_id).first()
    if asset is None or exchange is None:
        return False
    try:
        stored = ingest.ingest_ticker(asset=asset, exchange=exchange) is not None
    except TransientExchangeError as exc:
        raise self.retry(exc=exc, countdown=_backoff(self.request.retries, exc.retry_after)) from None
    except PermanentExchangeError as exc:
        log.error("ticker %s@%s failed and will not be retried: %s", asset.symbol, exchange.code, exc)
        return False
    if stored:  # the overview shows the announced next funding time
        asset_summary_refresh(asset=asset)
    return stored


# Public data only, but a budget all the same: /metrics shows how much of it the sweep spends.
SWEEP_WEIGHT = Counter("liq_hyperliquid_sweep_weight_total", "Hyperliquid info-API weight spent by the sweep.")
SWEEP_ACCOUNTS = Counter("liq_hyperliquid_sweep_accounts_total", "Hyperliquid accounts read by the sweep.")


@shared_task(name="heatmaps.hyperliquid_sweep", ignore_result=True, expires=50)
def hyperliquid_sweep() -> int:
    """Every minute: the tracked Hyperliquid accounts that are due (hot tier every minute, the rest every
    15), within LIQ_HYPERLIQUID_SWEEP_WEIGHT; nothing when no enabled asset is on Hyperliquid."""
    from heatmaps.ingest.hyperliquid_sweep import sweep

    if not Asset.objects.filter(enabled=True, exchanges__code="hyperliquid", exchanges__enabled=True).exists():
        return 0
    try:
        result = sweep()
    except ExchangeError as exc:  # the next minute tries again; the positions stored stay
        log.warning("hyperliquid sweep skipped: %s", exc)
        return 0
    SWEEP_WEIGHT.inc(result.weight)
    SWEEP_ACCOUNTS.inc(result.accounts)
    return result.accounts


@shared_task(bind=True, name="heatmaps.refresh_instruments", max_retries=3, **IDEMPOTENT)
def refresh_instruments(self: Any) -> int:
    """Daily: contract sizes of every swap of the exchanges that count in contracts (OKX ctVal), so the
    liquidation recorder converts new listings too. An upsert per instrument: a rerun changes nothing."""
    stored = 0
    for exchange in Exchange.objects.filter(enabled=True, code__in=EXCHANGES_WITH_CONTRACTS):
        try:
            stored += instrument_specs_refresh(exchange=exchange)
        except TransientExchangeError as exc:
            raise self.retry(exc=exc, countdown=_backoff(self.request.retries, exc.retry_after)) from None
        except PermanentExchangeError as exc:
            log.error("instrument refresh %s failed and will not be retried: %s", exchange.code, exc)
    return stored


@shared_task(name="heatmaps.repair_gaps_tick")
def repair_gaps_tick() -> None:
    for asset in Asset.objects.filter(enabled=True).select_related("reference_exchange").prefetch_related("exchanges"):
        for exchange in _feeds(asset):
            repair_asset_gaps.delay(asset.pk, exchange.pk)


@shared_task(bind=True, name="heatmaps.repair_asset_gaps", max_retries=3, **IDEMPOTENT)
def repair_asset_gaps(self: Any, asset_id: int, exchange_id: int) -> int:
    asset = Asset.objects.get(pk=asset_id)
    exchange = Exchange.objects.get(pk=exchange_id)
    try:
        written = ingest.repair_gaps(asset=asset, exchange=exchange, days=settings.LIQ_GAP_REPAIR_DAYS)
    except TransientExchangeError as exc:
        raise self.retry(exc=exc, countdown=_backoff(self.request.retries, exc.retry_after)) from None
    if written:
        enqueue_recompute(asset_ids=[asset.pk])  # older bars changed: every timeframe, not only the due ones
    return written


@shared_task(bind=True, name="heatmaps.backfill_asset", max_retries=3, **IDEMPOTENT)
def backfill_asset(self: Any, asset_id: int, days: int) -> int:
    """Admin action: the last `days` of every kind from every exchange of the asset."""
    asset = Asset.objects.get(pk=asset_id)
    end_ms = dt_to_ms(timezone.now())
    start_ms = end_ms - days * 86_400_000
    written = 0
    for exchange in asset.exchanges.filter(enabled=True):
        try:
            results = ingest.backfill(
                asset=asset, exchange=exchange, kinds=list(ingest.KINDS), start_ms=start_ms, end_ms=end_ms
            )
        except TransientExchangeError as exc:
            raise self.retry(exc=exc, countdown=_backoff(self.request.retries, exc.retry_after)) from None
        except PermanentExchangeError as exc:
            log.error("backfill %s@%s failed: %s", asset.symbol, exchange.code, exc)
            continue
        for result in results:
            written += result.rows_written
            for note in result.notes:
                log.warning("backfill %s@%s: %s", asset.symbol, exchange.code, note)
    _backfill_risk_limits(asset)
    if written:
        enqueue_recompute(asset_ids=[asset.pk])  # history changed: every timeframe, not only the due ones
    return written


@shared_task(name="heatmaps.backtest_asset", **IDEMPOTENT)
def backtest_asset(asset_id: int, timeframe: str) -> int:
    """Walk-forward backtest of one asset × timeframe; the stored report is replaced whole, so a rerun
    or a redelivered message only repeats the same work. Returns the number of steps stored."""
    asset = Asset.objects.select_related("reference_exchange").filter(pk=asset_id).first()
    if asset is None:
        log.warning("backtest: asset %s no longer exists", asset_id)
        return 0
    stored = validity.backtest_store(asset=asset, timeframe=timeframe)
    return stored.steps if stored else 0


@shared_task(name="heatmaps.backtest_tick")
def backtest_tick() -> int:
    """Daily: one backtest per enabled asset × timeframe (those without enough history store nothing)."""
    count = 0
    for asset_id in Asset.objects.filter(enabled=True).values_list("pk", flat=True):
        for timeframe in TIMEFRAMES:
            backtest_asset.delay(asset_id, timeframe)
            count += 1
    return count


def enqueue_risk_limits(*, asset_ids: list[int]) -> None:
    """Refresh the assets' risk limits once the current transaction commits (a new asset: at once)."""
    for asset_id in asset_ids:
        transaction.on_commit(partial(refresh_risk_limits.delay, asset_id))


@shared_task(name="heatmaps.risk_limits_tick")
def risk_limits_tick() -> int:
    """Daily: one risk-limit refresh per enabled asset."""
    asset_ids = list(Asset.objects.filter(enabled=True).values_list("pk", flat=True))
    for asset_id in asset_ids:
        refresh_risk_limits.delay(asset_id)
    return len(asset_ids)


@shared_task(bind=True, name="heatmaps.refresh_risk_limits", max_retries=3, **IDEMPOTENT)
def refresh_risk_limits(self: Any, asset_id: int) -> int:
    """The asset's brackets from each venue that publishes them (model v2's margin and leverage). A venue's
    error keeps its previous row; a transient one retries the whole refresh, which rewrites the same rows."""
    from heatmaps.marketdata.risk_limits import risk_limits_refresh

    asset = Asset.objects.filter(pk=asset_id).first()
    if asset is None:
        return 0
    report = risk_limits_refresh(asset=asset, connect=ingest.connector_for)
    transient = [e for e in report.failed.values() if isinstance(e, TransientExchangeError)]
    if transient and self.request.retries < self.max_retries:
        raise self.retry(exc=transient[0], countdown=_backoff(self.request.retries, transient[0].retry_after))
    return len(report.stored)


def _backfill_risk_limits(asset: Asset) -> None:
    """A backfill also fetches the asset's brackets once, so model v2 has them before the daily refresh;
    a venue's error is logged by the refresh and left to that daily run."""
    from heatmaps.marketdata.risk_limits import risk_limits_refresh

    risk_limits_refresh(asset=asset, connect=ingest.connector_for)
