"""Page benchmark: gunicorn on loopback (DEBUG=0, 2 workers) against a database with the sample data,
50 assets on the overview and a dense one-year map. Prints p50/p95 per page, the compressed size of
the 1y map payload the asset page reads, and requests/s under load (wrk when installed, else a
Python load generator). Asserts nothing.

The sample set has 33 days of bars, so its 1y map is mostly empty; BTC1YUSDT repeats the BTCUSDT series
eleven times back in time (prices scaled per copy) to give a 1y map as dense as a real year's.

Run: make bench  (or LIQ_TESTING=1 .venv/bin/python bench/bench_pages.py)
Database: LIQ_BENCH_PAGES_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/liqplatform_bench_pages).
"""

from __future__ import annotations

import gzip
import http.client
import os
import shutil
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
os.environ["LIQ_BENCH_DATABASE_URL"] = os.environ.get(
    "LIQ_BENCH_PAGES_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/liqplatform_bench_pages"
)
from bench_db import setup  # noqa: E402
from bench_procs import free_port  # noqa: E402

setup()

from django.db import connection  # noqa: E402

from heatmaps.maps import heatmap_compute  # noqa: E402
from heatmaps.marketdata import asset_summary_refresh, load_sample_data  # noqa: E402
from heatmaps.models import Asset, Candle  # noqa: E402

EXTRA = 47  # + BTCUSDT, ETHUSDT and BTC1YUSDT = 50 assets on the overview
YEAR_SYMBOL = "BTC1YUSDT"
SAMPLES = 200


