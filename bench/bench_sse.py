"""Live events: N idle SSE clients on one ASGI worker process (uvicorn, as Procfile.production runs the
`events` process); memory per idle client and the delivery latency of one published event to all of them.

Clients: LIQ_BENCH_SSE_CLIENTS (default 1000), plain asyncio sockets in this process.
Database: the liqplatform_bench database (bench_db.setup); Redis: REDIS_URL (default db 9).
"""

from __future__ import annotations

import asyncio
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/9")
from bench_db import setup
from bench_procs import free_port, rss_kib, start_uvicorn

setup()

from heatmaps.live import publish_event  # noqa: E402
from heatmaps.marketdata.sample import ensure_sample_assets  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
CLIENTS = int(os.environ.get("LIQ_BENCH_SSE_CLIENTS", "1000"))
SYMBOL = "BTCUSDT"


def start_server(port: int) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "DEBUG": "0",
        "LIQ_TESTING": "0",
        "SECRET_KEY": "bench-only-secret-key-not-for-production-0123456789",
        "ALLOWED_HOSTS": "127.0.0.1",
        "SITE_URL": "http://127.0.0.1",
        "LIQ_STATIC_MANIFEST": "0",
        "LIQ_LOG_LEVEL": "WARNING",
    }
    # Its output to a file: a pipe nobody reads would fill and stop the server mid-run.
    return start_uvicorn(port, env, (ROOT / "var" / "bench-sse-server.log").open("wb"))


async def client(port: int, connected: asyncio.Event, counter: list[int], arrivals: list[float]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(
        f"GET /assets/{SYMBOL}/events HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n".encode()
    )
    await writer.drain()
    buffer = b""
    while b": connected" not in buffer:
        chunk = await reader.read(4096)
        if not chunk:
            raise RuntimeError(f"closed before the stream started: {buffer[:200]!r}")
        buffer += chunk
    counter[0] += 1
    if counter[0] == CLIENTS:
        connected.set()
    buffer = b""
    while b"event: bar" not in buffer:
        chunk = await reader.read(4096)
        if not chunk:
            raise RuntimeError("the stream ended before the event arrived")
        buffer = buffer[-64:] + chunk
    arrivals.append(time.perf_counter())
    writer.close()


async def warm_up(port: int) -> None:
    """One stream opened and closed first, so the figures leave out what the first request loads."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"GET /assets/{SYMBOL}/events HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
    buffer = b""
    while b": connected" not in buffer:
        chunk = await reader.read(4096)
        if not chunk:
            raise RuntimeError(f"the stream did not start: {buffer[:300]!r}")
        buffer += chunk
    writer.close()
    await asyncio.sleep(1)


async def run(port: int, pid: int) -> None:
    await warm_up(port)
    before = rss_kib(pid)
    connected, counter, arrivals = asyncio.Event(), [0], list[float]()
    started = time.perf_counter()
    tasks = []
    for i in range(CLIENTS):
        tasks.append(asyncio.create_task(client(port, connected, counter, arrivals)))
        if i % 100 == 99:
            await asyncio.sleep(0.05)  # connect in waves, as browsers would, not as one SYN flood
    await asyncio.wait_for(connected.wait(), timeout=120)
    connect_s = time.perf_counter() - started
    await asyncio.sleep(3)  # idle: keep-alives only
    after = rss_kib(pid)
    published = time.perf_counter()
    await asyncio.to_thread(publish_event, symbol=SYMBOL, kind="bar", data={"time": 0, "close": 1.0})
    await asyncio.wait_for(asyncio.gather(*tasks), timeout=60)
    latencies = sorted((t - published) * 1000 for t in arrivals)
    print(f"SSE: {CLIENTS} idle clients on one uvicorn worker, connected in {connect_s:.1f} s")
    print(
        f"  server RSS {before / 1024:.1f} MiB before, {after / 1024:.1f} MiB with the clients: "
        f"{(after - before) / CLIENTS:.1f} KiB per idle client (coroutine, socket and queue; one Redis reader for all)"
    )
    print(
        f"  one published event reached all {len(latencies)} clients: p50 {statistics.median(latencies):.0f} ms, "
        f"p99 {latencies[int(len(latencies) * 0.99) - 1]:.0f} ms, last {latencies[-1]:.0f} ms"
    )


def main() -> None:
    ensure_sample_assets()
    port = free_port()
    proc = start_server(port)
    try:
        asyncio.run(run(port, proc.pid))
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


if __name__ == "__main__":
    main()
