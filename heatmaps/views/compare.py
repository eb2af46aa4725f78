"""The compare page `/assets/<SYMBOL>/compare/?tf=&a=&b=&side=`: two filters of one map's run side by
side on one absolute USD scale (the map API's PNGs with the same `full`), their difference A − B in a
diverging palette (the compare API's PNG), and the clusters one draws where the other has none.

`a` and `b` are filters and models as query strings (`lev=high`, `tiers=50,100`, `exchange=binance`,
`model=v2`, `model=custom&mp=...`, `model=mine:<id>`, `at=2026-01-29T14:00Z`); one the map cannot take is
ignored with a message and model v1's whole map shown in its place.

With `at=` on either side two moments are compared ("what changed since yesterday 14:00"): their maps'
windows and grids differ, so the page shows the liquidation levels standing at each moment (each map's
newest column) as profiles on one price axis and one absolute USD scale, their difference (the compare
API's moments PNG), and the clusters standing at one moment and gone at the other, each moment named in UTC.
"""

from __future__ import annotations

from urllib.parse import urlencode

import numpy as np
from django.http import Http404, HttpRequest, HttpResponse, QueryDict
from django.shortcuts import render
from django.urls import reverse
from rest_framework.exceptions import ValidationError

from heatmaps.engine import TIMEFRAMES
from heatmaps.explorer import FilterError, MapFilter, compare_filters, resolve_filter
from heatmaps.maps import read_heatmap
from heatmaps.model_choice import CUSTOM_KEYS, V1, ModelChoice, custom_text, resolve_model
from heatmaps.models import Asset
from heatmaps.moment_compare import ComparedMoments, compare_moments_of
from heatmaps.serializers import UtcInstantField
from heatmaps.views.common import format_price, format_usd
from heatmaps.views.overview import DEFAULT_TIMEFRAME

PRESETS = (("lev=high", "lev=low"), ("lev=high", ""), ("lev=mid", "lev=low"), ("model=v2", "model=v1"))


def _filter(
    asset: Asset, name: str, text: str, ignored: list[str], user: object = None
) -> tuple[MapFilter, str, ModelChoice]:
    parts = QueryDict(text)
    try:
        if set(parts) - {"tiers", "lev", "exchange", "model", "at", *CUSTOM_KEYS}:
            raise FilterError(
                name, "use tiers=, lev=, exchange=, model= (with mp=, mmr= and maxlev= for a custom model), at="
            )
        at = None
        if "at" in parts:
            try:
                at = UtcInstantField().to_internal_value(parts.get("at") or "")
            except ValidationError:
                raise FilterError(name, "at: give a UTC time such as 2026-01-29T14:00Z.") from None
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
            at=at,
            model_params=choice.params,
        )
    except FilterError as exc:
        ignored.append(f"Ignored {name}={text[:40]!r}: {exc.message} Model v1's whole map is shown instead.")
        return MapFilter(), "", V1
    return filt, text, choice


def _words(filt: MapFilter, choice: ModelChoice) -> str:
    words = [w for w in filt.words() if filt.at is None or not w.startswith("as at")]
    return " · ".join([*([choice.label] if choice.key != "v1" else []), *words]) or "whole map"


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
    if stored is not None and (a.at is not None or b.at is not None):
        try:
            moments = compare_moments_of(
                asset=asset, stored=stored, a=a, b=b, side=side, a_params=a_model.params, b_params=b_model.params
            )
        except FilterError as exc:
            ignored.append(f"Ignored {exc.param}={ctx[f'{exc.param}_text']!r}: {exc.message}")
        else:
            nows = (a.at is None, b.at is None)
            ctx.update(
                moments_context(
                    asset=asset, timeframe=timeframe, side=side, texts=(a_text, b_text), nows=nows, m=moments
                )
            )
            return render(request, "heatmaps/compare_moments.html", ctx)
        return render(request, "heatmaps/compare.html", ctx)
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


PROFILE_ROWS = 150  # at most this many bars per profile on the page: neighbouring bins summed


def _profile_rows(edges: np.ndarray, long: np.ndarray, short: np.ndarray, full: float) -> list[dict[str, float]]:
    """Bars of an SVG profile 100 units high (top: the highest price), widths in % of ``full``."""
    step = max(1, -(-long.shape[0] // PROFILE_ROWS))
    starts = np.arange(0, long.shape[0], step)
    longs, shorts = np.add.reduceat(long, starts), np.add.reduceat(short, starts)
    lows, highs = edges[starts], edges[np.minimum(starts + step, long.shape[0])]
    lo, span = float(edges[0]), float(edges[-1] - edges[0]) or 1.0
    full = full * step or 1.0  # the scale of one summed bar
    return [
        {
            "y": round(100 * (1 - (hi - lo) / span), 3),
            "h": round(100 * (hi - low) / span, 3),
            "long": round(100 * min(1.0, lg / full), 2),
            "long_x": round(100 - 100 * min(1.0, lg / full), 2),
            "short": round(100 * min(1.0, sh / full), 2),
        }
        for low, hi, lg, sh in zip(lows.tolist(), highs.tolist(), longs.tolist(), shorts.tolist(), strict=True)
        if lg > 0 or sh > 0
    ]


def moments_context(
    *, asset: Asset, timeframe: str, side: str, texts: tuple[str, str], nows: tuple[bool, bool], m: ComparedMoments
) -> dict[str, object]:
    """The compare page of two moments: both moments in UTC, their standing levels as profiles on one
    absolute scale, the difference's PNG and the clusters one moment has and the other not."""
    r = m.result
    full = max(r.full_usd, 0.01)

    def rows(clusters: list[dict[str, object]]) -> list[dict[str, str]]:
        return [
            {
                "side": "longs" if c["side"] == "long" else "shorts",
                "range": f"{format_price(c['price_low'])} – {format_price(c['price_high'])}",  # type: ignore[arg-type]
                "usd": format_usd(c["usd"]),  # type: ignore[arg-type]
            }
            for c in clusters[:8]
        ]

    profiles = {"a": (r.a_long, r.a_short), "b": (r.b_long, r.b_short)}
    query = {"timeframe": timeframe, "side": side, "a": texts[0], "b": texts[1], "format": "png"}
    return {
        "computed": True,
        "earlier": m.earlier,
        **{f"{n}_moment": f"{m.of(n).moment:%Y-%m-%d %H:%M} UTC" for n in ("a", "b")},
        **{f"{n}_now": now for n, now in zip(("a", "b"), nows, strict=True)},
        **{f"total_{n}": format_usd(float(profiles[n][0].sum() + profiles[n][1].sum())) for n in ("a", "b")},
        "profiles": [
            (n.upper(), f"{m.of(n).moment:%Y-%m-%d %H:%M} UTC", _profile_rows(r.edges, *profiles[n], full))
            for n in ("a", "b")
        ],
        "price_high": format_price(float(r.edges[-1])),
        "price_low": format_price(float(r.edges[0])),
        "full_usd": format_usd(r.full_usd),
        "diff_full_usd": format_usd(r.diff_full_usd),
        "png_diff": reverse("api:heatmap-compare", args=[asset.symbol])
        + "?"
        + urlencode({**query, "width": 900, "height": 450}),
        "removed": rows(m.removed),
        "added": rows(m.added),
    }
