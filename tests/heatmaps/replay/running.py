"""The replay served from a test: its own thread and event loop, an ephemeral port."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from heatmaps.replay.server import ReplayMarket, replay_serve
from tests.heatmaps.live.server import free_port


@contextmanager
def serving(market: ReplayMarket) -> Iterator[str]:
    """The replay on an ephemeral port, in its own thread and event loop; yields its base URL."""
    port = free_port()
    loop = asyncio.new_event_loop()
    started = threading.Event()

    async def main(stop: asyncio.Event) -> None:
        server = await replay_serve(market, host="127.0.0.1", port=port, interval_s=0.2)
        started.set()
        await stop.wait()
        server.close()
        await server.wait_closed()

    stop = asyncio.Event()
    thread = threading.Thread(target=loop.run_until_complete, args=(main(stop),), daemon=True)
    thread.start()
    assert started.wait(10)
    try:
        yield f"127.0.0.1:{port}"
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(10)
