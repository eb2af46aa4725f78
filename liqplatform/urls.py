from django.contrib import admin
from django.urls import include, path

from heatmaps.health import MarketCollector
from liqplatform.observability import metrics_view

urlpatterns = [
    path("admin/", admin.site.urls),
    path("metrics", metrics_view, {"collectors": [MarketCollector()]}, name="metrics"),
    # allauth: sign-up, sign-in, sign-out, email verification and management, password change and reset.
    path("accounts/", include("allauth.urls")),
    # The user's own pages.
    path("account/", include("accounts.urls")),
    path("", include("heatmaps.urls")),
]
