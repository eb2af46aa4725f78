"""gunicorn settings for liqplatform (`make serve`, docs/deploy.md). Every value can be overridden
by the environment variable named beside it."""

import multiprocessing
import os

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
accesslog = "-"
errorlog = "-"
access_log_format = '%(h)s "%(r)s" %(s)s %(B)s bytes %(M)s ms rid=%({x-request-id}o)s "%(a)s"'


def child_exit(server: object, worker: object) -> None:
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
