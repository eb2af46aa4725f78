from django.contrib import admin
from django.urls import include, path

from heatmaps.health import MarketCollector
from liqplatform.observability import metrics_view

urlpatterns = [
    path("admin/", admin.site.urls),
    path("metrics", metrics_view, {"collectors": [MarketCollector()]}, name="metrics"),
    path("", include("heatmaps.urls")),
]
