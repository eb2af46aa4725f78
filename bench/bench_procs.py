"""Shared by the benchmarks that run the platform's own processes: ports, start-up, resident size."""

from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path
from typing import IO

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_http(port: int, timeout: float = 60, what: str = "gunicorn") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{what} did not start")


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def start_uvicorn(port: int, env: dict[str, str], log: IO[bytes] | int = subprocess.DEVNULL) -> subprocess.Popen[bytes]:
    """The live-events process as Procfile.production runs it: uvicorn, one worker; back once it listens."""
    command = [str(ROOT / ".venv" / "bin" / "uvicorn"), "liqplatform.asgi:application", "--host", "127.0.0.1",
               "--port", str(port), "--workers", "1", "--no-access-log", "--log-level", "warning"]  # fmt: skip
    proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_http(port, timeout=30, what="uvicorn")
    except RuntimeError:
        proc.kill()
        raise
    return proc