def _copy_series(source: Asset, target: Asset, *, shift_days: int = 0, scale: float = 1.0) -> None:
    shift = f"interval '{int(shift_days)} days'"
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO heatmaps_candle (asset_id, exchange_id, open_time, open, high, low, close, volume, taker_buy_volume, quote_volume)
            SELECT %s, exchange_id, open_time - {shift}, open * %s, high * %s, low * %s, close * %s, volume, taker_buy_volume, quote_volume
            FROM heatmaps_candle WHERE asset_id = %s ON CONFLICT DO NOTHING
            """,
            [target.pk, scale, scale, scale, scale, source.pk],
        )
        cursor.execute(
            f"""
            INSERT INTO heatmaps_openinterest (asset_id, exchange_id, time, oi_base, oi_value, simulated)
            SELECT %s, exchange_id, time - {shift}, oi_base, oi_value * %s, simulated
            FROM heatmaps_openinterest WHERE asset_id = %s ON CONFLICT DO NOTHING
            """,
            [target.pk, scale, source.pk],
        )
        cursor.execute(
            f"""
            INSERT INTO heatmaps_fundingrate (asset_id, exchange_id, funding_time, rate, mark_price)
            SELECT %s, exchange_id, funding_time - {shift}, rate, mark_price * %s
            FROM heatmaps_fundingrate WHERE asset_id = %s ON CONFLICT DO NOTHING
            """,
            [target.pk, scale, source.pk],
        )


def populate() -> None:
    load_sample_data()
    btc = Asset.objects.get(symbol="BTCUSDT")
    eth = Asset.objects.get(symbol="ETHUSDT")
    binance = btc.reference_exchange
    created = []
    for i in range(EXTRA):
        source = btc if i % 2 == 0 else eth
        asset, new = Asset.objects.get_or_create(
            symbol=f"S{i:02d}{source.symbol}",
            defaults={
                "display_name": f"copy {i} of {source.symbol}",
                "base": f"S{i:02d}",
                "reference_exchange": binance,
            },
        )
        asset.exchanges.add(binance)
        if new:
            _copy_series(source, asset)
            created.append(asset)
    year, new = Asset.objects.get_or_create(
        symbol=YEAR_SYMBOL,
        defaults={"display_name": "BTCUSDT repeated over a year", "base": "BTC1Y", "reference_exchange": binance},
    )
    year.exchanges.add(binance)
    if new:
        newest = Candle.objects.filter(asset=btc).order_by("-open_time").first()
        oldest = Candle.objects.filter(asset=btc).order_by("open_time").first()
        assert newest and oldest
        span = (newest.open_time - oldest.open_time).days + 1
        for k in range(12):
            _copy_series(btc, year, shift_days=k * span, scale=1 + 0.08 * ((k * 7) % 5 - 2))
    if new or created or not btc.heatmaps.exists():
        print(f"computing maps for {len(created) + 2} assets …", flush=True)
        heatmap_compute(asset=btc)
        heatmap_compute(asset=eth, timeframes=["24h"])
        for asset in created:
            heatmap_compute(asset=asset, timeframes=["24h"])
        heatmap_compute(asset=year, timeframes=["24h", "1y"])
    for asset in Asset.objects.filter(enabled=True):
        asset_summary_refresh(asset=asset)


def start_gunicorn(port: int) -> subprocess.Popen[bytes]:
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
    proc = subprocess.Popen(
        [str(ROOT / ".venv" / "bin" / "gunicorn"), "liqplatform.wsgi", "-b", f"127.0.0.1:{port}", "-w", "2"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return proc
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError(f"gunicorn did not start: {proc.stderr.read().decode() if proc.stderr else ''}")


def timed_get(conn: http.client.HTTPConnection, path: str, headers: dict[str, str]) -> tuple[float, bytes, int]:
    started = time.perf_counter()
    conn.request("GET", path, headers={"Host": "127.0.0.1", **headers})
    response = conn.getresponse()
    body = response.read()
    return (time.perf_counter() - started) * 1000, body, response.status


def latency(port: int, path: str, headers: dict[str, str] | None = None) -> tuple[float, float, int]:
    conn = http.client.HTTPConnection("127.0.0.1", port)
    for _ in range(10):  # warm the caches and both workers
        timed_get(conn, path, headers or {})
    times = []
    size = 0
    for _ in range(SAMPLES):
        ms, body, status = timed_get(conn, path, headers or {})
        assert status == 200, (path, status)
        times.append(ms)
        size = len(body)
    conn.close()
    times.sort()
    return statistics.median(times), times[int(len(times) * 0.95)], size


def throughput(port: int, path: str, headers: dict[str, str] | None = None, seconds: float = 5.0) -> str:
    header_args = [a for k, v in (headers or {}).items() for a in ("-H", f"{k}: {v}")]
    if shutil.which("wrk"):
        out = subprocess.run(
            ["wrk", "-t2", "-c8", f"-d{int(seconds)}s", *header_args, f"http://127.0.0.1:{port}{path}"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        rps = next(line.split()[1] for line in out.splitlines() if line.startswith("Requests/sec"))
        return f"{float(rps):,.0f} req/s (wrk, 8 connections)"
    count = 0
    stop = time.monotonic() + seconds
    lock = threading.Lock()

    def worker() -> None:
        nonlocal count
        conn = http.client.HTTPConnection("127.0.0.1", port)
        while time.monotonic() < stop:
            timed_get(conn, path, headers or {})
            with lock:
                count += 1

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return f"{count / seconds:,.0f} req/s (Python client, 8 connections)"


def main() -> None:
    populate()
    connection.close()
    port = free_port()
    server = start_gunicorn(port)
    try:
        htmx = {"HX-Request": "true"}
        pages = [
            ("asset page, BTCUSDT 24h", "/assets/BTCUSDT/?tf=24h", {}, 50),
            ("HTMX timeframe swap, BTCUSDT 1w", "/assets/BTCUSDT/?tf=1w", htmx, 30),
            ("overview, 50 assets", "/", {}, 80),
            ("overview sorted by OI, HTMX", "/?sort=-oi", htmx, 80),
        ]
        print(f"gunicorn, 2 sync workers, DEBUG=0, loopback; {SAMPLES} sequential requests each after warm-up")
        print(f"{'page':40} {'p50':>8} {'p95':>8} {'target':>8} {'bytes':>8}")
        for name, path, headers, target in pages:
            p50, p95, size = latency(port, path, headers)
            print(f"{name:40} {p50:6.1f}ms {p95:6.1f}ms {target:6d}ms {size:8,d}")
        conn = http.client.HTTPConnection("127.0.0.1", port)
        for label, cells in (("cells=packed, as the page reads it", "packed"), ("cells=sparse triples", "sparse")):
            _, body, status = timed_get(
                conn, f"/api/v1/assets/{YEAR_SYMBOL}/heatmap/?timeframe=1y&cells={cells}", {"Accept-Encoding": "gzip"}
            )
            assert status == 200, status
            raw = gzip.decompress(body)
            print(f"1y map payload ({label}): {len(body) / 1024:,.1f} KB gzip ({len(raw) / 1024:,.0f} KB raw)")
        conn.close()
        print("requests/s on 2 cores (server and load generator share them):")
        print(f"  asset page         {throughput(port, '/assets/BTCUSDT/?tf=24h')}")
        print(f"  HTMX swap          {throughput(port, '/assets/BTCUSDT/?tf=1w', htmx)}")
        print(f"  overview, 50       {throughput(port, '/')}")
    finally:
        server.terminate()
        server.wait(timeout=20)


if __name__ == "__main__":
    main()
