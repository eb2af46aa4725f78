"""Fault runs, each scripted and repeatable on loopback; prints what happened, asserts nothing.

  worker-recompute  a Celery worker's process SIGKILLed in the middle of a recompute of every timeframe
  worker-ingest     the same in the middle of a backfill from a slow exchange stand-in
  pg-import         PostgreSQL terminates the connection of an import in the middle of its write
  exchange-faults   the exchange stand-in answers 429/418/500/timeouts for --minutes, then recovers
  redis-restart     Redis shut down and restarted under page load (only with --redis-restart: it
                    restarts the machine's Redis, so never while anything else uses it)
  reload            pages at a steady rate through a reload of gunicorn: HUP (all workers at once)
                    against scripts/reload.sh (one at a time); p50/p95/max of each

Uses the liqplatform_bench database and Redis db 13. Run: .venv/bin/python bench/faults.py [names…]
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ["REDIS_URL"] = os.environ.get("LIQ_FAULTS_REDIS_URL", "redis://127.0.0.1:6379/13")
from bench_db import setup

setup()

import numpy as np  # noqa: E402
import redis  # noqa: E402
from django.conf import settings  # noqa: E402
from django.db import connection  # noqa: E402

from heatmaps.engine import TIMEFRAMES  # noqa: E402
from heatmaps.maps import heatmap_compute, read_heatmap  # noqa: E402
from heatmaps.marketdata import find_gaps, ms_to_dt, upsert_candles, upsert_open_interest  # noqa: E402
from heatmaps.models import Asset, Candle, Exchange, Heatmap  # noqa: E402
from heatmaps.rows import BASE_BAR_MS, CandleRow, OpenInterestRow  # noqa: E402
from liqplatform.celery import app  # noqa: E402
from tests.heatmaps.exchanges.fake_exchange import FakeExchange, Series  # noqa: E402

ROOT = Path(settings.BASE_DIR)
LOG_DIR = ROOT / "var" / "faults"
FAKE_SYMBOL = "FAULTINGUSDT"


def say(scenario: str, text: str) -> None:
    print(f"[{scenario}] {text}", flush=True)


def wait_until(predicate: Callable[[], Any], timeout: float, interval: float = 0.1) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    return None


class Worker:
    """A real prefork Celery worker with one child process, so the child can be killed like an OOM kill."""

    def __init__(self, name: str, env: dict[str, str]) -> None:
        LOG_DIR.mkdir(parents=True, exist_ok=True)
        self.log_path = LOG_DIR / f"{name}.log"
        self.node = f"{name}-{os.getpid()}@{socket.gethostname()}"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "liqplatform", "worker", "--pool=prefork", "--concurrency=1",
             "-Q", "ingest,compute,notify", "-n", self.node, "--loglevel=INFO",
             "--without-heartbeat", "--without-gossip", "--without-mingle"],
            cwd=ROOT, env={**os.environ, **env}, stdout=self.log_path.open("wb"), stderr=subprocess.STDOUT,
        )  # fmt: skip
        if not wait_until(lambda: app.control.ping(destination=[self.node], timeout=0.5), 60):
            raise RuntimeError(f"worker did not start; see {self.log_path}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def kill_child(self) -> int:
        children = subprocess.run(["pgrep", "-P", str(self.proc.pid)], capture_output=True, text=True).stdout.split()
        pid = int(children[0])
        os.kill(pid, signal.SIGKILL)
        return pid

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def synthetic_asset(symbol: str, *, days: int) -> Asset:
    binance = Exchange.get_supported("binance")
    asset, _ = Asset.objects.get_or_create(
        symbol=symbol,
        defaults={"display_name": f"{symbol} fault run", "base": symbol[:-4], "reference_exchange": binance},
    )
    asset.exchanges.add(binance)
    if Candle.objects.filter(asset=asset).count() >= days * 288:
        return asset
    rng = np.random.default_rng(11)
    n = days * 288
    now_ms = int(time.time() * 1000)
    start = now_ms - now_ms % BASE_BAR_MS - n * BASE_BAR_MS
    close = 30_000 * np.exp(np.cumsum(rng.normal(0, 0.002, n)))
    oi = 1e9 * np.exp(np.cumsum(rng.normal(0, 0.003, n)))
    candles = [
        CandleRow(open_time_ms=start + i * BASE_BAR_MS, open=float(c), high=float(c * 1.002), low=float(c * 0.998),
                  close=float(c), volume=10.0, quote_volume=float(c * 10), taker_buy_volume=5.0)
        for i, c in enumerate(close)
    ]  # fmt: skip
    ois = [
        OpenInterestRow(time_ms=start + i * BASE_BAR_MS, oi_base=float(v / close[i]), oi_value=float(v))
        for i, v in enumerate(oi)
    ]  # fmt: skip
    upsert_candles(asset=asset, exchange=binance, rows=candles)
    upsert_open_interest(asset=asset, exchange=binance, rows=ois, simulated=True)
    return asset


def maps_intact(asset: Asset) -> tuple[bool, dict[str, int]]:
    versions = {}
    for m in Heatmap.objects.filter(asset=asset):
        stored = read_heatmap(asset=asset, timeframe=m.timeframe)
        if stored is None or not np.isfinite(stored.long).all() or stored.long.shape[0] != len(stored.times):
            return False, {}
        versions[m.timeframe] = m.version
    return len(versions) == len(TIMEFRAMES), versions


def worker_recompute(env: dict[str, str]) -> None:
    name = "worker-recompute"
    asset = synthetic_asset("FAULTUSDT", days=730)
    heatmap_compute(asset=asset, timeframes=list(TIMEFRAMES))
    _, before = maps_intact(asset)
    last = Candle.objects.filter(asset=asset).order_by("-open_time").first()
    assert last is not None
    Candle.objects.filter(pk=last.pk).update(close=last.close * 1.01, high=last.high * 1.01)  # a new map is due
    worker = Worker(name, env)
    try:
        result = app.send_task("heatmaps.recompute_asset", args=[asset.pk, None])
        wait_until(lambda: f"recompute_asset[{result.id}] received" in worker.log(), 30)
        time.sleep(0.4)  # inside load_base_bars / the engine / the stores
        killed = worker.kill_child()
        say(name, f"SIGKILLed the worker process {killed} while it recomputed 9 maps from 2 years of bars")
        intact_now, mid = maps_intact(asset)
        say(name, f"right after the kill: every map readable and whole = {intact_now}; "
                  f"{sum(mid[k] != before[k] for k in mid)} of 9 already at a new version")  # fmt: skip
        done = wait_until(lambda: f"recompute_asset[{result.id}] succeeded" in worker.log(), 120, 0.5)
        lost = "WorkerLostError" in worker.log() or "Process" in worker.log()
        intact, after = maps_intact(asset)
        bumped = {k: after[k] - before[k] for k in after}
        say(name, f"task re-run after the loss: {bool(done)} (worker-lost reported: {lost}); maps intact: {intact}; "
                  f"version steps per map: {sorted(set(bumped.values()))} (1 = recomputed once, no duplicate version)")  # fmt: skip
    finally:
        worker.stop()


def fault_ingest_asset() -> Asset:
    """The asset the exchange stand-in serves (under its own symbol, so no real asset's data is touched)."""
    binance = Exchange.get_supported("binance")
    asset, _ = Asset.objects.get_or_create(
        symbol=FAKE_SYMBOL,
        defaults={"display_name": "ingest fault run", "base": "FAULTING", "reference_exchange": binance},
    )
    asset.exchanges.set([binance])
    return asset


def worker_ingest(env: dict[str, str], fake: FakeExchange) -> None:
    name = "worker-ingest"
    binance = Exchange.get_supported("binance")
    asset = fault_ingest_asset()
    Candle.objects.filter(asset=asset).delete()
    fake.clear_faults()
    fake.slow_next(0.6, path="/fapi/v1/klines", times=40)  # a slow exchange: the backfill takes a while
    worker = Worker(name, env)
    try:
        window_start_ms = int(time.time() * 1000) - 7 * 86_400_000
        expected = sum(1 for i in range(fake.series.bars) if fake.series.bar_time(i) >= window_start_ms)
        result = app.send_task("heatmaps.backfill_asset", args=[asset.pk, 7])
        wait_until(lambda: Candle.objects.filter(asset=asset).exists(), 60)
        rows_at_kill = Candle.objects.filter(asset=asset).count()
        killed = worker.kill_child()
        say(
            name, f"SIGKILLed the worker process {killed} mid-backfill with {rows_at_kill} of {expected} candles stored"
        )
        wait_until(lambda: f"backfill_asset[{result.id}] succeeded" in worker.log(), 180, 0.5)
        total = Candle.objects.filter(asset=asset).count()
        distinct = Candle.objects.filter(asset=asset).values("open_time").distinct().count()
        gaps = find_gaps(asset_id=asset.pk, exchange_id=binance.pk, since=ms_to_dt(fake.series.start_ms))
        say(name, f"after the re-run: {total} candles, {distinct} distinct times (duplicates: {total - distinct}), "
                  f"holes: {len(gaps)}; expected {expected} (every closed bar of the last 7 days)")  # fmt: skip
    finally:
        fake.clear_faults()
        worker.stop()


def pg_import(env: dict[str, str]) -> None:
    name = "pg-import"
    Asset.objects.filter(symbol="FAULTIMPUSDT").delete()
    n = 2 * 365 * 288
    start = 1_700_000_000_000 - 1_700_000_000_000 % BASE_BAR_MS
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "FAULTIMPUSDT-5m-2024.csv"
        with path.open("w") as f:
            for i in range(n):
                t = start + i * BASE_BAR_MS
                f.write(f"{t},100,101,99,100.5,12.5,{t + 299_999},1250,90,6.2,625,0\n")
        proc = subprocess.Popen(
            [sys.executable, "manage.py", "import_market_data", str(path), "--create-asset", "-v", "0"],
            cwd=ROOT, env={**os.environ, **env, "PGAPPNAME": "liq-fault-import"},
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip

        def writing() -> int | None:
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT pid FROM pg_stat_activity WHERE application_name = 'liq-fault-import' "
                    "AND state = 'active' AND (query ILIKE 'copy%%' OR query ILIKE 'insert%%')"
                )
                row = cursor.fetchone()
            return int(row[0]) if row else None

        pid = wait_until(writing, 120, 0.02)
        if pid is None:
            proc.wait()
            say(name, "the import finished before its write could be interrupted; run again")
            return
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_terminate_backend(%s)", [pid])
        _, err = proc.communicate(timeout=120)
    stored = Candle.objects.filter(asset__symbol="FAULTIMPUSDT").count()
    created = Asset.objects.filter(symbol="FAULTIMPUSDT").exists()
    lines = err.strip().splitlines()
    last_line = next((line for line in lines if line.startswith("error:")), lines[-1] if lines else "(no message)")
    say(name, f"terminated the import's connection mid-write: exit {proc.returncode}; message: {last_line[:160]}")
    say(name, f"rows of the {n} written: {stored}; asset half-created: {created} (all-or-nothing: 0 and False)")


def exchange_faults(env: dict[str, str], fake: FakeExchange, minutes: float) -> None:
    name = "exchange-faults"
    binance = Exchange.get_supported("binance")
    asset = fault_ingest_asset()
    Exchange.objects.filter(pk=binance.pk).update(degraded_since=None, last_error="")
    worker = Worker(name, env)
    statuses = [(429, 2.0), (418, 2.0), (500, None), (503, None)]
    deadline = time.monotonic() + minutes * 60
    ticks = 0
    degraded_seen = None
    try:
        while time.monotonic() < deadline:
            status, retry_after = statuses[ticks % len(statuses)]
            fake.clear_faults()
            if ticks % 5 == 4:
                fake.slow_next(15, times=50)  # beyond the client timeout
            else:
                fake.fail_next(status, times=50, retry_after=retry_after)
            app.send_task("heatmaps.ingest_asset_exchange", args=[asset.pk, binance.pk, "candles"])
            ticks += 1
            time.sleep(10)
            degraded_seen = degraded_seen or Exchange.objects.get(pk=binance.pk).degraded_since
        say(name, f"{ticks} ingest ticks against 429/418/500/503/timeouts for {minutes:g} min: "
                  f"marked degraded at {degraded_seen} (shown in the admin and on the asset page)")  # fmt: skip
        fake.clear_faults()
        recovered = wait_until(
            lambda: (
                app.send_task("heatmaps.ingest_asset_exchange", args=[asset.pk, binance.pk, "candles"])
                and Exchange.objects.get(pk=binance.pk).degraded_since is None
            ),
            300,
            15,
        )
        stored = Candle.objects.filter(asset=asset, exchange=binance).count()
        say(name, f"exchange answering again: degraded flag cleared automatically = {bool(recovered)}; "
                  f"{stored} candles stored, holes: {len(find_gaps(asset_id=asset.pk, exchange_id=binance.pk, since=ms_to_dt(fake.series.start_ms)))}")  # fmt: skip
    finally:
        fake.clear_faults()
        worker.stop()


def redis_restart(env: dict[str, str]) -> None:
    name = "redis-restart"
    port = 8797
    # One client address under load: the per-address API throttle's 429s would hide the faults looked for.
    web_env = {**os.environ, **env, "DEBUG": "0", "LIQ_TESTING": "0", "SECRET_KEY": "f" * 50,
               "ALLOWED_HOSTS": "127.0.0.1", "LIQ_BIND": f"127.0.0.1:{port}", "WEB_CONCURRENCY": "2",
               "STATIC_ROOT": str(ROOT / "var" / "bench-static"), "LIQ_LOG_LEVEL": "ERROR",
               "LIQ_API_ANON_RATE": "1000000/min"}  # fmt: skip
    subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--no-input", "-v", "0"], cwd=ROOT, env=web_env, check=True
    )
    web = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "liqplatform.wsgi", "-c", "liqplatform/gunicorn.conf.py"],
        cwd=ROOT, env=web_env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    worker = Worker(name, env)
    codes: list[int] = []
    stop = threading.Event()

    def load() -> None:
        while not stop.is_set():
            for path in ("/", "/assets/BTCUSDT/?tf=24h", "/api/v1/assets/BTCUSDT/heatmap/?timeframe=1w&cells=packed"):
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as r:
                        codes.append(r.status)
                except Exception as exc:  # count what a user would see
                    codes.append(getattr(exc, "code", 0))

    try:
        time.sleep(4)
        thread = threading.Thread(target=load, daemon=True)
        thread.start()
        time.sleep(3)
        subprocess.run(["redis-cli", "-p", "6379", "shutdown", "nosave"], check=False, capture_output=True)
        during_start = len(codes)
        time.sleep(8)
        during = codes[during_start:]
        subprocess.run(
            ["redis-server", "--daemonize", "yes", "--bind", "127.0.0.1", "-::1", "--port", "6379", "--save", "",
             "--appendonly", "no", "--dir", "/var/lib/redis", "--logfile", "/var/log/redis/ci.log"],
            check=True,
        )  # fmt: skip
        time.sleep(3)
        stop.set()
        thread.join(timeout=30)
        ok_during = sum(c == 200 for c in during)
        say(
            name,
            f"pages while Redis was down: {ok_during} of {len(during)} answered 200; overall {sum(c == 200 for c in codes)} of {len(codes)}",
        )
        r = app.send_task("heatmaps.heartbeat")
        resumed = wait_until(lambda: f"heartbeat[{r.id}] succeeded" in worker.log(), 60, 0.5)
        say(name, f"tasks resumed after the restart (worker reconnected, new task ran): {bool(resumed)}")
    finally:
        stop.set()
        web.terminate()
        worker.stop()


