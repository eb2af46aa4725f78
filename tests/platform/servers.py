"""The production web server started the way it is deployed, for tests that need a real one."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from django.conf import settings

from tests.conftest import _database_url, _die_with_parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def production_gunicorn(log_name: str, **env_overrides: str) -> Iterator[str]:
    """gunicorn with the production config file (its worker warm-up hook included), two workers, on a
    free port over the test database and Redis; yields its base URL. ``env_overrides`` size it or
    set limits; its output goes to ``var/<log_name>``."""
    port = free_port()
    env = {
        **os.environ,
        "LIQ_TESTING": "1",
        "DATABASE_URL": _database_url(settings.DATABASES["default"]),
        "REDIS_URL": settings.REDIS_URL,
        "LIQ_LOG_LEVEL": "WARNING",
        "LIQ_BIND": f"127.0.0.1:{port}",
        "WEB_CONCURRENCY": "2",
        "LIQ_WEB_THREADS": "2",
        **env_overrides,
    }
    log_path = Path(settings.BASE_DIR) / "var" / log_name
    log_path.parent.mkdir(exist_ok=True)
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [str(Path(sys.executable).with_name("gunicorn")), "liqplatform.wsgi", "-c", "liqplatform/gunicorn.conf.py"],
            cwd=settings.BASE_DIR,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            preexec_fn=_die_with_parent,
        )
        try:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                assert proc.poll() is None, f"gunicorn exited with {proc.returncode}; see {log_path}"
                with socket.socket() as sock:
                    if sock.connect_ex(("127.0.0.1", port)) == 0:
                        break
                time.sleep(0.2)
            else:
                raise AssertionError(f"gunicorn did not listen within 30 s; see {log_path}")
            yield f"http://127.0.0.1:{port}"
        finally:
            proc.terminate()
            proc.wait(timeout=20)
