"""The liquidation recorder loop against a fake websocket server that drops connections mid-stream."""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from collections import Counter

import pytest

from heatmaps.exchanges.liquidation_stream import StreamStats, stream_liquidations
from heatmaps.exchanges.liquidations import StreamSpec, binance_stream_spec, bybit_stream_spec, okx_stream_spec
from heatmaps.rows import LiquidationRow
from tests.heatmaps.exchanges.fake_ws import BYBIT_ACK, OKX_ACK, FakeWsServer, binance_frames, bybit_frames, okx_frames

N = 15


class Collector:
    """A sync sink (it runs in a worker thread) that sets ``stop`` once ``expected`` rows arrived."""

    def __init__(self, loop: asyncio.AbstractEventLoop, stop: asyncio.Event, expected: int, fail_first: int = 0):
        self.rows: list[LiquidationRow] = []
        self.calls = 0
        self.loop, self.stop, self.expected, self.fail_first = loop, stop, expected, fail_first
        self.lock = threading.Lock()

    def __call__(self, rows: list[LiquidationRow]) -> None:
        with self.lock:
            self.calls += 1
            if self.calls <= self.fail_first:
                raise RuntimeError("database is down")
            self.rows.extend(rows)
            if len(self.rows) >= self.expected:
                self.loop.call_soon_threadsafe(self.stop.set)


async def record(server: FakeWsServer, spec: StreamSpec, *, fail_first: int = 0) -> tuple[Collector, StreamStats]:
    stop = asyncio.Event()
    sink = Collector(asyncio.get_running_loop(), stop, N, fail_first)
    stats = await asyncio.wait_for(
        stream_liquidations(
            server.url,
            spec.subscribe_message,
            spec.parse,
            sink,
            batch_size=4,
            flush_seconds=0.05,
            stop_event=stop,
            logger=logging.getLogger("test.stream"),
            ping_message=spec.ping_message,
            ping_interval=0.03 if spec.ping_message else None,
            backoff_base=0.01,
            backoff_max=0.05,
        ),
        timeout=15,
    )
    return sink, stats


def check_exactly_once(sink: Collector, stats: StreamStats, server: FakeWsServer) -> None:
    keys = [r.dedupe_key for r in sink.rows]
    assert len(keys) == N and len(set(keys)) == N, Counter(keys).most_common(3)
    rows = sorted(sink.rows, key=lambda r: r.time_ms)
    assert [r.side for r in rows] == ["long" if i % 2 == 0 else "short" for i in range(N)]
    assert all(r.value == pytest.approx(r.price * r.quantity) for r in rows)
    assert server.connections == 3 and stats.connects == 3 and stats.reconnects >= 2
    assert stats.events == N and stats.flushed == N and stats.last_event_ms == rows[-1].time_ms
    assert not stats.connected


def test_binance_stream_reconnects_and_delivers_each_event_once() -> None:
    async def main() -> None:
        async with FakeWsServer(binance_frames(N), drops=[4, 5], expect_subscribe=False) as server:
            sink, stats = await record(server, binance_stream_spec(), fail_first=1)
        check_exactly_once(sink, stats, server)
        assert stats.sink_errors == 1  # the failed batch was kept and written later
        assert [r.symbol for r in sink.rows] == ["BTCUSDT"] * N

    asyncio.run(main())


def test_bybit_stream_resubscribes_pings_and_dedupes_replays() -> None:
    async def main() -> None:
        frames = bybit_frames(N)
        async with FakeWsServer(frames, drops=[5, 4], replay=1, ack=BYBIT_ACK, interval=0.02) as server:
            sink, stats = await record(server, bybit_stream_spec(["BTCUSDT"]))
        check_exactly_once(sink, stats, server)
        assert server.subscribes() == [1, 2, 3]  # subscribed again on every connection
        first = next(m for n, m in server.received if n == 1)
        assert json.loads(first) == {"op": "subscribe", "args": ["allLiquidation.BTCUSDT"]}
        assert server.pings() and all(json.loads(p) == {"op": "ping"} for p in server.pings())
        assert stats.duplicates == 2  # the replayed frames

    asyncio.run(main())


def test_okx_stream_contract_sizes_and_text_pings() -> None:
    async def main() -> None:
        frames = okx_frames(N)
        frames.insert(
            6,
            '{"arg": {"channel": "liquidation-orders"}, "data": [{"instId": "BTC-USDT-SWAP", "details": [{"sz": "x"}]}]}',
        )
        frames.insert(2, "not json at all")
        async with FakeWsServer(frames, drops=[3, 6], ack=OKX_ACK, interval=0.02) as server:
            sink, stats = await record(server, okx_stream_spec({"BTC-USDT-SWAP": 0.01}))
        check_exactly_once(sink, stats, server)
        assert stats.malformed == 1  # logged and skipped, the stream goes on
        assert "ping" in server.pings()
        rows = sorted(sink.rows, key=lambda r: r.time_ms)
        assert rows[2].quantity == pytest.approx(0.03) and rows[2].symbol == "BTC-USDT-SWAP"

    asyncio.run(main())


def test_stop_flushes_pending_rows_in_one_batch() -> None:
    async def main() -> None:
        stop = asyncio.Event()
        calls: list[list[LiquidationRow]] = []
        stats = StreamStats("fake")

        async def stop_when_all_seen() -> None:
            while stats.events < N:
                await asyncio.sleep(0.01)
            stop.set()

        async with FakeWsServer(binance_frames(N), expect_subscribe=False) as server:
            watcher = asyncio.create_task(stop_when_all_seen())
            await asyncio.wait_for(
                stream_liquidations(
                    server.url,
                    None,
                    binance_stream_spec().parse,
                    calls.append,
                    batch_size=1000,
                    flush_seconds=60,
                    stop_event=stop,
                    stats=stats,
                ),
                timeout=10,
            )
            await watcher
        assert [len(c) for c in calls] == [N]  # nothing before stop, everything at stop
        assert stats.flushed == N and stats.reconnects == 0

    asyncio.run(main())


def test_unreachable_server_backs_off_until_stopped() -> None:
    async def main() -> None:
        stop = asyncio.Event()
        got: list[LiquidationRow] = []
        asyncio.get_running_loop().call_later(0.3, stop.set)
        stats = await stream_liquidations(
            "ws://127.0.0.1:9/ws",  # nothing listens on the discard port
            None,
            binance_stream_spec().parse,
            got.extend,
            stop_event=stop,
            backoff_base=0.01,
            backoff_max=0.04,
        )
        assert stats.connects == 0 and stats.reconnects >= 3 and stats.last_error
        assert got == []

    asyncio.run(main())
