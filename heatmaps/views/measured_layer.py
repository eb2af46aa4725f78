"""The asset page's layer switch, ``?layer=model|measured|merged``: the modelled map (default), Hyperliquid's
measured positions alone, or the modelled map with Hyperliquid's measured share replaced by them.

Only assets on Hyperliquid have the switch. The page draws the layer in the browser (static/heatmaps/
measured.js) from the measured-layer API; here are the links, the coverage chip and the words.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlencode

from django.db.models import Count, Max, Sum
from django.http import HttpRequest
from django.urls import reverse

from heatmaps.ingest.hyperliquid_sweep import asset_coin, venue_open_interest_usd
from heatmaps.models import Asset, MeasuredPosition

LAYERS = ("model", "measured", "merged")
LABELS = {"model": "Model", "measured": "Measured (Hyperliquid)", "merged": "Model + measured"}
TITLES = {
    "model": "The modelled map of every venue's open interest",
    "measured": "Hyperliquid's swept accounts alone: real USD at their real liquidation prices, now; no model",
    "merged": "The modelled map with the measured share of Hyperliquid's modelled part replaced by the measured "
    "positions; the rest of the open interest stays modelled",
}


@dataclass(frozen=True)
class LayerLink:
    key: str
    label: str
    title: str
    href: str
    active: bool


@dataclass(frozen=True)
class MeasuredNow:
    """What the coverage chip says: the swept accounts holding the asset's coin, and their share of the
    venue's open interest (observed notional ÷ all positions on it, 2 × its open interest)."""

    accounts: int
    positions: int
    coverage_pct: float | None
    measured_at: datetime | None


def on_hyperliquid(asset: Asset) -> bool:
    return asset.exchanges.filter(code="hyperliquid", enabled=True).exists()


def parse_layer(request: HttpRequest, asset: Asset, *, filtered: bool, model_key: str = "v1") -> tuple[str, str]:
    """The layer asked for, and what was ignored and why ("" when nothing was). The measured layer is compared
    with and merged into model v1's map, the whole map now: not with another model, a filter or a moment."""
    raw = request.GET.get("layer", "model").strip().lower() or "model"
    if raw not in LAYERS:
        return "model", f"Ignored layer={raw[:40]!r}: choose model, measured or merged."
    if raw == "model":
        return raw, ""
    if not on_hyperliquid(asset):
        return "model", f"Ignored layer={raw}: {asset.symbol} is not on Hyperliquid, so it has no measured positions."
    if model_key != "v1":
        return "model", f"Ignored layer={raw}: the measured layer goes with model v1's map; switch the model to v1."
    if filtered:
        return "model", (
            f"Ignored layer={raw}: the measured layer goes with the whole map now, not with a filter or a past moment."
        )
    return raw, ""


def measured_now(asset: Asset) -> MeasuredNow:
    held = MeasuredPosition.objects.filter(coin=asset_coin(asset), account__enabled=True).aggregate(
        accounts=Count("account", distinct=True),
        positions=Count("id"),
        notional=Sum("notional_usd"),
        newest=Max("swept_at"),
    )
    oi = venue_open_interest_usd(asset)
    coverage = (held["notional"] or 0.0) / (2 * oi) * 100 if oi else None
    return MeasuredNow(
        accounts=held["accounts"], positions=held["positions"], coverage_pct=coverage, measured_at=held["newest"]
    )


def layer_context(asset: Asset, *, timeframe: str, keep: dict[str, str], layer: str) -> dict[str, object]:
    """The switch's links (keeping the page's other settings), the chip and the API the script reads; nothing
    for an asset that is not on Hyperliquid."""
    if not on_hyperliquid(asset):
        return {"measured_layer": None}
    others = {k: v for k, v in keep.items() if k != "layer"}
    links = [
        LayerLink(
            key=key,
            label=LABELS[key],
            title=TITLES[key],
            href="?" + urlencode({"tf": timeframe, **others, **({} if key == "model" else {"layer": key})}),
            active=key == layer,
        )
        for key in LAYERS
    ]
    api = reverse("api:measured", args=[asset.symbol])
    return {
        "measured_layer": {
            "layer": layer,
            "links": links,
            "now": measured_now(asset),
            "src": f"{api}?{urlencode({'timeframe': timeframe, 'layer': 'merged' if layer == 'merged' else 'measured'})}",
        }
    }
