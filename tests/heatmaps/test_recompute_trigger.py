"""New data recomputes an asset's maps at once, coalesced per asset, on a real Celery worker.

Computes are counted by the per-asset run counter the task keeps in Redis, and by the maps' versions.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import psycopg
import pytest
import redis
from django.conf import settings

from heatmaps.engine import TIMEFRAMES
from heatmaps.marketdata import dt_to_ms, load_sample_data, upsert_candles
from heatmaps.models import Asset, AssetSummary, Candle, Heatmap
from heatmaps.rows import BASE_BAR_MS, CandleRow
from heatmaps.tasks import (
    LONG_MAPS_PRIORITY,
    SHORT_TIMEFRAMES,
    recompute_asset,
    recompute_runs_key,
    recompute_trigger,
    schedule_recompute,
)
from tests.conftest import _database_url, wait_for

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def _redis() -> redis.Redis:
    return redis.Redis.from_url(settings.REDIS_URL)


def _runs(asset: Asset) -> int:
    return int(_redis().get(recompute_runs_key(asset.pk)) or 0)


def _idle(asset: Asset) -> bool:
    return not _redis().exists(f"liq:recompute-pending:{asset.pk}")


@contextmanager
def _compute_queue_paused() -> Iterator[None]:
    """The test worker stops taking compute tasks, so what the triggers queued can be looked at."""
    from liqplatform.celery import app

    node = f"test-{os.getpid()}@{socket.gethostname()}"  # the celery_worker_process fixture's worker
    # A worker still starting up would not answer, and would then take the tasks meant to wait.
    wait_for(
        lambda: bool(app.control.cancel_consumer("compute", destination=[node], reply=True, timeout=2)), timeout=60
    )
    try:
        yield
    finally:
        app.control.add_consumer("compute", destination=[node], reply=True)


@contextmanager
def _maps_locked() -> Iterator[None]:
    """Another session holds the maps table, so a compute that reached its first write waits there."""
    with psycopg.connect(_database_url(settings.DATABASES["default"]), autocommit=False) as conn:
        conn.execute(f"LOCK TABLE {Heatmap._meta.db_table} IN SHARE ROW EXCLUSIVE MODE")
        yield
        conn.rollback()


def _a_session_waits_on_a_lock() -> bool:
    """The compute reached its first write and waits on the held maps table (its bars are read)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        return bool(cursor.fetchone()[0])


def _next_bar(asset: Asset) -> int:
    """Store the bar after the asset's newest one (committed); returns its open time in ms."""
    last = Candle.objects.filter(asset=asset, exchange=asset.reference_exchange).latest("open_time")
    at = dt_to_ms(last.open_time + timedelta(milliseconds=BASE_BAR_MS))
    close = float(last.close)
    upsert_candles(
        asset=asset,
        exchange=asset.reference_exchange,
        rows=[CandleRow(at, close, close * 1.001, close * 0.999, close * 1.0005, 10.0)],
    )
    return at


def test_a_burst_of_triggers_queues_and_runs_one_compute(celery_worker_process: Any) -> None:
    load_sample_data()
    eth = Asset.objects.get(symbol="ETHUSDT")
    with _compute_queue_paused():
        # Three exchanges closing the same bar: one compute queued, the others only mark the asset dirty.
        assert [recompute_trigger(eth.pk) for _ in range(3)] == [True, False, False]
        assert _redis().llen("compute") == 1
    wait_for(lambda: _idle(eth), timeout=90)
    assert _runs(eth) == 1
    # The long maps follow in their own low-priority task, which does not count as a trigger's compute.
    wait_for(lambda: Heatmap.objects.filter(asset=eth, model="v1").count() == len(TIMEFRAMES), timeout=90)
    assert _runs(eth) == 1
    assert set(Heatmap.objects.filter(asset=eth, model="v1").values_list("version", flat=True)) == {1}
    # Released: the next bar's trigger starts a compute again.
    assert recompute_trigger(eth.pk) is True
    wait_for(lambda: _idle(eth), timeout=90)
    assert _runs(eth) == 2


