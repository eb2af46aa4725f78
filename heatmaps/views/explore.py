"""The asset page's map explorer: leverage tiers and bands, exchanges' open interest and a past moment
from the URL (`tiers=`, `lev=`, `exchange=`, `at=`), the links that toggle them, and the stored map's
row swapped for the filtered one (heatmaps/explorer.py computes it).

Like `min`/`full`, a value the map cannot take is ignored with a message rather than refused: the page
still shows the map. The API refuses the same values with a 400 naming the parameter.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from django.http import HttpRequest
from django.urls import reverse
from rest_framework.exceptions import ValidationError

from heatmaps.explorer import FilterError, MapFilter, asset_exchange_codes, filtered_map, resolve_filter
from heatmaps.maps import read_heatmap
from heatmaps.marketdata import dt_to_ms
from heatmaps.marketdata.base_bars import asset_params
from heatmaps.model_choice import V1, ModelChoice, computed_params, custom_text, resolve_model, stored_model
from heatmaps.models import Asset, Heatmap
from heatmaps.rows import BASE_BAR_MS
from heatmaps.serializers import UtcInstantField
from heatmaps.views.common import exchange_name, format_age

BAND_LABELS = (("", "All"), ("low", "Low"), ("mid", "Mid"), ("high", "High"))


@dataclass(frozen=True)
class Toggle:
    label: str
    href: str
    active: bool
    title: str = ""


def parse_model(request: HttpRequest, asset: Asset) -> tuple[ModelChoice, list[str]]:
    """The model the URL asks for (`model=`, with `mp`/`mmr` for a custom one): one the map cannot be
    drawn with is ignored with a message, and the map drawn with model v1."""
    get = request.GET
    raw = get.get("model", "").strip()
    if not raw:
        return V1, []
    try:
        choice = resolve_model(asset=asset, model=raw, custom_params_text=custom_text(get), user=request.user)
    except FilterError as exc:
        return V1, [f"Ignored {exc.param}: {exc.message} Showing model v1."]
    return choice, []


def parse_explore(request: HttpRequest, asset: Asset, *, model: ModelChoice = V1) -> tuple[MapFilter, list[str]]:
    """The filter the URL asks for, each part checked on its own: an unusable one is dropped and said.
    Tiers are the model's (v2's may differ from the asset's v1 tiers)."""
    ignored: list[str] = []
    get = request.GET
    tiers, lev = get.get("tiers", "").strip(), get.get("lev", "").strip()
    exchange = ",".join(v for v in get.getlist("exchange") if v.strip())
    at = None
    if raw_at := get.get("at", "").strip():
        try:
            at = UtcInstantField().to_internal_value(raw_at)
        except ValidationError:
            ignored.append(f"Ignored at={raw_at[:40]!r}: give a UTC time such as 2026-01-10T12:00Z.")
    codes = asset_exchange_codes(asset)
    filt = MapFilter(at=at)
    for name, value in (("tiers", tiers), ("lev", lev), ("exchange", exchange)):
        if not value:
            continue
        if name == "lev" and tiers and filt.tiers is not None:
            ignored.append(f"Ignored lev={lev[:20]!r}: the tiers given are shown; give tiers or lev, not both.")
            continue
        try:
            part = resolve_filter(
                asset=asset,
                exchange_codes=codes,
                tiers=value if name == "tiers" else None,
                lev=value if name == "lev" else None,
                exchange=value if name == "exchange" else None,
                model_params=model.params,
            )
        except FilterError as exc:
            ignored.append(f"Ignored {name}: {exc.message}")
            continue
        if name == "exchange":
            filt = MapFilter(tiers=filt.tiers, band=filt.band, exchanges=part.exchanges, at=at)
        else:
            filt = MapFilter(tiers=part.tiers, band=part.band, exchanges=filt.exchanges, at=at)
    return filt, ignored


def explored_heatmap(
    *, asset: Asset, timeframe: str, filt: MapFilter, model: ModelChoice = V1
) -> tuple[Heatmap | None, str]:
    """The filtered map's row (never saved) in place of the stored one, or None and why not."""
    stored = read_heatmap(asset=asset, timeframe=timeframe, model=stored_model(model))
    if stored is None:
        return None, ""
    try:
        shown = filtered_map(asset=asset, stored=stored, filt=filt, params=computed_params(model))
    except FilterError as exc:
        return None, f"Ignored {exc.param}: {exc.message}"
    if shown is None:
        at = f"{filt.at:%Y-%m-%d %H:%M}" if filt.at else "then"
        return None, f"Ignored at: there is no market data of {asset.symbol} up to {at} UTC; showing the map of now."
    return shown.heatmap, ""


def _href(base: dict[str, str], **changes: str | None) -> str:
    query = {**base, **changes}
    return "?" + urlencode({k: v for k, v in query.items() if v})