def ready_workers(run_dir: Path, port: int) -> set[str]:
    """The pids of the workers that have booted and warmed up (liqplatform/gunicorn.conf.py)."""
    ready = run_dir / f"gunicorn-127-0-0-1-{port}-ready"
    return {p.name for p in ready.iterdir()} if ready.is_dir() else set()


class SteadyLoad:
    """Requests at a fixed rate, each on its own thread: open loop, so a stalled server shows as slow
    answers rather than as fewer requests. Keeps (start, seconds, status) of each."""

    def __init__(self, port: int, rate: float, paths: list[str]) -> None:
        self.url = f"http://127.0.0.1:{port}"
        self.rate, self.paths = rate, paths
        self.samples: list[tuple[float, float, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _one(self, path: str) -> None:
        started = time.monotonic()
        try:
            with urllib.request.urlopen(self.url + path, timeout=30) as r:
                r.read()
                status = r.status
        except Exception as exc:  # count what a user would see
            status = getattr(exc, "code", 0)
        self.samples.append((started, time.monotonic() - started, status))

    def _run(self) -> None:
        n = 0
        t0 = time.monotonic()
        while not self._stop.is_set():
            threading.Thread(target=self._one, args=(self.paths[n % len(self.paths)],), daemon=True).start()
            n += 1
            time.sleep(max(0.0, t0 + n / self.rate - time.monotonic()))

    def start(self) -> SteadyLoad:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
        time.sleep(2)  # the last requests answer

    def summary(self, since: float, until: float) -> str:
        window = [(s, status) for started, s, status in self.samples if since <= started <= until]
        if not window:
            return "no requests"
        ms = np.array([s for s, _ in window]) * 1000
        errors = sum(status != 200 for _, status in window)
        return (
            f"{len(window)} requests, p50 {np.percentile(ms, 50):.0f} ms, p95 {np.percentile(ms, 95):.0f} ms, "
            f"max {ms.max():.0f} ms, {errors} not 200"
        )


def reload(env: dict[str, str], rate: float) -> None:
    """The same server, the same steady load, reloaded the old way (HUP) and the documented way."""
    name = "reload"
    port = 8798
    run_dir = Path(tempfile.mkdtemp(prefix="liq-reload-"))
    web_env = {**os.environ, **env, "DEBUG": "0", "LIQ_TESTING": "0", "SECRET_KEY": "f" * 50,
               "ALLOWED_HOSTS": "127.0.0.1", "LIQ_BIND": f"127.0.0.1:{port}", "LIQ_RUN_DIR": str(run_dir),
               "STATIC_ROOT": str(ROOT / "var" / "bench-static"), "LIQ_LOG_LEVEL": "ERROR",
               "LIQ_API_ANON_RATE": "1000000/min"}  # fmt: skip
    subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--no-input", "-v", "0"], cwd=ROOT, env=web_env, check=True
    )
    workers = int(web_env.get("WEB_CONCURRENCY") or (os.cpu_count() or 1) * 2 + 1)  # as gunicorn.conf.py
    # Pages that answer 200 whatever the bench database holds: what is measured is the server, not the data.
    paths = ["/", "/api/v1/assets/", "/model/", "/healthz"]
    for method in ("HUP", "scripts/reload.sh"):
        web = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "liqplatform.wsgi", "-c", "liqplatform/gunicorn.conf.py"],
            cwd=ROOT, env=web_env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            if not wait_until(lambda: len(ready_workers(run_dir, port)) >= workers, 60):
                raise RuntimeError("gunicorn did not start")
            old = ready_workers(run_dir, port)
            load = SteadyLoad(port, rate, paths).start()
            time.sleep(5)  # warm: every worker has rendered each page
            before = time.monotonic()
            time.sleep(5)
            signalled = time.monotonic()

            def all_new(old: set[str] = old) -> bool:
                now = ready_workers(run_dir, port)
                return len(now) == workers and not now & old

            if method == "HUP":
                os.kill(web.pid, signal.SIGHUP)
                wait_until(all_new, 60)
            else:
                subprocess.run(["scripts/reload.sh"], cwd=ROOT, env=web_env, check=True, capture_output=True)
            done = time.monotonic()
            time.sleep(3)
            load.stop()
            replaced = not ready_workers(run_dir, port) & old
            say(name, f"{method}: before, {load.summary(before, signalled)}")
            say(name, f"{method}: through the reload ({done - signalled:.1f} s, every worker replaced: {replaced}), "
                      f"{load.summary(signalled, done + 1)}")  # fmt: skip
        finally:
            web.terminate()
            web.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "names", nargs="*", default=["worker-recompute", "worker-ingest", "pg-import", "exchange-faults"]
    )
    parser.add_argument(
        "--minutes", type=float, default=1.0, help="how long the exchange misbehaves (10 in the README)"
    )
    parser.add_argument("--redis-restart", action="store_true", help="also restart the machine's Redis under load")
    parser.add_argument("--rate", type=float, default=40, help="requests a second through the reload scenario")
    args = parser.parse_args()
    redis.Redis.from_url(os.environ["REDIS_URL"]).flushdb()
    now_ms = int(time.time() * 1000)
    end_ms = now_ms - now_ms % BASE_BAR_MS
    with FakeExchange(
        Series(start_ms=end_ms - 2016 * BASE_BAR_MS, bars=2016), now_ms=end_ms + BASE_BAR_MS, binance_symbol=FAKE_SYMBOL
    ) as fake:
        env = {
            "DATABASE_URL": os.environ["DATABASE_URL"],
            "REDIS_URL": os.environ["REDIS_URL"],
            "LIQ_TESTING": "1",
            "LIQ_BINANCE_FAPI_URL": fake.base_url,
            "LIQ_BYBIT_URL": fake.base_url,
            "LIQ_OKX_URL": fake.base_url,
            "LIQ_HTTP_TIMEOUT": "3",
        }
        for name in args.names:
            started = time.perf_counter()
            if name == "worker-recompute":
                worker_recompute(env)
            elif name == "worker-ingest":
                worker_ingest(env, fake)
            elif name == "pg-import":
                pg_import(env)
            elif name == "exchange-faults":
                exchange_faults(env, fake, args.minutes)
            elif name == "reload":
                reload(env, args.rate)
            elif name == "redis-restart" and args.redis_restart:
                redis_restart(env)
            else:
                raise SystemExit(f"unknown scenario {name}")
            say(name, f"({time.perf_counter() - started:.0f} s)")
        if args.redis_restart and "redis-restart" not in args.names:
            redis_restart(env)


if __name__ == "__main__":
    main()
