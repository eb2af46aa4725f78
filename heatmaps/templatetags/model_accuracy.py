"""``{% model_accuracy asset %}``: the asset page's "Model accuracy" section, from the stored backtests."""

from __future__ import annotations

from typing import Any

from django import template

from heatmaps.models import Asset
from heatmaps.validity import latest_backtests
from heatmaps.views import CHART, backtest_card

register = template.Library()


@register.inclusion_tag("heatmaps/_model_accuracy.html")
def model_accuracy(asset: Asset) -> dict[str, Any]:
    return {
        "asset": asset,
        "cards": [backtest_card(b) for b in latest_backtests(assets=[asset])[asset.pk]],
        "chart": CHART,
    }
