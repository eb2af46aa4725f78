"""Public pages: the overview, one page per asset with its heat map, model accuracy and the probes.

Each page is one view and one template; its swappable region is a named `{% partialdef %}` that the
view renders alone for HTMX requests. The map itself is drawn in the browser by static/heatmaps/ from
the JSON API.
"""

from heatmaps.views.asset import asset_page
from heatmaps.views.common import format_age, format_pct, format_price, format_usd, price_decimals
from heatmaps.views.model import CHART, backtest_card, model_method, model_page
from heatmaps.views.overview import AssetScope, index
from heatmaps.views.probes import healthz, readyz

__all__ = [
    "CHART",
    "AssetScope",
    "asset_page",
    "backtest_card",
    "format_age",
    "format_pct",
    "format_price",
    "format_usd",
    "healthz",
    "index",
    "model_method",
    "model_page",
    "price_decimals",
    "readyz",
]