def explore_links(
    *,
    asset: Asset,
    keep: dict[str, str],
    filt: MapFilter,
    stored: Heatmap | None = None,
    shown: Heatmap | None = None,
    model: ModelChoice = V1,
) -> dict[str, object]:
    """The page's toggles, each a real link carrying every other setting of the URL: the liquidation
    map's legend (a tier in or out), the leverage bands, the asset's exchanges, and the moment the map
    is drawn as of (a slider over the stored map's window, a column earlier or later)."""
    leverages = (
        asset_params(asset).leverages
        if model.params is None
        else tuple(t.leverage for t in model.params.effective().tiers)
    )
    base = {k: v for k, v in keep.items() if k not in ("tiers", "lev", "exchange")}
    kept = set(filt.tiers) if filt.tiers is not None else set(leverages)
    exchange_part = {"exchange": ",".join(filt.exchanges)} if filt.exchanges is not None else {}
    tier_part = {k: v for k, v in filt.query().items() if k in ("tiers", "lev")}
    tiers = []
    for lev in leverages:
        after = kept ^ {lev} or set(leverages)  # leaving none out is every tier
        text = ",".join(f"{v:g}" for v in leverages if v in after) if after != set(leverages) else None
        tiers.append(
            Toggle(
                label=f"{lev:g}×",
                href=_href(base, **exchange_part, tiers=text),
                active=lev in kept,
                title=f"{'Hide' if lev in kept else 'Show'} the {lev:g}x positions",
            )
        )
    bands = [
        Toggle(label=label, href=_href(base, **exchange_part, lev=key or None), active=(filt.band or "") == key)
        for key, label in BAND_LABELS
    ]
    if filt.tiers is not None and not filt.band:
        bands[0] = Toggle(label="All", href=bands[0].href, active=False)
    codes = asset_exchange_codes(asset)
    chosen = set(filt.exchanges) if filt.exchanges is not None else set(codes)
    exchanges = []
    for code in codes:
        picked = chosen ^ {code} or set(codes)  # leaving every exchange out is all of them
        text = ",".join(c for c in codes if c in picked) if picked != set(codes) else None
        exchanges.append(
            Toggle(
                label=exchange_name(code),
                href=_href(base, **tier_part, exchange=text),
                active=code in chosen,
                title=f"{'Leave out' if code in chosen else 'Add'} {exchange_name(code)}'s open interest",
            )
        )
    return {
        **(_moment_links(base=keep, filt=filt, stored=stored) if stored is not None else {}),
        "tier_toggles": tiers,
        "band_links": bands,
        "exchange_toggles": exchanges,
        "explore_words": [*filt.words(), *_origin_words(filt, shown)],
        "explore_clear": _href({k: v for k, v in base.items() if k != "at"}) if filt.active else "",
        "compare_href": _compare_href(asset=asset, tf=keep.get("tf", ""), filt=filt, model=model),
    }


def _compare_href(*, asset: Asset, tf: str, filt: MapFilter, model: ModelChoice) -> str:
    """What "Compare…" compares: a past moment's map against the same map now (what changed since);
    else this map's filter against the whole map (or the high band against the low one, unfiltered),
    and a map of another model against model v1's whole map."""
    same = urlencode({**model.query(), **{k: v for k, v in filt.query().items() if k != "at"}})
    if filt.at is not None:
        a, b = urlencode({**model.query(), **filt.query()}), same
    else:
        a = same or "lev=high"
        b = "" if filt.tiers is not None or filt.exchanges is not None or model.key != "v1" else "lev=low"
    return reverse("heatmaps:compare", args=[asset.symbol]) + "?" + urlencode({"tf": tf, "a": a, "b": b})


def _moment_links(*, base: dict[str, str], filt: MapFilter, stored: Heatmap) -> dict[str, object]:
    """The slider's range (the stored map's window, to the close of its newest bar, in UTC ms, one
    column a step) and the links a column earlier and later; `[` and `]` follow them."""
    step = stored.bar_seconds * 1000
    now_ms = dt_to_ms(stored.data_end) + BASE_BAR_MS
    first = dt_to_ms(stored.first_bucket) + step
    at_ms = min(dt_to_ms(filt.at), now_ms) if filt.at is not None else now_ms
    rest = {k: v for k, v in base.items() if k != "at"}

    def moment(ms: int) -> str:
        return _href(rest, at=None if ms >= now_ms else f"{datetime.fromtimestamp(ms / 1000, UTC):%Y-%m-%dT%H:%MZ}")

    return {
        "moment": {
            "min": first,
            "max": now_ms,
            "step": step,
            "value": at_ms,
            "past": filt.at is not None and at_ms < now_ms,
            "label": f"{datetime.fromtimestamp(at_ms / 1000, UTC):%Y-%m-%d %H:%M} UTC"
            if filt.at is not None and at_ms < now_ms
            else "now",
            "earlier": moment(max(first, at_ms - step)) if at_ms > first else "",
            "later": moment(min(now_ms, at_ms + step)) if at_ms < now_ms else "",
            "hidden": [(k, v) for k, v in rest.items()],
        }
    }


def cluster_facts(cluster: dict[str, Any], *, now: datetime) -> dict[str, str]:
    """When a stored cluster formed and its largest tiers, in words (empty for a map stored before
    clusters carried them)."""
    formed_ms = cluster.get("formed_ms")
    tiers = cluster.get("tiers") or {}
    total = sum(tiers.values())
    top = sorted(tiers.items(), key=lambda kv: -kv[1])[:2]
    return {
        "formed": format_age(now - datetime.fromtimestamp(formed_ms / 1000, UTC)) if formed_ms else "",
        "mix": " · ".join(f"{lev}x {usd / total:.0%}".replace("%", " %") for lev, usd in top if usd > 0)
        if total
        else "",
    }


def _origin_words(filt: MapFilter, shown: Heatmap | None) -> list[str]:
    """Whether a past moment's map is the one published then or one rebuilt from the stored bars."""
    origin = getattr(shown, "explorer_source", None)
    if filt.at is None or origin not in ("archive", "rebuilt"):
        return []
    if origin == "archive" and shown is not None:
        return [f"as published at {shown.computed_at:%H:%M} UTC"]
    return ["rebuilt from the stored bars (not in the archive)"]
