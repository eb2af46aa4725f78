"""Load benchmark: the production stack (gunicorn, DEBUG=0) under a mixed request load while a
backfill and heat-map recomputes run beside it, in their own process at nice 10 as the workers run.

Mix (equal shares): overview, asset page, HTMX timeframe swap (two of five), the 1y map's data.
Four runs: capacity (wrk flat out; its latency is mostly queueing), then the mix offered at a fixed
rate (hey): visitors without a session at --rate (210/s), a signed-in trader at --signed-in-rate
(210/s: their pages come from a render shared per look, their own pieces filled in), and the visitors again while --sse-clients (1000) live event streams are held open on the
uvicorn events process with a tick published every second. wrk and hey are Debian packages; scripts/bench-deps.sh installs them. Prints requests/s,
p50/p95/p99 latency (per path for the fixed-rate runs) and errors; asserts nothing. Uses the
liqplatform_bench database and Redis db 12.
Run: make bench  (or .venv/bin/python bench/bench_load.py [--seconds 30] [--quiet-machine])
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import re
import secrets
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ["REDIS_URL"] = os.environ.get("LIQ_BENCH_REDIS_URL", "redis://127.0.0.1:6379/12")
# One key for this process and the server: the signed-in trader's session is signed here.
os.environ["SECRET_KEY"] = secrets.token_urlsafe(50)
from bench_db import setup
from bench_procs import free_port, rss_kib, start_uvicorn, wait_http

setup()

from django.conf import settings  # noqa: E402
from django.db import connection, connections  # noqa: E402

from heatmaps import ingest  # noqa: E402
from heatmaps.engine import TIMEFRAMES  # noqa: E402
from heatmaps.exchanges import get_connector  # noqa: E402
from heatmaps.maps import heatmap_compute  # noqa: E402
from heatmaps.marketdata import load_sample_data  # noqa: E402
from heatmaps.models import Asset, Candle, Exchange  # noqa: E402
from heatmaps.rows import BASE_BAR_MS  # noqa: E402
from tests.heatmaps.exchanges.fake_exchange import FakeExchange, Series  # noqa: E402

ROOT = Path(settings.BASE_DIR)
MAP_DATA = "/api/v1/assets/BTCUSDT/heatmap/?timeframe=1y&side=both&cells=packed"  # as the asset page reads it


def backfill_loop(stop: Any, counts: Any) -> None:
    """30-day candle backfills of a third asset from the fake exchange, over and over."""
    binance = Exchange.get_supported("binance")
    asset, _ = Asset.objects.get_or_create(
        symbol="LOADUSDT", defaults={"display_name": "load bench", "base": "LOAD", "reference_exchange": binance}
    )
    bars = 30 * 288
    now_ms = int(time.time() * 1000)
    end_ms = now_ms - now_ms % BASE_BAR_MS
    series = Series(start_ms=end_ms - bars * BASE_BAR_MS, bars=bars)
    with FakeExchange(series, now_ms=end_ms + BASE_BAR_MS, binance_symbol="LOADUSDT") as fake:
        conn = get_connector("binance", base_url=fake.base_url, now_ms=lambda: fake.now_ms)
        while not stop.is_set():
            Candle.objects.filter(asset=asset).delete()
            ingest.backfill(
                asset=asset, exchange=binance, kinds=["candles"], start_ms=series.start_ms, end_ms=series.end_ms,
                now_ms=fake.now_ms, connector=conn,
            )  # fmt: skip
            counts[0] += 1
        conn.close()
    connection.close()


def recompute_loop(stop: Any, counts: Any) -> None:
    """Every timeframe of both sample assets recomputed back to back (what a backfill triggers)."""
    assets = list(Asset.objects.filter(symbol__in=["BTCUSDT", "ETHUSDT"]))
    while not stop.is_set():
        for asset in assets:
            heatmap_compute(asset=asset, timeframes=list(TIMEFRAMES))
            counts[1] += 1
    connection.close()


def batch_work(stop: Any, counts: Any) -> None:
    """A backfill and recomputes, over and over, until `stop`: what runs on the workers beside the web."""
    os.nice(10)
    loops = [threading.Thread(target=loop, args=(stop, counts)) for loop in (backfill_loop, recompute_loop)]
    for loop in loops:
        loop.start()
    for loop in loops:
        loop.join()


MIX = (  # the same mix as bench/load_mix.lua: path, sent as an HTMX swap
    ("/", False),
    ("/assets/BTCUSDT/?tf=24h", False),
    ("/assets/ETHUSDT/?tf=1w", True),
    ("/assets/BTCUSDT/?tf=3d", True),
    (MAP_DATA, False),
)


@dataclass
class Run:
    label: str
    rps: float
    p50: float
    p95: float
    p99: float
    max: float
    errors: int
    detail: str = ""
    requests: int = 0

    def line(self) -> str:
        return (
            f"  {self.label}: {self.rps:,.0f} requests/s   p50 {self.p50:.1f} ms   p95 {self.p95:.1f} ms   "
            f"p99 {self.p99:.1f} ms   max {self.max:.0f} ms   errors {self.errors}{self.detail}"
        )


def capacity(port: int, seconds: int, connections: int) -> Run:
    """wrk flat out: the most the server answers; its latency is mostly time queued behind the others."""
    out = subprocess.run(
        ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--timeout", "5s",
         "-s", str(ROOT / "bench" / "load_mix.lua"), f"http://127.0.0.1:{port}"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    m = re.search(r"RESULT (.*)", out)
    if not m:
        print(out)
        raise SystemExit("wrk printed no result")
    r = {k: int(v) for k, v in (kv.split("=") for kv in m.group(1).split())}
    errors = r["non2xx"] + r["connect"] + r["read"] + r["write"] + r["timeout"]
    p50, p95, p99, top = (r[f"{key}_us"] / 1000 for key in ("p50", "p95", "p99", "max"))  # wrk's own histogram
    rps = r["requests"] / (r["duration_us"] / 1e6)
    label = f"capacity, {connections} connections flat out"
    return Run(label, rps, p50, p95, p99, top, errors, requests=r["requests"])


def fixed_rate(port: int, seconds: int, rate: int, label: str, cookie: str = "") -> Run:
    """The mix offered at `rate` requests/s (hey, one process per path, each at an equal share): the
    latency a visitor sees while the site serves that many requests a second."""
    share, workers = rate / len(MIX), 8
    procs = []
    for path, htmx in MIX:
        cmd = ["hey", "-z", f"{seconds}s", "-c", str(workers), "-q", f"{share / workers:.3f}", "-t", "5", "-o", "csv"]
        for header in (["HX-Request: true"] if htmx else []) + ([f"Cookie: {cookie}"] if cookie else []):
            cmd += ["-H", header]
        procs.append(subprocess.Popen([*cmd, f"http://127.0.0.1:{port}{path}"], stdout=subprocess.PIPE, text=True))
    latencies: list[float] = []
    errors, ends, by_path = 0, [], []
    # hey's csv: response-time,DNS+dialup,DNS,Request-write,Response-delay,Response-read,status-code,offset
    for (path, htmx), proc in zip(MIX, procs, strict=True):
        out, _ = proc.communicate()
        mark = len(latencies)
        for line in out.splitlines()[1:]:
            fields = line.split(",")
            if len(fields) < 8:
                continue
            latencies.append(float(fields[0]) * 1000)
            ends.append(float(fields[7]) + float(fields[0]))
            errors += fields[6] != "200"
        errors += proc.returncode != 0
        mine = latencies[mark:]
        if mine:
            name = path.split("?")[0] + (" (swap)" if htmx else "")
            by_path.append(f"{name} p50 {np.percentile(mine, 50):.0f} / p95 {np.percentile(mine, 95):.0f} ms")
    duration = max(ends, default=seconds)
    p50, p95, p99 = np.percentile(latencies, [50, 95, 99]) if latencies else (float("nan"),) * 3
    rps = len(latencies) / duration
    detail = "\n      " + "; ".join(by_path)
    top = max(latencies, default=0.0)
    return Run(label, rps, float(p50), float(p95), float(p99), top, errors, detail, requests=len(latencies))


def events_server(env: dict[str, str]) -> tuple[subprocess.Popen[bytes], int]:
    """The live-events process as Procfile.production runs it: uvicorn, one worker."""
    port = free_port()
    return start_uvicorn(port, env), port


def hold_sse_clients(port: int, count: int, stop: threading.Event, ticks: list[int], opened: list[int]) -> None:
    """`count` browsers with the asset page open: each holds its event stream and reads the ticks."""

    async def one() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /assets/BTCUSDT/events HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n")
        await writer.drain()
        greeting = b""
        while b": connected" not in greeting:  # the stream has taken its position: events from here on
            chunk = await reader.read(4096)
            if not chunk:
                return
            greeting += chunk
        opened[0] += 1
        while not stop.is_set():
            try:
                chunk = await asyncio.wait_for(reader.read(65536), 1)
            except TimeoutError:
                continue
            if not chunk:
                break
            ticks[0] += chunk.count(b"event: tick")
        writer.close()

    async def main() -> None:
        tasks = []
        for i in range(count):
            tasks.append(asyncio.create_task(one()))
            if i % 100 == 99:
                await asyncio.sleep(0.05)  # in waves, as browsers arrive
        await asyncio.gather(*tasks, return_exceptions=True)

    asyncio.run(main())


def visitors_beside_streams(port: int, env: dict[str, str], seconds: int, rate: int, clients: int) -> tuple[Run, str]:
    """The visitors' mix at `rate` while `clients` live streams stay open on the events process and a
    tick is published every second (each reaching every stream)."""
    from heatmaps.live import publish_event

    proc, events_port = events_server(env)
    stop, ticks, opened = threading.Event(), [0], [0]
    holder = threading.Thread(target=hold_sse_clients, args=(events_port, clients, stop, ticks, opened))
    holder.start()
    try:
        deadline = time.monotonic() + 120
        while opened[0] < clients and time.monotonic() < deadline:
            time.sleep(0.2)
        rss_before = rss_kib(proc.pid) / 1024

        def publish() -> None:
            price = 90_000.0
            while not stop.is_set():
                price += 1
                publish_event(symbol="BTCUSDT", kind="tick", data={"time": int(time.time() * 1000), "price": price})
                time.sleep(1.0)

        publisher = threading.Thread(target=publish, daemon=True)
        publisher.start()
        run = fixed_rate(port, seconds, rate, f"visitors, {rate}/s offered, {opened[0]} live streams open")
        rss_after = rss_kib(proc.pid) / 1024
    finally:
        stop.set()
        holder.join(timeout=30)
        proc.terminate()
        proc.wait(timeout=30)
    expected = opened[0] * seconds
    note = (
        f"  events process: {opened[0]} streams, RSS {rss_before:.0f} MiB idle -> {rss_after:.0f} MiB after the run; "
        f"{ticks[0]} ticks delivered (~{expected} published x streams)"
    )
    return run, note


def worker_rss(master: int) -> dict[int, float]:
    """Resident size (MiB) of each gunicorn worker, by pid."""
    out = subprocess.run(["pgrep", "-P", str(master)], capture_output=True, text=True).stdout.split()
    return {int(pid): rss_kib(int(pid)) / 1024 for pid in out}


def signed_in_cookie() -> str:
    """A trader with a watchlist and levels on BTCUSDT, signed in: their pages render per request."""
    from django.contrib.auth import get_user_model
    from django.test import Client

    from accounts import annotations, watchlists

    user, created = get_user_model().objects.get_or_create(username="loadtrader", defaults={"email": "l@example.com"})
    btc = Asset.objects.get(symbol="BTCUSDT")
    if created:
        watchlists.asset_star_toggle(user=user, asset=btc)
        for price in (60_000.0, 70_000.0, 80_000.0):
            annotations.annotation_create(user=user, asset=btc.symbol, kind="level", price=price)
    client = Client()
    client.force_login(user)
    return f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"


def trader_page_work(username: str = "loadtrader", samples: int = 40) -> list[str]:
    """Per request, in this process: the queries and the CPU time in templates of a trader's asset page
    rendered whole (as every request of theirs was; now once per LIQ_PAGE_CACHE_SECONDS per URL and
    look, the market figures read from the cache either way) and answered from the shared render."""
    import statistics
    import uuid

    from django.contrib.auth import get_user_model
    from django.template import base as template_base
    from django.test import Client, override_settings
    from django.test.utils import CaptureQueriesContext

    spent = {"depth": 0, "cpu": 0.0}
    plain_render = template_base.Template.render

    def timed_render(self: Any, context: Any) -> Any:
        if spent["depth"]:  # only the outermost render: includes and tags are inside it
            return plain_render(self, context)
        spent["depth"] += 1
        started = time.process_time()
        try:
            return plain_render(self, context)
        finally:
            spent["cpu"] += time.process_time() - started
            spent["depth"] -= 1

    client = Client()
    client.force_login(get_user_model().objects.get(username=username))
    lines = []
    template_base.Template.render = timed_render  # type: ignore[method-assign]
    try:
        with override_settings(LIQ_PAGE_CACHE_SECONDS=5, ALLOWED_HOSTS=["testserver"]):
            for label, url in (
                ("rendered whole", lambda: f"/assets/BTCUSDT/?tf=24h&n={uuid.uuid4().hex}"),
                ("from the shared render", lambda: "/assets/BTCUSDT/?tf=24h"),
            ):
                client.get(url())
                queries, template_ms, request_ms = [], [], []
                for _ in range(samples):
                    spent["cpu"] = 0.0
                    with CaptureQueriesContext(connection) as captured:
                        started = time.process_time()
                        response = client.get(url())
                        request_ms.append((time.process_time() - started) * 1000)
                    assert response.status_code == 200, response.status_code
                    queries.append(len(captured))
                    template_ms.append(spent["cpu"] * 1000)
                lines.append(
                    f"    {label:24} {statistics.median(queries):.0f} queries, templates "
                    f"{statistics.median(template_ms):.1f} ms CPU, the whole request "
                    f"{statistics.median(request_ms):.1f} ms CPU (median of {samples})"
                )
    finally:
        template_base.Template.render = plain_render  # type: ignore[method-assign]
        connection.close()
    return lines


def warm_up(port: int, cookie: str) -> None:
    """Every worker has served every page of both mixes (templates compiled, caches filled) before its
    resident size is read: growth after that is what serving costs, not start-up."""
    for trader in ("", cookie):
        fixed_rate(port, 3, 100, "warm-up", trader)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=30)
    parser.add_argument("--connections", type=int, default=32)
    # A little over the 200/s target: hey's per-worker ticks start late and stop early by a request or two.
    parser.add_argument("--rate", type=int, default=210, help="requests/s offered in the fixed-rate runs")
    parser.add_argument("--signed-in-rate", type=int, default=210, help="requests/s offered in the signed-in run")
    parser.add_argument("--quiet-machine", action="store_true", help="no backfill or recompute beside the load")
    parser.add_argument("--memory-requests", type=int, default=50_000, help="requests served before RSS is read again")
    parser.add_argument(
        "--sse-clients", type=int, default=1000, help="live streams held open in the last run (0: none)"
    )
    args = parser.parse_args()

    load_sample_data()
    for asset in Asset.objects.filter(symbol__in=["BTCUSDT", "ETHUSDT"]):
        heatmap_compute(asset=asset, timeframes=list(TIMEFRAMES))
    cookie = signed_in_cookie()
    work = trader_page_work()
    static_root = ROOT / "var" / "bench-static"
    port = free_port()
    env = {
        **os.environ,
        "DEBUG": "0",
        "LIQ_TESTING": "0",
        "ALLOWED_HOSTS": "127.0.0.1",
        "STATIC_ROOT": str(static_root),
        "LIQ_LOG_FORMAT": "plain",
        "LIQ_LOG_LEVEL": "WARNING",
        "LIQ_BIND": f"127.0.0.1:{port}",
        # One load generator stands for many visitors and traders: the limits are per address and per
        # user, so here they are off (as behind a proxy that limits) rather than one huge budget, whose
        # minute-long request history would be rewritten to Redis on every request.
        "LIQ_API_ANON_RATE": "off",
        "LIQ_API_USER_RATE": "off",
    }
    subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--no-input", "-v", "0"], cwd=ROOT, env=env, check=True
    )
    gunicorn = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "liqplatform.wsgi", "-c", "liqplatform/gunicorn.conf.py",
         "--access-logfile", "/dev/null"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    # The batch work runs in its own process at nice 10, as the Procfile and the systemd units run the
    # Celery workers: the kernel then hands a free core to a page before a recompute.
    connections.close_all()
    ctx = multiprocessing.get_context("fork")
    stop = ctx.Event()
    counts = ctx.Array("i", [0, 0])
    batch = ctx.Process(target=batch_work, args=(stop, counts), daemon=True)
    try:
        wait_http(port)
        warm_up(port, cookie)
        rss_warm = worker_rss(gunicorn.pid)
        if not args.quiet_machine:
            batch.start()
        runs = [
            capacity(port, args.seconds, args.connections),
            fixed_rate(port, args.seconds, args.rate, f"visitors, {args.rate}/s offered"),
            fixed_rate(
                port, args.seconds, args.signed_in_rate, f"signed-in traders, {args.signed_in_rate}/s offered", cookie
            ),
        ]
        sse_note = ""
        if args.sse_clients:
            beside, sse_note = visitors_beside_streams(port, env, args.seconds, args.rate, args.sse_clients)
            runs.append(beside)
        # Memory: the workers' resident size after warm-up and once the site has served --memory-requests.
        served = sum(run.requests for run in runs)
        if served < args.memory_requests:
            more = (args.memory_requests - served) / max(runs[0].rps, 1.0)
            served += capacity(port, int(more) + 2, args.connections).requests
        rss_end = worker_rss(gunicorn.pid)
    finally:
        stop.set()
        if batch.is_alive():
            batch.join(timeout=120)
        gunicorn.terminate()
        gunicorn.wait(timeout=30)
    print(f"load: {args.seconds} s per run; mix of overview / asset page / HTMX swap ×2 / 1y map, equal shares")
    print(
        f"  running beside it: {'nothing' if args.quiet_machine else f'{counts[0]} 30-day backfills, {counts[1]} all-timeframe recomputes (nice 10)'}"
        f"; gunicorn {os.environ.get('WEB_CONCURRENCY', 'default')} workers"
    )
    for run in runs:
        print(run.line())
    visitors, traders = runs[1], runs[2]
    ok = visitors.rps >= 200 and visitors.p95 < 200 and not visitors.errors
    print(f"  target for {visitors.label}: >= 200 requests/s at p95 < 200 ms, 0 errors -> {'OK' if ok else 'MISSED'}")
    ok = traders.rps >= 200 and traders.p95 < 200 and not traders.errors
    print(f"  target for {traders.label}: >= 200 requests/s at p95 < 200 ms, 0 errors -> {'OK' if ok else 'MISSED'}")
    print("  a signed-in trader's asset page, per request:")
    print("\n".join(work))
    growth = [rss_end[pid] / rss_warm[pid] - 1 for pid in rss_warm if pid in rss_end]
    print(
        f"  web workers' RSS after warm-up: {', '.join(f'{v:.0f}' for v in rss_warm.values())} MiB; after {served:,} "
        f"requests: {', '.join(f'{v:.0f}' for v in rss_end.values())} MiB; growth "
        f"{max(growth, default=float('nan')) * 100:+.1f} % at most ({len(growth)} of {len(rss_warm)} workers the same process)"
    )
    if sse_note:
        beside = runs[3]
        ok = beside.rps >= 200 and beside.p95 < 200 and not beside.errors
        print(sse_note)
        print(f"  target for {beside.label}: >= 200 requests/s at p95 < 200 ms, 0 errors -> {'OK' if ok else 'MISSED'}")


if __name__ == "__main__":
    main()
