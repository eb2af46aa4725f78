"""A reload the documented way (scripts/reload.sh) under a small steady load: gunicorn from the
production config, every worker replaced, no request failed or stalled."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

from django.conf import settings

ROOT = Path(settings.BASE_DIR)
RATE = 20  # requests a second
STALL = 3.0  # seconds: HUP's stall is longer than this on 2 cores, a rolling reload far shorter


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def ready_workers(run_dir: Path, port: int) -> set[str]:
    ready = run_dir / f"gunicorn-127-0-0-1-{port}-ready"
    return {p.name for p in ready.iterdir()} if ready.is_dir() else set()


def wait_for(predicate: object, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return True
        time.sleep(0.1)
    return False


def test_a_rolling_reload_under_load_fails_and_stalls_nothing(tmp_path: Path) -> None:
    port = free_port()
    run_dir = tmp_path / "run"
    env = {
        **os.environ,
        "DEBUG": "0",
        "LIQ_TESTING": "0",
        "SECRET_KEY": "r" * 50,
        "ALLOWED_HOSTS": "127.0.0.1",
        "LIQ_BIND": f"127.0.0.1:{port}",
        "LIQ_RUN_DIR": str(run_dir),
        "WEB_CONCURRENCY": "2",
        "LIQ_WEB_THREADS": "2",
        "LIQ_STATIC_MANIFEST": "0",
        "LIQ_LOG_LEVEL": "ERROR",
    }
    web = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "liqplatform.wsgi", "-c", "liqplatform/gunicorn.conf.py"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    samples: list[tuple[float, int]] = []
    stop = threading.Event()

    def one() -> None:
        started = time.monotonic()
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=10) as r:
                status = r.status
        except Exception as exc:  # what a visitor would see
            status = getattr(exc, "code", 0)
        samples.append((time.monotonic() - started, status))

    def steady() -> None:
        n, t0 = 0, time.monotonic()
        while not stop.is_set():
            threading.Thread(target=one, daemon=True).start()
            n += 1
            time.sleep(max(0.0, t0 + n / RATE - time.monotonic()))

    try:
        assert wait_for(lambda: len(ready_workers(run_dir, port)) == 2, 20), "gunicorn did not start"
        old = ready_workers(run_dir, port)
        load = threading.Thread(target=steady, daemon=True)
        load.start()
        time.sleep(1)
        reload = subprocess.run(["scripts/reload.sh"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=25)
        assert reload.returncode == 0, reload.stderr
        time.sleep(1)
        stop.set()
        load.join()
        time.sleep(0.5)
        new = ready_workers(run_dir, port)
        assert len(new) == 2 and not new & old  # every worker replaced, the same number serving
        assert web.poll() is None  # the master itself stayed
        assert len(samples) >= RATE * 3
        failed = [status for _, status in samples if status != 200]
        assert failed == []
        slowest = max(seconds for seconds, _ in samples)
        assert slowest < STALL, f"a request took {slowest:.1f} s"
    finally:
        stop.set()
        web.send_signal(signal.SIGTERM)
        web.wait(timeout=30)
