from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render

from heatmaps.models import Asset


def index(request: HttpRequest) -> HttpResponse:
    assets = Asset.objects.filter(enabled=True).select_related("reference_exchange")
    return render(request, "heatmaps/index.html", {"assets": assets})


def healthz(request: HttpRequest) -> JsonResponse:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return JsonResponse({"status": "ok", "database": connection.vendor})
