"""Is the platform ready to serve fresh maps? Readiness checks, heartbeats and the market gauges.

`/readyz` answers 503 with the failing checks as JSON when any is not ok: the database, Redis, the
newest bar of each enabled asset, and heartbeats from beat and from a worker. Beat's heartbeat is
recorded when it publishes the `heatmaps.heartbeat` task, the worker's when one runs it, so a beat
whose messages never reach a worker shows up as "worker down", not as healthy.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

import redis
from django.conf import settings
from django.db import connection
from django.db.models import Max, OuterRef, Subquery
from django.utils import timezone
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from heatmaps.models import Asset, Candle, Exchange, Heatmap

BEAT_KEY = "liq:health:beat"
WORKER_KEY = "liq:health:worker"


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str


def _redis() -> redis.Redis:
    return redis.Redis.from_url(settings.REDIS_URL, socket_timeout=2, socket_connect_timeout=2)


def record_heartbeat(key: str) -> None:
    """Best effort: a heartbeat that cannot be written is what readiness will report."""
    with contextlib.suppress(redis.RedisError):
        _redis().set(key, f"{time.time():.3f}", ex=24 * 3600)


def _check_database() -> Check:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception as exc:  # any driver error means not ready
        return Check("database", False, f"{connection.vendor}: {exc.__class__.__name__}: {exc}")
    return Check("database", True, connection.vendor)


def _check_redis() -> tuple[Check, dict[str, float | None]]:
    try:
        client = _redis()
        client.ping()
        beats = {key: _as_float(client.get(key)) for key in (BEAT_KEY, WORKER_KEY)}
    except redis.RedisError as exc:
        return Check("redis", False, f"{exc.__class__.__name__}: {exc}"), {}
    return Check("redis", True, "ping ok"), beats


def _as_float(raw: Any) -> float | None:
    try:
        return float(raw) if raw is not None else None
    except (TypeError, ValueError):
        return None


def _check_heartbeat(name: str, seen: float | None, *, now: float) -> Check:
    limit = settings.LIQ_HEARTBEAT_MAX_AGE_SECONDS
    if seen is None:
        return Check(name, False, "no heartbeat recorded yet")
    age = now - seen
    return Check(name, age <= limit, f"last heartbeat {age:.0f} s ago (limit {limit} s)")


def newest_bar_ages(*, now: datetime | None = None) -> dict[str, float | None]:
    """Seconds since the newest candle's close per enabled asset (None: no candles yet); one query."""
    now = now or timezone.now()
    newest = Candle.objects.filter(asset=OuterRef("pk")).order_by("-open_time").values("open_time")[:1]
    ages: dict[str, float | None] = {}
    for symbol, open_time in (
        Asset.objects.filter(enabled=True).annotate(newest=Subquery(newest)).values_list("symbol", "newest")
    ):
        ages[symbol] = None if open_time is None else (now - open_time - timedelta(minutes=5)).total_seconds()
    return ages


def _check_freshness(*, now: datetime) -> Check:
    limit = settings.LIQ_READY_MAX_BAR_AGE_MINUTES * 60
    ages = newest_bar_ages(now=now)
    stale = {s: a for s, a in ages.items() if a is None or a > limit}
    if not ages:
        return Check("market_data", True, "no enabled assets")
    if stale:
        parts = [f"{s}: {'no bars' if a is None else f'{a / 60:.0f} min old'}" for s, a in sorted(stale.items())]
        return Check("market_data", False, f"stale (limit {limit // 60} min): " + ", ".join(parts))
    return Check("market_data", True, f"{len(ages)} enabled assets, newest bars within {limit // 60} min")


def readiness() -> tuple[bool, list[Check]]:
    now_dt = timezone.now()
    checks = [_check_database()]
    if settings.EMBEDDED:
        checks.append(Check("redis", True, "embedded mode: not used"))
        checks.append(Check("tasks", True, "embedded mode: tasks run in-process"))
    else:
        redis_check, beats = _check_redis()
        checks.append(redis_check)
        if redis_check.ok:
            now = time.time()
            checks.append(_check_heartbeat("beat", beats.get(BEAT_KEY), now=now))
            checks.append(_check_heartbeat("worker", beats.get(WORKER_KEY), now=now))
    if checks[0].ok:
        checks.append(_check_freshness(now=now_dt))
    return all(c.ok for c in checks), checks


def readiness_payload() -> tuple[bool, dict[str, Any]]:
    ready, checks = readiness()
    return ready, {"status": "ready" if ready else "not ready", "checks": [asdict(c) for c in checks]}


class MarketCollector(Collector):
    """Gauges read from the database at scrape time: ingest lag per asset × exchange, map age per
    asset × timeframe. Two small grouped queries per scrape."""

    def collect(self) -> Iterator[Metric]:
        now = timezone.now()
        lag = GaugeMetricFamily(
            "liq_ingest_lag_seconds",
            "Seconds since the newest stored 5m candle closed, per asset and exchange.",
            labels=["asset", "exchange"],
        )
        rows = (
            Candle.objects.filter(asset__enabled=True)
            .values("asset__symbol", "exchange__code")
            .annotate(newest=Max("open_time"))
        )
        for row in rows:
            seconds = (now - row["newest"] - timedelta(minutes=5)).total_seconds()
            lag.add_metric([row["asset__symbol"], row["exchange__code"]], seconds)
        yield lag
        age = GaugeMetricFamily(
            "liq_map_age_seconds",
            "Seconds since the stored heat map was computed, per asset and timeframe.",
            labels=["asset", "timeframe"],
        )
        # Model v1's maps (the default): v2's trail them by one low-priority follow-up, under the same labels.
        for symbol, timeframe, computed_at in Heatmap.objects.filter(asset__enabled=True, model="v1").values_list(
            "asset__symbol", "timeframe", "computed_at"
        ):
            age.add_metric([symbol, timeframe], (now - computed_at).total_seconds())
        yield age
        degraded = GaugeMetricFamily(
            "liq_exchange_degraded", "1 when the exchange's feed is degraded.", labels=["exchange"]
        )
        for code, since in Exchange.objects.values_list("code", "degraded_since"):
            degraded.add_metric([code], 0.0 if since is None else 1.0)
        yield degraded
