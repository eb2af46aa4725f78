from collections.abc import Sequence

from django.contrib import admin
from django.urls import URLPattern, URLResolver, include, path

from accounts.views.watchlists import overview_scope
from heatmaps import urls as heatmaps_urls


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
    path("api/v1/", include("liqplatform.api_urls")),
    path("", include("accounts.urls")),
    path("", include((_overview_with_watchlists(heatmaps_urls.urlpatterns), heatmaps_urls.app_name))),
]
