"""Load benchmark: the production stack (gunicorn, DEBUG=0) under a mixed request load while a
backfill and heat-map recomputes run beside it.

Mix (equal shares): overview, asset page, HTMX timeframe swap (two of five), the 1y map's data.
Load from wrk (Debian package; scripts/bench-deps.sh installs it). Prints requests/s, p50/p95/p99
latency and errors; asserts nothing. Uses the liqplatform_bench database and Redis db 12.
Run: make bench  (or .venv/bin/python bench/bench_load.py [--seconds 30] [--connections 32])
"""

from __future__ import annotations

import argparse
import os
import re
import secrets
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ["REDIS_URL"] = os.environ.get("LIQ_BENCH_REDIS_URL", "redis://127.0.0.1:6379/12")
from bench_db import setup

setup()

from django.conf import settings  # noqa: E402
from django.db import connection  # noqa: E402

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


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_http(port: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError("gunicorn did not start")


def backfill_loop(stop: threading.Event, counts: dict[str, int]) -> None:
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
            counts["backfills"] += 1
        conn.close()
    connection.close()


def recompute_loop(stop: threading.Event, counts: dict[str, int]) -> None:
    """Every timeframe of both sample assets recomputed back to back (what a backfill triggers)."""
    assets = list(Asset.objects.filter(symbol__in=["BTCUSDT", "ETHUSDT"]))
    while not stop.is_set():
        for asset in assets:
            heatmap_compute(asset=asset, timeframes=list(TIMEFRAMES))
            counts["recomputes"] += 1
    connection.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=30)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--quiet-machine", action="store_true", help="no backfill or recompute beside the load")
    args = parser.parse_args()

    load_sample_data()
    for asset in Asset.objects.filter(symbol__in=["BTCUSDT", "ETHUSDT"]):
        heatmap_compute(asset=asset, timeframes=list(TIMEFRAMES))
    static_root = ROOT / "var" / "bench-static"
    port = free_port()
    env = {
        **os.environ,
        "DEBUG": "0",
        "LIQ_TESTING": "0",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "ALLOWED_HOSTS": "127.0.0.1",
        "STATIC_ROOT": str(static_root),
        "LIQ_LOG_FORMAT": "plain",
        "LIQ_LOG_LEVEL": "WARNING",
        "LIQ_BIND": f"127.0.0.1:{port}",
        "WEB_CONCURRENCY": os.environ.get("WEB_CONCURRENCY", "3"),
        # One load generator is one address: measure the server, not the per-address API throttle.
        "LIQ_API_ANON_RATE": "1000000/min",
    }
    subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--no-input", "-v", "0"], cwd=ROOT, env=env, check=True
    )
    gunicorn = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "liqplatform.wsgi", "-c", "liqplatform/gunicorn.conf.py",
         "--access-logfile", "/dev/null"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    stop = threading.Event()
    counts = {"backfills": 0, "recomputes": 0}
    workers = [
        threading.Thread(target=backfill_loop, args=(stop, counts), daemon=True),
        threading.Thread(target=recompute_loop, args=(stop, counts), daemon=True),
    ]
    try:
        wait_http(port)
        for path in ("/", "/assets/BTCUSDT/?tf=24h", MAP_DATA):  # warm the caches
            subprocess.run(["curl", "-s", "-o", "/dev/null", f"http://127.0.0.1:{port}{path}"], check=False)
        for t in workers if not args.quiet_machine else []:
            t.start()
        out = subprocess.run(
            ["wrk", "-t2", f"-c{args.connections}", f"-d{args.seconds}s", "--timeout", "5s",
             "-s", str(ROOT / "bench" / "load_mix.lua"), f"http://127.0.0.1:{port}"],
            capture_output=True, text=True, check=True,
        ).stdout  # fmt: skip
    finally:
        stop.set()
        for t in workers:
            if t.is_alive():
                t.join(timeout=120)
        gunicorn.terminate()
        gunicorn.wait(timeout=30)
    m = re.search(r"RESULT (.*)", out)
    if not m:
        print(out)
        raise SystemExit("wrk printed no result")
    r = {k: int(v) for k, v in (kv.split("=") for kv in m.group(1).split())}
    rps = r["requests"] / (r["duration_us"] / 1e6)
    errors = r["non2xx"] + r["connect"] + r["read"] + r["write"] + r["timeout"]
    print(
        f"load: {args.connections} connections for {args.seconds} s, mix of overview / asset page / HTMX swap / 1y map"
    )
    print(
        f"  running beside it: {'nothing' if args.quiet_machine else str(counts['backfills']) + ' 30-day backfills, ' + str(counts['recomputes']) + ' all-timeframe recomputes'}"
    )
    print(f"  {rps:,.0f} requests/s   p50 {r['p50_us'] / 1000:.1f} ms   p95 {r['p95_us'] / 1000:.1f} ms   "
          f"p99 {r['p99_us'] / 1000:.1f} ms   max {r['max_us'] / 1000:.0f} ms")  # fmt: skip
    print(f"  errors: {errors} (non-2xx {r['non2xx']}, socket {errors - r['non2xx']})")
    print(
        f"  target: >= 200 requests/s at p95 < 200 ms, 0 errors -> {'OK' if rps >= 200 and r['p95_us'] < 200_000 and not errors else 'MISSED'}"
    )


if __name__ == "__main__":
    main()
