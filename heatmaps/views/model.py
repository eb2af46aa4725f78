"""/model/: model accuracy — the stored walk-forward backtests (heatmaps/validity.py), in words and a chart."""

from __future__ import annotations

import math
from dataclasses import dataclass

from django.http import HttpResponse
from django.shortcuts import render
from django.utils.cache import patch_vary_headers

from heatmaps import validity
from heatmaps.models import Asset, Backtest
from heatmaps.views.common import HtmxHttpRequest, exchange_name
from heatmaps.views.visitor_cache import shared_with_visitors

# Model accuracy: the stored walk-forward backtests (heatmaps/validity.py), in words and a chart.

CHART = 200  # the reliability chart's side in SVG units


@dataclass(frozen=True)
class ChartPoint:
    x: float
    y: float
    r: float
    label: str


@dataclass(frozen=True)
class BacktestCard:
    backtest: Backtest
    sentences: list[str]
    model_points: list[ChartPoint]
    baseline_points: list[ChartPoint]
    every: str
    horizon: str
    oi_source: str


def _chart_points(rows: list[dict[str, object]] | None) -> list[ChartPoint]:
    points = []
    for row in rows or []:
        n, predicted, realised = row["n"], row["predicted"], row["realised"]
        if not isinstance(n, int) or not n or not isinstance(predicted, float) or not isinstance(realised, float):
            continue
        points.append(
            ChartPoint(
                x=round(predicted * CHART, 1),
                y=round((1 - realised) * CHART, 1),
                r=round(2 + 2 * math.sqrt(n), 1),
                label=f"predicted {predicted * 100:.0f} %, realised {realised * 100:.0f} % over {n} steps",
            )
        )
    return points


def backtest_card(backtest: Backtest) -> BacktestCard:
    reliability = backtest.report.get("first_reach", {}).get("reliability") or {}
    names = [exchange_name(code) for code in backtest.oi_exchanges]
    return BacktestCard(
        backtest=backtest,
        sentences=validity.plain_words(backtest.report),
        model_points=_chart_points(reliability.get("model")),
        baseline_points=_chart_points(reliability.get("baseline")),
        every=validity.duration_plain(backtest.every_seconds),
        horizon=validity.duration_plain(backtest.horizon_seconds),
        oi_source=", ".join(names) if names else "no",
    )


@shared_with_visitors
def model_page(request: HtmxHttpRequest) -> HttpResponse:
    """/model/: the latest backtest of every enabled asset × timeframe; ?asset= narrows to one asset."""
    assets = list(Asset.objects.filter(enabled=True))
    chosen = request.GET.get("asset", "").upper()
    shown = [a for a in assets if a.symbol == chosen] if chosen else assets
    status = 200
    if chosen and not shown:
        status = 404
    stored = validity.latest_backtests(assets=shown)
    sections = [{"asset": a, "cards": [backtest_card(b) for b in stored[a.pk]]} for a in shown]
    ctx = {"assets": assets, "chosen": chosen, "sections": sections, "chart": CHART}
    partial = bool(request.htmx) and not request.htmx.history_restore_request
    response = render(
        request, "heatmaps/model.html#model-report" if partial else "heatmaps/model.html", ctx, status=status
    )
    patch_vary_headers(response, ["HX-Request"])
    return response
