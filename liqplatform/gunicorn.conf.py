"""gunicorn settings for liqplatform (`make serve`, docs/deploy.md). Every value can be overridden
by the environment variable named beside it."""

import multiprocessing
import os
import re
import shutil
from pathlib import Path

bind = os.environ.get("LIQ_BIND", f"127.0.0.1:{os.environ.get('LIQ_PORT', '8000')}")
# Requests are short and mostly wait on PostgreSQL/Redis: the usual 2 x cores + 1 sync workers,
# each with a few threads so a slow map read doesn't hold a whole worker.
workers = int(os.environ.get("WEB_CONCURRENCY", multiprocessing.cpu_count() * 2 + 1))
threads = int(os.environ.get("LIQ_WEB_THREADS", "4"))
worker_class = "gthread"
# A request that takes 30 s is a bug, not a big map: the 1y map answers in well under a second.
timeout = int(os.environ.get("LIQ_WEB_TIMEOUT", "30"))
graceful_timeout = 20
keepalive = 5
# Recycle workers now and then so a slow leak can never take a process down; not so often that
# booting replacements costs a busy site real CPU (2 000 meant a restart every 10 s per worker at 200/s).
max_requests = int(os.environ.get("LIQ_WEB_MAX_REQUESTS", "50000"))
max_requests_jitter = max_requests // 10
# Behind a reverse proxy only: trust its X-Forwarded-* headers (LIQ_BEHIND_PROXY=1).
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1,::1")
# Where scripts/reload.sh finds this server: the master's pid, and one file per worker that has
# booted and warmed up (named by its pid). Named after the address, so servers side by side on one
# machine (benchmarks, tests) keep apart.
_run_dir = Path(os.environ.get("LIQ_RUN_DIR", Path(__file__).resolve().parent.parent / "var" / "run"))
_name = "gunicorn-" + re.sub(r"[^A-Za-z0-9]+", "-", bind).strip("-")
pidfile = str(_run_dir / f"{_name}.pid")
_ready_dir = _run_dir / f"{_name}-ready"
_run_dir.mkdir(parents=True, exist_ok=True)
accesslog = "-"
errorlog = "-"
access_log_format = '%(h)s "%(r)s" %(s)s %(B)s bytes %(M)s ms rid=%({x-request-id}o)s "%(a)s"'


def on_starting(server: object) -> None:
    # Ready files left by a server that was killed outright name workers that are long gone.
    shutil.rmtree(_ready_dir, ignore_errors=True)
    _ready_dir.mkdir(parents=True, exist_ok=True)


def on_exit(server: object) -> None:
    shutil.rmtree(_ready_dir, ignore_errors=True)


def child_exit(server: object, worker: object) -> None:
    (_ready_dir / str(worker.pid)).unlink(missing_ok=True)  # type: ignore[attr-defined]
    # Prometheus multiprocess mode: drop the metrics files of a worker that has gone.
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)  # type: ignore[attr-defined]


def post_worker_init(worker: object) -> None:
    # Import every view (the URLconf) and compile the busiest templates now, so the first request a
    # fresh worker takes doesn't pay half a second for them.
    from django.template.loader import get_template
    from django.urls import get_resolver

    get_resolver().url_patterns  # noqa: B018 - evaluating it imports the views
    for name in ("base.html", "heatmaps/index.html", "heatmaps/asset.html"):
        get_template(name)
    # Only now is this worker worth waiting for: scripts/reload.sh retires an old worker when it sees this.
    (_ready_dir / str(os.getpid())).touch()
