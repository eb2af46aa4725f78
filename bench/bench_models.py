"""Model benchmark: the map API under gunicorn (DEBUG=0, 2 sync workers, loopback) on the sample data,
1w maps of each model (heatmaps/model_choice.py). Prints p50/p95 per case; asserts nothing, but says
whether a custom model's cold 1w map meets its target (p50 <= 300 ms).

Cases, each N sequential requests after warm-up:
- v1 with a filter (lev=high), cold: the filtered map and its body dropped from the cache before each request;
- v2 as stored (the row the low-priority follow-up wrote);
- custom parameters (model=custom&mp=...&mmr=...), cold: parameters never asked before (mmr nudged per
  request: a new parameter hash, so bars loaded, engine run, grids through the codec, JSON built), and
  warm (the same link again: one cache entry whoever asks);
- a compare of v2 against v1 (both sides drawn from v1's run of bars): the difference as a PNG (what the
  compare page shows) cold and warm, and the JSON above a USD floor (with none, every cell of two maps
  that differ almost everywhere is listed: ~5 MB).

Run: make bench  (or LIQ_TESTING=1 .venv/bin/python bench/bench_models.py)
Database: LIQ_BENCH_MODELS_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/liqplatform_bench_models);
port: LIQ_BENCH_PORT (default: a free one).
"""

from __future__ import annotations

import http.client
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
os.environ["LIQ_BENCH_DATABASE_URL"] = os.environ.get(
    "LIQ_BENCH_MODELS_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/liqplatform_bench_models"
)
os.environ.setdefault("LIQ_API_ANON_RATE", "1000000/min")
os.environ.setdefault("LIQ_API_USER_RATE", "1000000/min")
from bench_db import setup  # noqa: E402
from bench_procs import free_port, wait_http  # noqa: E402

setup()

from django.core.cache import cache  # noqa: E402
from django.db import connection  # noqa: E402

from heatmaps.maps import heatmap_compute  # noqa: E402
from heatmaps.marketdata import load_sample_data  # noqa: E402
from heatmaps.models import Asset, Heatmap  # noqa: E402

SAMPLES = int(os.environ.get("LIQ_BENCH_SAMPLES", "60"))
TARGET_MS = 300.0
MAP = "/api/v1/assets/BTCUSDT/heatmap/?cells=packed&timeframe=1w"
COMPARE = "/api/v1/assets/BTCUSDT/heatmap/compare/?timeframe=1w&a=model%3Dv2&b=model%3Dv1"
CUSTOM = "model=custom&mp=5:0.1:720,10:0.25:240,25:0.3:64,50:0.2:24,100:0.15:8"


def populate() -> None:
    if not Heatmap.objects.filter(asset__symbol="BTCUSDT", timeframe="1w", model="v2").exists():
        load_sample_data()
        btc = Asset.objects.get(symbol="BTCUSDT")
        heatmap_compute(asset=btc, timeframes=["24h", "1w"])
        heatmap_compute(asset=btc, timeframes=["24h", "1w"], model="v2", summary=False)
    connection.close()


def forget(*patterns: str) -> None:
    """Drop cached computed maps and bodies (the server's cache is the same Redis)."""
    client = cache._cache.get_client()  # type: ignore[attr-defined]
    for pattern in patterns:
        keys = list(client.scan_iter(pattern))
        if keys:
            client.delete(*keys)


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
        "DATABASE_URL": os.environ["LIQ_BENCH_DATABASE_URL"],
    }
    command = [str(ROOT / ".venv" / "bin" / "gunicorn"), "liqplatform.wsgi", "-b", f"127.0.0.1:{port}", "-w", "2"]
    proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_http(port, timeout=30)
    except RuntimeError:
        proc.kill()
        raise
    return proc


def timed(conn: http.client.HTTPConnection, path: str) -> float:
    started = time.perf_counter()
    conn.request("GET", path, headers={"Host": "127.0.0.1", "Accept-Encoding": "gzip"})
    response = conn.getresponse()
    response.read()
    ms = (time.perf_counter() - started) * 1000
    assert response.status == 200, (path, response.status)
    return ms


def measure(port: int, path_of: Callable[[int], str], before: Callable[[], None] | None = None) -> tuple[float, float]:
    conn = http.client.HTTPConnection("127.0.0.1", port)
    for i in range(4):  # both workers warm (imports, connections)
        timed(conn, path_of(-1 - i))
    times = []
    for i in range(SAMPLES):
        if before is not None:
            before()
        times.append(timed(conn, path_of(i)))
    conn.close()
    times.sort()
    return statistics.median(times), times[int(len(times) * 0.95)]


def main() -> None:
    populate()
    port = int(os.environ.get("LIQ_BENCH_PORT") or free_port())
    server = start_gunicorn(port)
    try:
        load = os.getloadavg()
        print(
            f"model benchmark: gunicorn, 2 sync workers, DEBUG=0, loopback; sample data, 1w maps; "
            f"{SAMPLES} sequential requests per case; load average {load[0]:.2f} at start"
        )
        print(f"  {'case':<42} {'p50 ms':>8} {'p95 ms':>8}")
        cases: list[tuple[str, Callable[[int], str], Callable[[], None] | None]] = [
            ("v1, lev=high, cold", lambda i: f"{MAP}&lev=high", lambda: forget("*:filtered:*", "*heatmap-*")),
            ("v1, lev=high, warm", lambda i: f"{MAP}&lev=high", None),
            ("v2 stored", lambda i: f"{MAP}&model=v2", None),
            ("v2 stored + lev=high + exchange, cold", lambda i: f"{MAP}&model=v2&lev=high&exchange=binance",
             lambda: forget("*:filtered:*", "*heatmap-*")),
            ("custom, cold (new parameters each time)", lambda i: f"{MAP}&{CUSTOM}&mmr={0.004 + (i + 10) * 1e-6:.6f}", None),
            ("custom, warm (the same link)", lambda i: f"{MAP}&{CUSTOM}&mmr=0.004", None),
            ("compare v2 vs v1, PNG, cold", lambda i: f"{COMPARE}&format=png", lambda: forget("*:filtered:*")),
            ("compare v2 vs v1, PNG, warm", lambda i: f"{COMPARE}&format=png", None),
            ("compare v2 vs v1, JSON min_usd=100000, warm", lambda i: f"{COMPARE}&min_usd=100000", None),
        ]  # fmt: skip
        results = {}
        for label, path_of, before in cases:
            p50, p95 = measure(port, path_of, before)
            results[label] = p50
            print(f"  {label:<42} {p50:8.1f} {p95:8.1f}")
        cold = results["custom, cold (new parameters each time)"]
        verdict = "meets" if cold <= TARGET_MS else "MISSES"
        print(f"  custom 1w cold p50 {cold:.1f} ms {verdict} its target of {TARGET_MS:.0f} ms")
    finally:
        server.terminate()
        server.wait(timeout=10)


if __name__ == "__main__":
    main()
