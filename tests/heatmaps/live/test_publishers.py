"""Where data lands, a live event follows once the transaction commits: maps (with the API's ETag),
stored candles of the reference exchange, recorded liquidations."""

from __future__ import annotations

import json
from typing import Any

import pytest
import redis
from django.conf import settings
from django.db import transaction
from django.test import Client

from heatmaps.ingest import fetch
from heatmaps.live.events import asset_stream_key
from heatmaps.live.publishers import liquidations_stored
from heatmaps.maps import heatmap_compute
from heatmaps.marketdata import dt_to_ms, load_sample_data
from heatmaps.models import Asset, Exchange, Heatmap
from heatmaps.rows import CandleRow, LiquidationRow


@pytest.fixture(autouse=True)
def clean_streams() -> None:
    r = redis.Redis.from_url(settings.REDIS_URL)
    keys = list(r.scan_iter("liq:live:*"))
    if keys:
        r.delete(*keys)


def published(symbol: str) -> list[tuple[str, dict[str, Any]]]:
    entries: Any = redis.Redis.from_url(settings.REDIS_URL).xrange(asset_stream_key(symbol))
    return [(f[b"kind"].decode(), json.loads(f[b"data"])) for _, f in entries]


@pytest.mark.django_db(transaction=True)
def test_a_new_map_version_is_published_with_the_api_etag() -> None:
    load_sample_data()
    asset = Asset.objects.select_related("reference_exchange").get(symbol="BTCUSDT")
    heatmap_compute(asset=asset, timeframes=["12h"])
    events = [data for kind, data in published("BTCUSDT") if kind == "map"]
    assert len(events) == 1
    stored = Heatmap.objects.get(asset=asset, timeframe="12h")
    assert events[0]["timeframe"] == "12h" and events[0]["version"] == stored.version
    assert events[0]["through"] == dt_to_ms(stored.data_end)
    api = Client().get("/api/v1/assets/BTCUSDT/heatmap/", {"timeframe": "12h", "side": "both", "cells": "packed"})
    assert api.status_code == 200 and api["ETag"] == events[0]["etag"]
    # The same data again: the stored map stands, and nothing new is announced.
    heatmap_compute(asset=asset, timeframes=["12h"])
    assert len([k for k, _ in published("BTCUSDT") if k == "map"]) == 1


@pytest.mark.django_db(transaction=True)
def test_events_wait_for_the_commit_and_vanish_with_a_rollback(btc: Asset, binance: Exchange) -> None:
    row = LiquidationRow("BTCUSDT", 1_790_000_000_000, "long", 60_000.0, 0.5, 30_000.0, "k1")
    with transaction.atomic():
        liquidations_stored(asset=btc, exchange=binance, rows=[row])
        assert published("BTCUSDT") == []
    assert published("BTCUSDT") == [
        (
            "liquidation",
            {"time": row.time_ms, "side": "long", "price": 60_000.0, "usd": 30_000.0, "exchange": "binance"},
        )
    ]
    with pytest.raises(RuntimeError), transaction.atomic():
        liquidations_stored(asset=btc, exchange=binance, rows=[row])
        raise RuntimeError("rolled back")
    assert len(published("BTCUSDT")) == 1


@pytest.mark.django_db(transaction=True)
def test_stored_candles_of_the_reference_exchange_publish_their_newest_bar(btc: Asset, binance: Exchange) -> None:
    bybit = Exchange.get_supported("bybit")
    t0 = 1_790_000_000_000
    rows = [CandleRow(t0 + i * 60_000, 100.0 + i, 101.0 + i, 99.0 + i, 100.5 + i, 10.0) for i in range(3)]
    fetch._store_candles(btc, binance, rows)
    fetch._store_candles(btc, bybit, rows)  # not the reference exchange: no bar
    assert published("BTCUSDT") == [
        (
            "bar",
            {
                "time": t0 + 120_000, "open": 102.0, "high": 103.0, "low": 101.0, "close": 102.5, "volume": 10.0,
                "exchange": "binance", "closed": True,
            },
        )
    ]  # fmt: skip


def test_a_batch_of_alerts_reaches_each_owner_only_in_one_round_trip() -> None:
    from heatmaps.live.events import publish_user_events, user_stream_key

    r = redis.Redis.from_url(settings.REDIS_URL)
    publish_user_events(
        [(1, "btcusdt", "alert", {"id": 10}), (2, "ETHUSDT", "alert", {"id": 11}), (1, "ETHUSDT", "alert", {"id": 12})]
    )

    def ids(user_id: int) -> list[tuple[str, int]]:
        entries: Any = r.xrange(user_stream_key(user_id))
        return [(f[b"symbol"].decode(), json.loads(f[b"data"])["id"]) for _, f in entries]

    assert ids(1) == [("BTCUSDT", 10), ("ETHUSDT", 12)]
    assert ids(2) == [("ETHUSDT", 11)]
    publish_user_events([(3, "BTCUSDT", "nonsense", {"id": 1})])  # refused, logged, nothing written
    assert r.xlen(user_stream_key(3)) == 0
