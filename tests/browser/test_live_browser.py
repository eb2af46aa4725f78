"""The asset page moves while it is open: a new map version and a tick arrive over the live stream
(served by the ASGI application in a uvicorn process, as deployed) and are drawn without a reload."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from django.conf import settings

from heatmaps.live import publish_event
from heatmaps.maps import heatmap_compute
from heatmaps.marketdata import dt_to_ms, load_sample_data, ms_to_dt
from heatmaps.models import Asset, Candle, Heatmap
from heatmaps.replay.sample import replay_prepare, sample_tape
from heatmaps.replay.server import ReplayMarket
from heatmaps.replay.tape import BAR_MS, ReplayClock
from tests.conftest import _database_url
from tests.heatmaps.live.server import asgi_server
from tests.heatmaps.replay.running import serving

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

    # A tick in the bar after the map's last: drawn as the forming bar, in the column kept for it.
    forming = dt_to_ms(newest) + BAR_MS
    view_end = float(page.evaluate(f"{STATE}.dataset.view").split(",")[1])
    assert view_end == dt_to_ms(newest) + 2 * BAR_MS  # the map's columns and one for the forming bar
    time.sleep(1.1)  # ticks are published at most once a second
    publish_event(symbol="BTCUSDT", kind="tick", data={"time": forming + 60_000, "price": price, "mark": None})
    page.wait_for_function(f"() => +{STATE}.dataset.formingTime === {forming}", timeout=10_000)
    # It opens at the last close, which the tick before set to `price`.
    assert page.evaluate(f"{STATE}.__heatmap.data.forming") == [forming, price, price, price, price]
    # Price falls 4 %: the long positions it traded through are swept from the liquidation map at once.
    assert page.evaluate(f"{STATE}.dataset.sweptUsd") == "0"
    low = round(price * 0.96, 2)
    time.sleep(1.1)  # ticks are published at most once a second
    publish_event(symbol="BTCUSDT", kind="tick", data={"time": forming + 120_000, "price": low, "mark": None})
    page.wait_for_function(f"() => +{STATE}.dataset.sweptUsd > 0", timeout=10_000)

    page.evaluate("document.dispatchEvent(new Event('visibilitychange'))")  # still visible: stays live
    assert page.evaluate("document.querySelector('.live-badge').dataset.state") in ("live", "connecting")
    assert errors == []


@pytest.mark.worker
def test_bars_closing_on_the_replayed_stream_reach_the_open_page(
    server: str, page: Any, celery_worker_process: Any, tmp_path: Path
) -> None:
    """The whole path, each part in its own process as deployed: the replay (Binance's documented stream)
    → stream_market stores the closed bar → a worker recomputes → `map` event → the page redraws."""
    start = replay_prepare(now_ms=int(time.time() * 1000), catchup_bars=40)
    btc = Asset.objects.select_related("reference_exchange").get(symbol="BTCUSDT")
    heatmap_compute(asset=btc, timeframes=["12h", "24h"])
    tape = sample_tape("BTCUSDT", origin_ms=start.origin_ms)
    clock = ReplayClock(int(time.time() * 1000), start.resume_ms, speed=120)  # a bar every 2.5 s

    page.set_viewport_size({"width": 1400, "height": 900})
    page.goto(f"{server}/assets/BTCUSDT/?tf=12h")
    page.wait_for_function(f"() => {STATE} && {STATE}.dataset.lastTime")
    page.wait_for_function("() => document.querySelector('.live-badge').dataset.state === 'live'")
    first_last = int(page.evaluate(f"{STATE}.dataset.lastTime"))
    assert first_last == start.resume_ms - BAR_MS
    page.evaluate(f"{STATE}.__marker = 'not reloaded'")

    with serving(ReplayMarket({"BTCUSDT": tape}, clock)) as host:
        env = {
            **os.environ, "LIQ_TESTING": "1", "DEBUG": "1", "LIQ_REPLAY": "1",
            "DATABASE_URL": _database_url(settings.DATABASES["default"]), "REDIS_URL": settings.REDIS_URL,
            "LIQ_BINANCE_FAPI_URL": f"http://{host}", "LIQ_BINANCE_MARKET_WS_URL": f"ws://{host}/market/stream",
        }  # fmt: skip
        stream = subprocess.Popen(
            [sys.executable, "manage.py", "stream_market", "--exchange", "binance", "--seconds", "40"],
            env=env, cwd=settings.BASE_DIR, stdout=(tmp_path / "stream.log").open("wb"), stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            # Ticks move the price line between closes: two different prices from the tape's forming bar.
            page.wait_for_function(f"() => {STATE}.dataset.livePrice", timeout=20_000)
            seen = {page.evaluate(f"{STATE}.dataset.livePrice")}
            page.wait_for_function(f"() => !{sorted(seen)!r}.includes({STATE}.dataset.livePrice)", timeout=20_000)
            # Two bars later the map ends in a bar that closed on the stream while the page was open.
            page.wait_for_function(f"() => +{STATE}.dataset.lastTime >= {first_last + 2 * BAR_MS}", timeout=40_000)
        finally:
            stream.terminate()
            stream.wait(20)
    last = int(page.evaluate(f"{STATE}.dataset.lastTime"))
    stored = Candle.objects.get(asset=btc, open_time=ms_to_dt(last))
    assert (stored.open, stored.close) == pytest.approx((tape.bar(tape.index_at(last)).open,
                                                         tape.bar(tape.index_at(last)).close), rel=1e-8)  # fmt: skip
    assert page.evaluate(f"{STATE}.__marker") == "not reloaded"


def test_the_overview_moves_on_ticks_and_closed_bars(server: str, page: Any) -> None:
    load_sample_data()
    btc = Asset.objects.get(symbol="BTCUSDT")
    summary = btc.summary
    assert summary.price is not None and summary.change_24h_pct is not None and summary.last_bar is not None
    ref = summary.price / (1 + summary.change_24h_pct / 100)
    row = "#overview-table tr[data-symbol=BTCUSDT]"
    page.goto(f"{server}/")
    page.wait_for_function("() => document.querySelector('[data-live-markets]').dataset.liveState === 'live'")
    before = page.text_content(f"{row} [data-live=age]")

    price = round(ref * 1.05, 1)  # five per cent above the price 24 h ago
    publish_event(symbol="BTCUSDT", kind="tick", data={"time": dt_to_ms(summary.last_bar), "price": price})
    page.wait_for_function(f"() => document.querySelector('{row}').dataset.livePrice === '{price}'")
    assert page.text_content(f"{row} [data-live=price] .live-value") == f"{price:,.1f}"
    assert page.text_content(f"{row} [data-live=change]").strip() == "+5.00 %"

    closed = dt_to_ms(summary.last_bar) + 7 * 24 * 3_600_000  # a bar closing much later: a new age
    publish_event(symbol="BTCUSDT", kind="bar", data={"time": closed, "close": price, "closed": True})
    page.wait_for_function(
        f"() => Date.parse(document.querySelector('{row} [data-live=age] time').getAttribute('datetime')) === {closed}"
    )
    assert page.text_content(f"{row} [data-live=age]") != before