def test_a_trigger_during_a_compute_causes_exactly_one_more(celery_worker_process: Any) -> None:
    load_sample_data()
    eth = Asset.objects.get(symbol="ETHUSDT")
    with _maps_locked():
        assert recompute_trigger(eth.pk) is True
        wait_for(lambda: _runs(eth) == 1, timeout=60)  # started
        wait_for(_a_session_waits_on_a_lock, timeout=60)  # its bars are read, its first write waits
        new_bar = _next_bar(eth)  # closes while the compute runs, too late for it
        assert [recompute_trigger(eth.pk) for _ in range(3)] == [False, False, False]
        assert _redis().llen("compute") == 0  # no pile-up behind the running compute
    wait_for(lambda: _idle(eth), timeout=90)
    assert _runs(eth) == 2  # the first compute, then exactly one follow-up
    m = Heatmap.objects.get(asset=eth, timeframe="24h", model="v1")
    assert dt_to_ms(m.data_end) == new_bar
    assert m.version == 2  # stored without the bar, then with it


def test_after_commit_only_and_a_stored_bar_reaches_the_short_maps(celery_worker_process: Any) -> None:
    from django.db import transaction

    load_sample_data()
    btc = Asset.objects.get(symbol="BTCUSDT")
    assert recompute_trigger(btc.pk) is True
    wait_for(
        lambda: _idle(btc) and Heatmap.objects.filter(asset=btc, model="v1").count() == len(TIMEFRAMES), timeout=90
    )
    before = {m.timeframe: m for m in Heatmap.objects.filter(asset=btc, model="v1")}
    with _compute_queue_paused():
        with transaction.atomic():
            new_bar = _next_bar(btc)
            schedule_recompute(btc.pk)
            assert _idle(btc)  # nothing queued before the bar is visible to the worker
        assert not _idle(btc)
    wait_for(lambda: _idle(btc), timeout=90)
    after = {m.timeframe: m for m in Heatmap.objects.filter(asset=btc, model="v1")}
    for key in ("12h", "24h"):  # recomputed seconds after the previous run, not a minute later
        assert dt_to_ms(after[key].data_end) == new_bar
        assert after[key].version == before[key].version + 1
    assert after["1y"].version == before["1y"].version  # the long maps wait for their own refresh interval


def _queued(priority: int) -> int:
    """Messages waiting in the compute queue at one priority (kombu keeps one Redis list per level)."""
    return int(_redis().llen("compute" if priority == 0 else f"compute\x06\x16{priority}"))


def test_long_maps_queue_once_behind_every_short_map(celery_worker_process: Any) -> None:
    load_sample_data()
    btc, eth = Asset.objects.get(symbol="BTCUSDT"), Asset.objects.get(symbol="ETHUSDT")
    summary_before = AssetSummary.objects.get(asset=btc).updated_at
    with _compute_queue_paused():
        # BTC's coalesced compute runs here: its short maps at once, its long maps queued once, at low priority.
        recompute_asset.apply(args=(btc.pk, None, True))
        assert AssetSummary.objects.get(asset=btc).updated_at == summary_before  # left to the follow-up
        assert set(Heatmap.objects.filter(asset=btc, model="v1").values_list("timeframe", flat=True)) == set(
            SHORT_TIMEFRAMES
        )
        assert _queued(LONG_MAPS_PRIORITY) == 1
        recompute_asset.apply(args=(btc.pk, None, True))  # another bar before the worker got to it
        assert _queued(LONG_MAPS_PRIORITY) == 1
        assert recompute_trigger(eth.pk) is True  # queued later, at the default priority
        assert _queued(0) == 1
    wait_for(lambda: Heatmap.objects.filter(asset=btc, model="v1").count() == len(TIMEFRAMES), timeout=120)
    wait_for(lambda: _idle(eth), timeout=120)
    eth_short = Heatmap.objects.get(asset=eth, timeframe="24h", model="v1").computed_at
    btc_long = Heatmap.objects.filter(asset=btc, model="v1").exclude(timeframe__in=SHORT_TIMEFRAMES)
    assert all(m.computed_at > eth_short for m in btc_long)  # ETH's short maps went first
    # The follow-up goes on to model v2's maps (every timeframe, behind v1's), so ETH's own follow-up may
    # still wait behind it: the queue drains, and BTC's v2 maps follow its v1 maps.
    wait_for(lambda: _queued(LONG_MAPS_PRIORITY) == 0, timeout=120)
    wait_for(lambda: Heatmap.objects.filter(asset=btc, model="v2").count() == len(TIMEFRAMES), timeout=120)
    assert AssetSummary.objects.get(asset=btc).updated_at > summary_before  # the overview's row followed
