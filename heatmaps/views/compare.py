"""The compare page `/assets/<SYMBOL>/compare/?tf=&a=&b=&side=`: two filters of one map's run side by
side on one absolute USD scale (the map API's PNGs with the same `full`), their difference A − B in a
diverging palette (the compare API's PNG), and the clusters one draws where the other has none.

`a` and `b` are filters and models as query strings (`lev=high`, `tiers=50,100`, `exchange=binance`,
`model=v2`, `model=custom&mp=...`, `model=mine:<id>`); one the map cannot take is ignored with a message
and model v1's whole map shown in its place.
"""

from __future__ import annotations

from urllib.parse import urlencode

from django.http import Http404, HttpRequest, HttpResponse, QueryDict
from django.shortcuts import render
from django.urls import reverse

from heatmaps.engine import TIMEFRAMES
from heatmaps.explorer import FilterError, MapFilter, compare_filters, resolve_filter
from heatmaps.maps import read_heatmap
from heatmaps.model_choice import CUSTOM_KEYS, V1, ModelChoice, custom_text, resolve_model
from heatmaps.models import Asset
from heatmaps.views.common import format_price, format_usd
from heatmaps.views.overview import DEFAULT_TIMEFRAME

PRESETS = (("lev=high", "lev=low"), ("lev=high", ""), ("lev=mid", "lev=low"), ("model=v2", "model=v1"))


def _filter(
    asset: Asset, name: str, text: str, ignored: list[str], user: object = None
) -> tuple[MapFilter, str, ModelChoice]:
    parts = QueryDict(text)
    try:
        if set(parts) - {"tiers", "lev", "exchange", "model", *CUSTOM_KEYS}:
            raise FilterError(
                name, "use tiers=, lev=, exchange=, model= (with mp=, mmr= and maxlev= for a custom model)"
            )
        choice = resolve_model(
            asset=asset,
            model=parts.get("model"),
            custom_params_text=custom_text(parts),
            user=user,
        )
        filt = resolve_filter(
            asset=asset,
            tiers=parts.get("tiers"),
            lev=parts.get("lev"),
            exchange=",".join(parts.getlist("exchange")) or None,
            model_params=choice.params,
        )
    except FilterError as exc:
        ignored.append(f"Ignored {name}={text[:40]!r}: {exc.message} Model v1's whole map is shown instead.")
        return MapFilter(), "", V1
    return filt, text, choice


def _words(filt: MapFilter, choice: ModelChoice) -> str:
    return " · ".join([*([choice.label] if choice.key != "v1" else []), *filt.words()]) or "whole map"


def compare_page(request: HttpRequest, symbol: str) -> HttpResponse:
    asset = Asset.objects.filter(symbol=symbol.upper(), enabled=True).first()
    if asset is None:
        raise Http404(f"There is no enabled asset {symbol[:32]!r} here.")
    ignored: list[str] = []
    timeframe = request.GET.get("tf", DEFAULT_TIMEFRAME)
    if timeframe not in TIMEFRAMES:
        ignored.append(f"Ignored tf={timeframe[:20]!r}: choose one of {', '.join(TIMEFRAMES)}.")
        timeframe = DEFAULT_TIMEFRAME
    side = request.GET.get("side", "both")
    if side not in ("both", "long", "short"):
        ignored.append(f"Ignored side={side[:20]!r}: choose long, short or both.")
        side = "both"
    a, a_text, a_model = _filter(asset, "a", request.GET.get("a", "lev=high"), ignored, request.user)
    b, b_text, b_model = _filter(asset, "b", request.GET.get("b", "lev=low"), ignored, request.user)
    ctx: dict[str, object] = {
        "asset": asset,
        "timeframe": timeframe,
        "side": side,
        "a_text": a_text,
        "b_text": b_text,
        "ignored": ignored,
        "tabs": [(k, "?" + urlencode({"tf": k, "a": a_text, "b": b_text, "side": side})) for k in TIMEFRAMES],
        "presets": [(pa, pb, "?" + urlencode({"tf": timeframe, "a": pa, "b": pb, "side": side})) for pa, pb in PRESETS],
        "a_words": _words(a, a_model),
        "b_words": _words(b, b_model),
        "asset_href": reverse("heatmaps:asset", args=[asset.symbol]) + "?" + urlencode({"tf": timeframe}),
    }
    stored = read_heatmap(asset=asset, timeframe=timeframe)
    if stored is not None:
        compared = compare_filters(
            asset=asset, stored=stored, a=a, b=b, side=side, a_params=a_model.params, b_params=b_model.params
        )
        result = compared.result
        full = max(result.full_usd, 0.01)
        api = reverse("api:heatmap", args=[asset.symbol])
        common = {"timeframe": timeframe, "side": side, "format": "png", "width": 900, "height": 450}
        price = stored.heatmap.current_price

        def rows(clusters: list[dict[str, object]]) -> list[dict[str, str]]:
            return [
                {
                    "side": "longs" if c["side"] == "long" else "shorts",
                    "range": f"{format_price(c['price_low'])} – {format_price(c['price_high'])}",  # type: ignore[arg-type]
                    "usd": format_usd(c["usd"]),  # type: ignore[arg-type]
                }
                for c in clusters[:8]
            ]

        ctx.update(
            {
                "computed": True,
                "png_a": f"{api}?{urlencode({**common, 'full': f'{full:.2f}', **QueryDict(a_text).dict()})}",
                "png_b": f"{api}?{urlencode({**common, 'full': f'{full:.2f}', **QueryDict(b_text).dict()})}",
                "png_diff": reverse("api:heatmap-compare", args=[asset.symbol])
                + "?"
                + urlencode(
                    {
                        "timeframe": timeframe,
                        "side": side,
                        "a": a_text,
                        "b": b_text,
                        "format": "png",
                        "width": 900,
                        "height": 450,
                    }
                ),
                "full_usd": format_usd(result.full_usd),
                "diff_full_usd": format_usd(result.diff_full_usd),
                "total_a": format_usd(float(compared.grid_a[-1].sum())),
                "total_b": format_usd(float(compared.grid_b[-1].sum())),
                "only_a": rows(result.only_a),
                "only_b": rows(result.only_b),
                "price": format_price(price),
            }
        )
    return render(request, "heatmaps/compare.html", ctx)
