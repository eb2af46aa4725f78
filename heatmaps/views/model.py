"""/model/: model accuracy — the stored walk-forward backtests (heatmaps/validity.py), in words and a chart."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings
from django.http import Http404, HttpResponse
from django.shortcuts import render
from django.utils.cache import patch_vary_headers

from heatmaps import validity
from heatmaps.explorer import hyperliquid_model_map
from heatmaps.models import Asset, Backtest
from heatmaps.personal_hook import list_personal_models
from heatmaps.validity.measured import measured_against_model
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
class Figure:
    """One headline figure of a card's table: its value and 95 % interval as a reader says them."""

    label: str
    value: str
    interval: str
    events: str


@dataclass(frozen=True)
class LeagueRow:
    variant: str
    events: int
    bigger_first: str
    bigger_first_interval: str
    pseudo_r2: str
    pseudo_r2_interval: str
    best: bool
    personal: bool = False


@dataclass(frozen=True)
class BacktestCard:
    backtest: Backtest
    sentences: list[str]
    model_points: list[ChartPoint]
    baseline_points: list[ChartPoint]
    every: str
    horizon: str
    oi_source: str
    figures: list[Figure]
    league: list[LeagueRow]
    league_decided: bool


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
                label=f"predicted {predicted * 100:.0f} %, realised {realised * 100:.0f} % over {n} events",
            )
        )
    return points


def _share(value: object) -> str:
    return f"{value * 100:.0f} %" if isinstance(value, float) else "–"


def _share_ci(ci: object) -> str:
    return f"{ci[0] * 100:.0f}–{ci[1] * 100:.0f} %" if isinstance(ci, list) and len(ci) == 2 else "–"


def _signed(value: object) -> str:
    return validity.signed(value) if isinstance(value, float) else "–"


def _signed_ci(ci: object) -> str:
    return f"{validity.signed(ci[0])} to {validity.signed(ci[1])}" if isinstance(ci, list) and len(ci) == 2 else "–"


def _figures(report: dict[str, Any]) -> list[Figure]:
    """The headline figures with their intervals: over all events, then per regime."""
    if "comparison" not in report:
        return []
    rows = []
    parts = [("All days", report["first_reach"], report["comparison"])]
    parts += [
        (
            f"{label} ({report['regimes'][key]['days']} days)",
            report["regimes"][key],
            report["regimes"][key]["comparison"],
        )
        for key, label in (("calm", "Calm"), ("cascade", "Cascade"))
    ]
    for name, first, compared in parts:
        n = f"{first['events']}"
        rows.append(
            Figure(
                f"{name}: bigger cluster reached first",
                _share(first["share_bigger_first"]),
                _share_ci(first["share_bigger_first_ci95"]),
                n,
            )
        )
        rows.append(Figure(f"{name}: distance alone predicts", _share(first["baseline_share_bigger_first"]), "", n))
        if compared:
            scored = f"{compared['scored_events']}"
            rows.append(
                Figure(
                    f"{name}: log-loss, sizes − distance",
                    _signed(compared["log_loss_difference"]),
                    _signed_ci(compared["log_loss_difference_ci95"]),
                    scored,
                )
            )
            r2 = compared["pseudo_r2"]
            rows.append(
                Figure(
                    f"{name}: incremental pseudo-R²",
                    _signed(r2["incremental"]),
                    _signed_ci(r2["incremental_ci95"]),
                    scored,
                )
            )
    return rows


def _league(rows: list[dict[str, Any]] | None) -> list[LeagueRow]:
    return [
        LeagueRow(
            variant=row["variant"],
            events=row["events"],
            bigger_first=_share(row["share_bigger_first"]),
            bigger_first_interval=_share_ci(row["share_bigger_first_ci95"]),
            pseudo_r2=_signed(row["incremental_pseudo_r2"]),
            pseudo_r2_interval=_signed_ci(row["incremental_pseudo_r2_ci95"]),
            best=row["best"],
            personal=bool(row.get("personal")),
        )
        for row in rows or []
    ]


def backtest_card(backtest: Backtest, league: list[dict[str, Any]] | None = None) -> BacktestCard:
    """The card of one stored backtest; ``league`` replaces its stored league (personal rows added)."""
    reliability = (backtest.report.get("comparison") or {}).get("reliability") or {}
    names = [exchange_name(code) for code in backtest.oi_exchanges]
    return BacktestCard(
        backtest=backtest,
        sentences=validity.plain_words(backtest.report),
        model_points=_chart_points(reliability.get("model")),
        baseline_points=_chart_points(reliability.get("baseline")),
        every=validity.duration_plain(backtest.every_seconds),
        horizon=validity.duration_plain(backtest.horizon_seconds),
        oi_source=", ".join(names) if names else "no",
        figures=_figures(backtest.report),
        league=(rows := _league(league if league is not None else backtest.report.get("league"))),
        league_decided=any(row.best for row in rows),
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
    # The signed-in owner's own models join the league on request, for one asset at a time (each is
    # a walk over the stored history: computed on demand, then cached by its parameters).
    mine = list_personal_models(request.user) if request.GET.get("mine") and chosen and shown else []
    personal = [(f"mine: {m.name}", m.params) for m in mine]

    def card(b: Backtest) -> BacktestCard:
        return backtest_card(b, validity.personal_league(backtest=b, models=personal) if personal else None)

    sections = [{"asset": a, "cards": [card(b) for b in stored[a.pk]]} for a in shown]
    ctx = {"assets": assets, "chosen": chosen, "sections": sections, "chart": CHART}
    ctx["personal_offer"] = bool(chosen and shown and not personal and list_personal_models(request.user))
    ctx["personal_shown"] = [m.name for m in mine]
    ctx["measured_checks"] = measured_against_model(model_of_hyperliquid=hyperliquid_model_map, assets=shown)
    partial = bool(request.htmx) and not request.htmx.history_restore_request
    response = render(
        request, "heatmaps/model.html#model-report" if partial else "heatmaps/model.html", ctx, status=status
    )
    patch_vary_headers(response, ["HX-Request"])
    return response


def model_method(request: HtmxHttpRequest) -> HttpResponse:
    """/model/method/: docs/model.md as published with the code, so the page can link the method it measures."""
    path = Path(settings.BASE_DIR) / "docs" / "model.md"
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        raise Http404("the model's documentation is not installed here") from None
    return HttpResponse(text, content_type="text/plain; charset=utf-8")
