from collections.abc import Sequence

from django.contrib import admin
from django.urls import URLPattern, URLResolver, include, path

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
    # allauth: sign-up, sign-in, sign-out, email verification and management, password change and reset.
    path("accounts/", include("allauth.urls")),
    # The user's own pages: profile, watchlists, annotations.
    path("", include("accounts.urls")),
    path("", include((_overview_with_watchlists(heatmaps_urls.urlpatterns), heatmaps_urls.app_name))),
]
