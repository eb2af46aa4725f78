"""Request ids, log context and Prometheus metrics for the web and Celery processes.

Platform plumbing rather than product logic: every log line carries the request id (or the Celery
task id) that produced it, and `/metrics` exposes request latencies, task durations and failures,
plus the market side's own gauges (ingest lag, map age) collected at scrape time.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import re
import secrets
import time
import uuid
from collections.abc import Callable, Sequence
from contextvars import ContextVar
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client import multiprocess as prometheus_multiprocess
from prometheus_client.registry import Collector

log = logging.getLogger("liqplatform.observability")
request_id_var: ContextVar[str] = ContextVar("request_id", default="")
_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")

REQUEST_SECONDS = Histogram(
    "liq_http_request_duration_seconds",
    "Time to answer an HTTP request, by route and status class.",
    ["method", "route", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.5, 1.0, 2.5, 5.0),
)
TASK_SECONDS = Histogram(
    "liq_task_duration_seconds",
    "Run time of Celery tasks, by task name.",
    ["task"],
    buckets=(0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 15.0, 60.0, 300.0, 1800.0),
)
TASK_FAILURES = Counter("liq_task_failures_total", "Celery tasks that raised, by task name.", ["task"])
TASK_RETRIES = Counter("liq_task_retries_total", "Celery task retries, by task name.", ["task"])


class RequestIdMiddleware:
    """Takes the proxy's `X-Request-ID` when it is sane, else makes one; echoes it on the response;
    times the request for `liq_http_request_duration_seconds`."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        incoming = request.headers.get("X-Request-ID", "")
        request_id = incoming if _VALID_REQUEST_ID.match(incoming) else uuid.uuid4().hex
        # Not reset on the way out: Django logs 4xx/5xx responses after the middleware chain returns,
        # and those lines need the id too. The next request on this thread sets its own.
        request_id_var.set(request_id)
        started = time.perf_counter()
        response = self.get_response(request)
        match = getattr(request, "resolver_match", None)
        # The route pattern, not the path: one series per page, whatever the symbol or id.
        route = match.route if match is not None and match.route else "unmatched"
        REQUEST_SECONDS.labels(request.method or "", route, f"{response.status_code // 100}xx").observe(
            time.perf_counter() - started
        )
        response["X-Request-ID"] = request_id
        return response


class ContextFilter(logging.Filter):
    """Adds `request_id` and `task_id` to every record, empty when there is none."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get()
        task_id = ""
        try:
            from celery import current_task

            if current_task and current_task.request and current_task.request.id:
                task_id = str(current_task.request.id)
        except Exception:  # logging must never fail because Celery is half set up
            task_id = ""
        record.task_id = task_id
        return True


def _client_is_internal(request: HttpRequest) -> bool:
    try:
        address = ipaddress.ip_address(request.META.get("REMOTE_ADDR", ""))
    except ValueError:
        return False
    return address.is_loopback or address.is_private


def metrics_view(request: HttpRequest, *, collectors: Sequence[Collector] = ()) -> HttpResponse:
    """Prometheus text format. Token-protected when LIQ_METRICS_TOKEN is set; else internal addresses
    only, and never behind a proxy (LIQ_BEHIND_PROXY), where every address is the proxy's.

    ``collectors`` read the database at scrape time (the market side's gauges); the root URLconf
    passes them in, so this module needs no app of its own.
    """
    token = settings.LIQ_METRICS_TOKEN
    if token:
        supplied = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        if not secrets.compare_digest(supplied.encode(), token.encode()):
            return HttpResponse("metrics need the bearer token\n", status=401, content_type="text/plain")
    elif settings.BEHIND_PROXY:
        # Every request reaches us from the proxy's own address, so the address check would let the
        # whole internet in; the forwarded address is only as good as each proxy's configuration.
        log.warning(
            "/metrics refused: LIQ_BEHIND_PROXY=1 and no LIQ_METRICS_TOKEN; behind a proxy the scraper "
            "needs the token (Authorization: Bearer <token>)"
        )
        return HttpResponse("metrics need LIQ_METRICS_TOKEN behind a proxy\n", status=403, content_type="text/plain")
    elif not _client_is_internal(request):
        return HttpResponse("metrics are served to internal addresses only\n", status=403, content_type="text/plain")
    registry = CollectorRegistry()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        # gunicorn workers and Celery processes each write their own files; add them up here.
        prometheus_multiprocess.MultiProcessCollector(registry)
    else:
        from prometheus_client import REGISTRY

        registry = REGISTRY
    body = generate_latest(registry)
    for collector in collectors:
        scrape = CollectorRegistry()
        scrape.register(collector)
        body += generate_latest(scrape)
    return HttpResponse(body, content_type=CONTENT_TYPE_LATEST)


def connect_celery_signals() -> None:
    """Task durations, failures and retries; called once from the Celery app module."""
    from celery.signals import task_failure, task_postrun, task_prerun, task_retry

    started: dict[str, float] = {}

    @task_prerun.connect(weak=False)
    def _prerun(task_id: str | None = None, **_: Any) -> None:
        if task_id:
            started[task_id] = time.perf_counter()

    @task_postrun.connect(weak=False)
    def _postrun(task_id: str | None = None, task: Any = None, **_: Any) -> None:
        begun = started.pop(task_id or "", None)
        if begun is not None and task is not None:
            TASK_SECONDS.labels(task.name).observe(time.perf_counter() - begun)

    @task_failure.connect(weak=False)
    def _failure(sender: Any = None, **_: Any) -> None:
        TASK_FAILURES.labels(getattr(sender, "name", "unknown")).inc()

    @task_retry.connect(weak=False)
    def _retry(sender: Any = None, **_: Any) -> None:
        TASK_RETRIES.labels(getattr(sender, "name", "unknown")).inc()
