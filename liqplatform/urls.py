from collections.abc import Sequence

from django.contrib import admin
from django.urls import URLPattern, URLResolver, include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from accounts.views.watchlists import overview_scope
from heatmaps import urls as heatmaps_urls
from heatmaps.health import MarketCollector
from liqplatform.observability import metrics_view


def _overview_with_watchlists(patterns: Sequence[URLPattern | URLResolver]) -> list[URLPattern | URLResolver]:
    """heatmaps' routes, with its overview (heatmaps:index) filtered to a watchlist on ?watchlist=<id>.

    heatmaps never imports accounts, so the scope function is handed to its view here, as a URL kwarg;
    name and namespace stay as they are.
    """
    routes: list[URLPattern | URLResolver] = []
    for route in patterns:
        if isinstance(route, URLPattern) and route.name == "index":
            route = URLPattern(
                route.pattern, route.callback, {**route.default_args, "asset_scope": overview_scope}, route.name
            )
        routes.append(route)
    return routes


urlpatterns = [
    path("admin/", admin.site.urls),
    path("metrics", metrics_view, {"collectors": [MarketCollector()]}, name="metrics"),
    path("api/v1/", include("liqplatform.api_urls")),
    # OpenAPI 3 of /api/v1/ and Swagger UI over it; the UI's start-up script is a separate request
    # (the "split" view), so the page runs under our script-src 'self' policy.
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),
    # allauth: sign-up, sign-in, sign-out, email verification and management, password change and reset.
    path("accounts/", include("allauth.urls")),
    # The user's own pages: profile, watchlists, annotations.
    path("", include("accounts.urls")),
    path("", include((_overview_with_watchlists(heatmaps_urls.urlpatterns), heatmaps_urls.app_name))),
]
