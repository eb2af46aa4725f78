"""The ASGI application in a uvicorn process of its own, as deployed: the live event stream is an
async view that only an ASGI server streams (under WSGI Django would buffer an endless response)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from django.conf import settings

from tests.conftest import _database_url, _die_with_parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def asgi_server(
    *, keepalive_seconds: int = 1, static_root: Path | None = None, extra_env: dict[str, str] | None = None
) -> Iterator[str]:
    """Yield the base URL of a uvicorn process serving liqplatform.asgi against the test database; with
    ``static_root``, the static files are collected there first and served from it (WhiteNoise)."""
    port = free_port()
    env = {
        **os.environ,
        "LIQ_TESTING": "1",
        "DATABASE_URL": _database_url(settings.DATABASES["default"]),
        "REDIS_URL": settings.REDIS_URL,
        "LIQ_LIVE_KEEPALIVE_SECONDS": str(keepalive_seconds),
        **({"STATIC_ROOT": str(static_root)} if static_root else {}),
        **(extra_env or {}),
    }
    if static_root is not None:
        subprocess.run(
            [sys.executable, "manage.py", "collectstatic", "--noinput", "-v0"],
            cwd=settings.BASE_DIR,
            env=env,
            check=True,
        )
    log_path = Path(settings.BASE_DIR) / "var" / "test-asgi.log"
    log_path.parent.mkdir(exist_ok=True)
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [
                *(sys.executable, "-m", "uvicorn", "liqplatform.asgi:application", "--host", "127.0.0.1"),
                *("--port", str(port), "--log-level", "warning", "--timeout-graceful-shutdown", "1"),
            ],
            cwd=settings.BASE_DIR,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            preexec_fn=_die_with_parent,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 30
            while True:
                if proc.poll() is not None:
                    raise RuntimeError(f"uvicorn exited with {proc.returncode}; see {log_path}")
                try:
                    httpx.get(f"{base}/healthz", timeout=1)
                    break
                except httpx.HTTPError:
                    if time.monotonic() > deadline:
                        raise RuntimeError(f"uvicorn did not answer within 30 s; see {log_path}") from None
                    time.sleep(0.2)
            yield base
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
