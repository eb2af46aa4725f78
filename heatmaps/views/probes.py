"""Liveness and readiness probes for process managers and load balancers."""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse

from heatmaps.health import readiness_payload


def healthz(request: HttpRequest) -> JsonResponse:
    """Liveness: the process answers. Touches nothing else, so a database outage doesn't get the
    web processes restarted in a loop; /readyz says whether they can do useful work."""
    return JsonResponse({"status": "ok"})


def readyz(request: HttpRequest) -> JsonResponse:
    ready, payload = readiness_payload()
    response = JsonResponse(payload, status=200 if ready else 503)
    response["Cache-Control"] = "no-store"
    response._has_been_logged = True  # type: ignore[attr-defined]  # a probe's 503 is an answer, not a server error
    return response
