"""The liquidation recorder command against a fake websocket server that drops the connection."""

from __future__ import annotations

import asyncio
import io
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from django.core.management import call_command

from heatmaps.models import Asset, Exchange, Liquidation
from tests.heatmaps.exchanges.fake_venues import FakeVenues
from tests.heatmaps.exchanges.fake_ws import FakeWsServer, binance_frames, bybit_frames
from tests.heatmaps.exchanges.test_venue_liquidations import deribit_frames


@contextmanager
def ws_server_in_thread(make: Callable[[], FakeWsServer]) -> Iterator[FakeWsServer]:
    """Run the async fake server on its own event loop in a thread, so the command can use asyncio.run()."""
    ready = threading.Event()
    stop: dict[str, Any] = {}
    holder: dict[str, FakeWsServer] = {}

    async def main() -> None:
        stop["event"] = asyncio.Event()
        stop["loop"] = asyncio.get_running_loop()
        async with make() as server:
            holder["server"] = server
            ready.set()
            await stop["event"].wait()

    thread = threading.Thread(target=asyncio.run, args=(main(),), daemon=True)
    thread.start()
    assert ready.wait(10), "fake websocket server did not start"
    try:
        yield holder["server"]
    finally:
        stop["loop"].call_soon_threadsafe(stop["event"].set)
        thread.join(10)


def tracked(code: str) -> Asset:
    exchange = Exchange.get_supported(code)
    asset = Asset.objects.create(symbol="BTCUSDT", display_name="Bitcoin", base="BTC", reference_exchange=exchange)
    asset.exchanges.add(exchange)
    return asset


@pytest.mark.django_db(transaction=True)
def test_binance_recorder_survives_a_drop_and_stores_each_event_once(settings: Any) -> None:
    asset = tracked("binance")
    frames = binance_frames(20)
    with ws_server_in_thread(lambda: FakeWsServer(frames, drops=[7], replay=1, expect_subscribe=False)) as server:
        settings.LIQ_BINANCE_WS_URL = server.url
        out = io.StringIO()
        call_command("stream_liquidations", "--exchange", "binance", "--seconds", "4", stdout=out)
        assert server.connections >= 2
    rows = list(Liquidation.objects.filter(asset=asset).order_by("time"))
    assert len(rows) == 20
    # Binance: an order side SELL liquidates a long (even frames), BUY a short.
    assert [r.side for r in rows] == ["long", "short"] * 10
    first = rows[0]
    assert first.price == 42000 and first.quantity == pytest.approx(0.001)
    assert first.value == pytest.approx(42.0)
    assert "reconnects=" in out.getvalue()

    # The same events again (a replaying server) add nothing.
    with ws_server_in_thread(lambda: FakeWsServer(frames, expect_subscribe=False)) as server:
        settings.LIQ_BINANCE_WS_URL = server.url
        call_command("stream_liquidations", "--exchange", "binance", "--seconds", "2", stdout=io.StringIO())
    assert Liquidation.objects.count() == 20


@pytest.mark.django_db(transaction=True)
def test_bybit_recorder_subscribes_and_uses_position_side(settings: Any) -> None:
    asset = tracked("bybit")
    with ws_server_in_thread(lambda: FakeWsServer(bybit_frames(6), drops=[3])) as server:
        settings.LIQ_BYBIT_WS_URL = server.url
        call_command("stream_liquidations", "--exchange", "bybit", "--seconds", "4", stdout=io.StringIO())
        assert len(server.subscribes()) >= 2  # subscribed again after the drop
        assert "allLiquidation.BTCUSDT" in server.received[0][1]
    # Bybit: S=Buy means a long position was liquidated (even frames).
    assert (
        list(Liquidation.objects.filter(asset=asset).order_by("time").values_list("side", flat=True))
        == [
            "long",
            "short",
        ]
        * 3
    )


@pytest.mark.django_db
def test_nothing_to_record_without_tracked_assets() -> None:
    out = io.StringIO()
    call_command("stream_liquidations", "--seconds", "0.1", stdout=out)
    assert "nothing to record" in out.getvalue()


@pytest.mark.django_db(transaction=True)
def test_deribit_recorder_stores_flagged_trades_in_usd_of_the_inverse_perpetual(settings: Any) -> None:
    asset = tracked("deribit")
    with FakeVenues() as rest, ws_server_in_thread(lambda: FakeWsServer(deribit_frames(6), drops=[2])) as server:
        settings.LIQ_DERIBIT_URL = rest.base_url  # public/get_instrument: BTC-PERPETUAL is "reversed"
        settings.LIQ_DERIBIT_WS_URL = server.url
        out = io.StringIO()
        call_command("stream_liquidations", "--exchange", "deribit", "--seconds", "4", stdout=out)
        assert "trades.BTC-PERPETUAL.100ms" in server.received[0][1]
    rows = list(Liquidation.objects.filter(asset=asset).order_by("time"))
    assert [r.side for r in rows] == ["long", "short"] * 3
    assert [r.value for r in rows] == [10.0 * (i + 1) for i in range(6)]  # the USD amounts
    assert rows[0].quantity == pytest.approx(10.0 / 8950)


@pytest.mark.django_db(transaction=True)
def test_deribit_liquidations_wait_for_the_instrument_kind(settings: Any) -> None:
    """Offline REST: the instrument's kind (USD or coin amounts) is unknown, so nothing is stored in a unit
    that may be wrong."""
    tracked("deribit")
    settings.LIQ_DERIBIT_URL = "http://127.0.0.1:9"
    with ws_server_in_thread(lambda: FakeWsServer(deribit_frames(4))) as server:
        settings.LIQ_DERIBIT_WS_URL = server.url
        call_command("stream_liquidations", "--exchange", "deribit", "--seconds", "2", stdout=io.StringIO())
    assert Liquidation.objects.count() == 0
