"""The asset page moves while it is open: a new map version and a tick arrive over the live stream
(served by the ASGI application in a uvicorn process, as deployed) and are drawn without a reload."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from django.conf import settings

from heatmaps.live import publish_event
from heatmaps.maps import heatmap_compute
from heatmaps.marketdata import dt_to_ms, load_sample_data
from heatmaps.models import Asset, Candle, Heatmap
from tests.heatmaps.live.server import asgi_server

STATE = "document.querySelector('canvas.heatmap')"


@pytest.fixture
def server(transactional_db: None, tmp_path: Path) -> Iterator[str]:
    r = redis.Redis.from_url(settings.REDIS_URL)
    for key in r.scan_iter("liq:live:*"):
        r.delete(key)
    with asgi_server(keepalive_seconds=1, static_root=tmp_path / "static") as base:
        yield base


def test_new_map_version_and_tick_are_drawn_without_reload(server: str, page: Any) -> None:
    load_sample_data()
    btc = Asset.objects.select_related("reference_exchange").get(symbol="BTCUSDT")
    newest = Candle.objects.filter(asset=btc).order_by("-open_time").values_list("open_time", flat=True).first()
    assert newest is not None
    held: list[Any] = list(Candle.objects.filter(asset=btc, open_time=newest))
    Candle.objects.filter(asset=btc, open_time=newest).delete()  # the bar that closes while the page is open
    heatmap_compute(asset=btc, timeframes=["12h"])
    before = Heatmap.objects.get(asset=btc, timeframe="12h")

    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.set_viewport_size({"width": 1400, "height": 900})
    page.goto(f"{server}/assets/BTCUSDT/?tf=12h")
    page.wait_for_function(f"() => {STATE} && {STATE}.dataset.lastTime")
    page.wait_for_function("() => document.querySelector('.live-badge').dataset.state === 'live'")
    first_last = int(page.evaluate(f"{STATE}.dataset.lastTime"))
    columns = int(page.evaluate(f"{STATE}.dataset.columns"))
    assert first_last == dt_to_ms(before.data_end)
    page.evaluate(f"{STATE}.__marker = 'not reloaded'")

    Candle.objects.bulk_create(held)  # the bar closes; the recompute stores a new version and publishes `map`
    heatmap_compute(asset=btc, timeframes=["12h"])
    after = Heatmap.objects.get(asset=btc, timeframe="12h")
    assert after.version == before.version + 1 and after.data_end == newest

    page.wait_for_function(f"() => +{STATE}.dataset.lastTime === {dt_to_ms(newest)}", timeout=10_000)
    assert int(page.evaluate(f"{STATE}.dataset.columns")) == columns  # the window slid by one column
    assert page.evaluate(f"{STATE}.__marker") == "not reloaded"

    assert after.current_price is not None
    price = round(after.current_price * 1.001, 2)
    publish_event(symbol="BTCUSDT", kind="tick", data={"time": dt_to_ms(newest), "price": price, "mark": None})
    page.wait_for_function(f"() => +{STATE}.dataset.livePrice === {price}", timeout=10_000)
    assert page.evaluate(f"{STATE}.__heatmap.data.current_price") == price

    page.evaluate("document.dispatchEvent(new Event('visibilitychange'))")  # still visible: stays live
    assert page.evaluate("document.querySelector('.live-badge').dataset.state") in ("live", "connecting")
    assert errors == []
