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
# Recycle workers now and then so a slow leak can never take a process down.
max_requests = 2000
max_requests_jitter = 200
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
