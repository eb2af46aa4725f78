"""Model validity in the product: the backtest over stored history, its command, task and pages."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from django.test import Client

from heatmaps import engine
from heatmaps.maps import asset_params, load_base_bars
from heatmaps.marketdata import dt_to_ms, insert_liquidations, load_sample_data, ms_to_dt
from heatmaps.models import Asset, Backtest, Exchange
from heatmaps.rows import LiquidationRow
from heatmaps.tasks import backtest_asset, backtest_tick
from heatmaps.validity import backtest_run, backtest_store

pytestmark = pytest.mark.django_db

# The documented shape of the command's JSON (docs/model.md): keys at each level.
TOP_KEYS = {
    "asset", "timeframe", "model", "every_seconds", "horizon_seconds", "computed_at_ms", "compute_ms",
    "data", "steps", "first_reach", "comparison", "regimes", "same_distance", "modelled_vs_realised", "league",
}  # fmt: skip
DATA_KEYS = {"start_ms", "end_ms", "bars", "candle_exchange", "oi_exchanges", "oi_simulated", "liquidations"}
STEPS_KEYS = {
    "total", "first_ms", "last_ms", "two_sided", "upper_first", "lower_first", "neither", "same_bar", "resolved",
    "events",
}  # fmt: skip
FIRST_KEYS = {
    "block_days", "events", "blocks", "share_upper_first", "share_upper_first_ci95", "baseline_share_upper_first",
    "share_bigger_first", "share_bigger_first_ci95", "baseline_share_bigger_first", "excess_bigger_first",
    "excess_bigger_first_ci95",
}  # fmt: skip
COMPARISON_KEYS = {
    "fit_events", "fit_events_in_doubt", "scored_from_ms", "coef", "baseline_coef", "scored_events", "log_loss",
    "log_loss_difference", "log_loss_difference_ci95", "brier", "brier_difference", "brier_difference_ci95",
    "pseudo_r2", "reliability",
}  # fmt: skip
REGIME_KEYS = FIRST_KEYS - {"block_days"} | {"days", "comparison"}
SAME_KEYS = {"steps", "hit_rate", "hit_rate_ci95", "baseline_hit_rate", "difference", "difference_ci95"}
MVR_KEYS = {"sweeps", "modelled_usd", "realised_usd", "ratio", "median_ratio", "correlation"}


@pytest.fixture(scope="module")
def sample_backtest(django_db_setup: None, django_db_blocker: Any) -> Iterator[None]:
    """Sample data (simulated OI) and the BTCUSDT 1w backtest, once for the module; removed at the end."""
    with django_db_blocker.unblock():
        load_sample_data()
        backtest_store(asset=Asset.objects.get(symbol="BTCUSDT"), timeframe="1w")
        backtest_store(asset=Asset.objects.get(symbol="BTCUSDT"), timeframe="24h")
        yield
        Asset.objects.filter(symbol__in=["BTCUSDT", "ETHUSDT"]).delete()


@pytest.fixture
def sample_btc(sample_backtest: None) -> Asset:
    return Asset.objects.select_related("reference_exchange").get(symbol="BTCUSDT")


def run_json(*args: str) -> dict[str, Any]:
    out = io.StringIO()
    call_command("backtest_magnets", *args, "--json", stdout=out)
    return json.loads(out.getvalue())


def test_command_json_has_the_documented_shape(sample_btc: Asset) -> None:
    report = run_json("--asset", "btcusdt", "--timeframe", "1w", "--every", "4h", "--horizon", "24h", "--no-store")
    assert set(report) == TOP_KEYS
    assert set(report["data"]) == DATA_KEYS
    assert set(report["steps"]) == STEPS_KEYS
    assert set(report["first_reach"]) == FIRST_KEYS
    assert set(report["same_distance"]) == SAME_KEYS
    assert set(report["regimes"]) == {"definition", "calm", "cascade"}
    assert set(report["regimes"]["calm"]) == REGIME_KEYS and set(report["regimes"]["cascade"]) == REGIME_KEYS
    assert report["comparison"] is None or set(report["comparison"]) == COMPARISON_KEYS
    # Events are counted once: no more than the resolved steps, and the regimes split them.
    assert report["first_reach"]["events"] == report["steps"]["events"] <= report["steps"]["resolved"]
    assert report["regimes"]["calm"]["events"] + report["regimes"]["cascade"]["events"] == report["steps"]["events"]
    assert report["modelled_vs_realised"] is None  # the sample set has no recorded liquidations
    assert (report["asset"], report["timeframe"], report["every_seconds"], report["horizon_seconds"]) == (
        "BTCUSDT", "1w", 4 * 3600, 24 * 3600,
    )  # fmt: skip
    assert report["data"]["oi_simulated"] is True
    steps = report["steps"]
    assert steps["total"] >= 100
    assert steps["upper_first"] + steps["lower_first"] + steps["neither"] + steps["same_bar"] == steps["two_sided"]
    assert (steps["first_ms"] - report["data"]["start_ms"]) >= 2 * engine.TIMEFRAMES["1w"].window_ms
    assert steps["last_ms"] + 24 * 3_600_000 <= report["data"]["end_ms"] + engine.BASE_BAR_MS
    json.dumps(report, allow_nan=False)  # strict JSON: no NaN anywhere


def test_report_is_the_engine_backtest_of_the_stored_history(sample_btc: Asset) -> None:
    report = backtest_run(asset=sample_btc, timeframe="1w")
    assert report is not None
    loaded = load_base_bars(asset=sample_btc, since=None)
    assert loaded is not None
    direct = engine.backtest_magnets(bars=loaded.bars, timeframe="1w", params=asset_params(sample_btc))
    assert report["steps"] == direct.summary["steps"]
    assert report["first_reach"] == direct.summary["first_reach"]
    assert report["comparison"] == direct.summary["comparison"]
    assert report["regimes"] == direct.summary["regimes"]
    assert report["same_distance"] == direct.summary["same_distance"]


def test_stored_once_per_asset_and_timeframe_and_replaced_whole(sample_btc: Asset) -> None:
    first = Backtest.objects.get(asset=sample_btc, timeframe="1w")
    assert first.oi_simulated and first.steps == first.report["steps"]["total"]
    again = backtest_asset(sample_btc.pk, "1w")  # the task, called in-process
    assert again == first.steps
    assert Backtest.objects.filter(asset=sample_btc, timeframe="1w").count() == 1
    assert Backtest.objects.get(asset=sample_btc, timeframe="1w").computed_at >= first.computed_at
    assert backtest_asset(sample_btc.pk, "1m") == 0  # 33 days cannot warm up a 1m map: nothing stored
    assert not Backtest.objects.filter(asset=sample_btc, timeframe="1m").exists()
    assert backtest_asset(999_999, "1w") == 0


def test_recorded_liquidations_are_compared_with_the_modelled_sweeps(sample_btc: Asset) -> None:
    loaded = load_base_bars(asset=sample_btc, since=None)
    assert loaded is not None
    steps = engine.backtest_magnets(
        bars=loaded.bars, timeframe="1w", params=asset_params(sample_btc), bootstrap=0
    ).steps
    swept = np.flatnonzero(steps.lower_at_ms >= 0)
    assert swept.size >= 2
    # One long liquidation half-way through each downward sweep, and one before the span starts.
    rows, expected = [], 0.0
    for n, i in enumerate(swept.tolist()):
        at = (int(steps.time_ms[i]) + int(steps.lower_at_ms[i])) // 2
        value = 1_000.0 * (n + 1)
        rows.append(LiquidationRow("BTCUSDT", at, "long", 60_000.0, value / 60_000.0, value, f"t{n}"))
    binance = Exchange.get_supported("binance")
    insert_liquidations(asset=sample_btc, exchange=binance, rows=rows)
    report = backtest_run(asset=sample_btc, timeframe="1w")
    assert report is not None
    mvr = report["modelled_vs_realised"]
    assert set(mvr) == MVR_KEYS
    # Each event lies in its own sweep's move and maybe in other steps' moves that span it.
    events = np.array([r.time_ms for r in rows])
    values = np.array([r.value for r in rows])
    span = (steps.time_ms >= events.min()) & (steps.lower_at_ms >= 0) & (steps.lower_at_ms <= events.max())
    span_up = (steps.time_ms >= events.min()) & (steps.upper_at_ms >= 0) & (steps.upper_at_ms <= events.max())
    for i in np.flatnonzero(span).tolist():
        inside = (events >= steps.time_ms[i]) & (events < steps.lower_at_ms[i])
        expected += float(values[inside].sum())
    assert mvr["sweeps"] == int(span.sum() + span_up.sum())
    assert mvr["realised_usd"] == pytest.approx(expected)
    assert report["data"]["liquidations"]["events"] == len(rows)


def test_a_report_stored_before_the_protocol_still_reads(sample_btc: Asset) -> None:
    from heatmaps.validity import plain_words

    legacy: dict[str, Any] = {
        "steps": {"total": 120},
        "first_reach": {"resolved": 9},
        "same_distance": {},
        "timeframe": "1w",
    }
    legacy |= {"every_seconds": 14400, "horizon_seconds": 86400}
    words = plain_words(legacy)
    assert len(words) == 1 and "replaced at the next daily run" in words[0]


def test_the_league_ranks_the_leverage_bands_on_the_same_steps(sample_btc: Asset) -> None:
    report = run_json("--asset", "BTCUSDT", "--timeframe", "24h", "--no-store")
    league = report["league"]
    assert [row["variant"] for row in league] == ["v1", "v1 5–10x", "v1 25x", "v1 50–100x", "v2"]
    assert league[0]["events"] == report["first_reach"]["events"]
    band = run_json("--asset", "BTCUSDT", "--timeframe", "24h", "--leverage", "50x-100x")
    assert band["model"] == "v1 50–100x" and band["league"] is None
    assert band["steps"]["total"] == report["steps"]["total"]  # the same steps
    assert band["first_reach"]["events"] == league[3]["events"]
    assert band["first_reach"]["share_bigger_first"] == league[3]["share_bigger_first"]
    out = io.StringIO()
    call_command("backtest_magnets", "--asset", "BTCUSDT", "--timeframe", "24h", "--no-store", stdout=out)
    assert "Variants on the same steps" in out.getvalue() and "v1 50–100x:" in out.getvalue()


def test_the_same_seed_gives_the_same_report_and_another_seed_other_intervals(sample_btc: Asset) -> None:
    one = run_json("--asset", "BTCUSDT", "--timeframe", "24h", "--no-store")
    again = run_json("--asset", "BTCUSDT", "--timeframe", "24h", "--no-store")
    other = run_json("--asset", "BTCUSDT", "--timeframe", "24h", "--seed", "5")
    assert one["first_reach"] == again["first_reach"] and one["comparison"] == again["comparison"]
    assert one["first_reach"]["share_bigger_first"] == other["first_reach"]["share_bigger_first"]
    assert one["first_reach"]["share_upper_first_ci95"] != other["first_reach"]["share_upper_first_ci95"]


def test_bad_arguments_are_refused_with_a_message(sample_btc: Asset) -> None:
    with pytest.raises(CommandError, match="leverage band"):
        call_command("backtest_magnets", "--asset", "BTCUSDT", "--leverage", "10-5")
    with pytest.raises(CommandError, match="no leverage tier"):
        call_command("backtest_magnets", "--asset", "BTCUSDT", "--leverage", "200-300")
    with pytest.raises(CommandError, match="not a duration"):
        call_command("backtest_magnets", "--asset", "BTCUSDT", "--every", "four hours")
    with pytest.raises(CommandError, match="multiple"):
        call_command("backtest_magnets", "--asset", "BTCUSDT", "--timeframe", "1w", "--every", "10m")
    with pytest.raises(CommandError, match="unknown asset"):
        call_command("backtest_magnets", "--asset", "NOPE")


def test_plain_summary_is_labelled_simulated(sample_btc: Asset) -> None:
    out = io.StringIO()
    call_command("backtest_magnets", "--asset", "BTCUSDT", "--timeframe", "1w", "--no-store", stdout=out)
    text = out.getvalue()
    assert text.startswith("SIMULATED open interest")
    assert "4-hour steps of the 1w map" in text and "distance alone predicts" in text


def test_daily_beat_runs_the_backtests_on_the_compute_queue(sample_btc: Asset, monkeypatch: Any) -> None:
    schedule: dict[str, Any] = settings.CELERY_BEAT_SCHEDULE
    entry = next(e for e in schedule.values() if e["task"] == "heatmaps.backtest_tick")
    assert entry["schedule"] == 86400.0
    queued: list[tuple[Any, ...]] = []
    monkeypatch.setattr(backtest_asset, "delay", lambda *args: queued.append(args))
    enabled = Asset.objects.filter(enabled=True).count()
    assert backtest_tick() == enabled * len(engine.TIMEFRAMES)
    assert (sample_btc.pk, "1w") in queued
    assert backtest_asset.name == "heatmaps.backtest_asset"
    routes = settings.CELERY_TASK_ROUTES
    assert not any(backtest_asset.name.startswith(k.rstrip("*")) for k in routes if routes[k]["queue"] != "compute")
    assert settings.CELERY_TASK_DEFAULT_QUEUE == "compute"


def test_model_page_says_it_in_words_with_chart_and_simulated_label(client: Client, sample_btc: Asset) -> None:
    response = client.get("/model/")
    html = response.content.decode()
    assert response.status_code == 200
    assert "Model accuracy" in html and "Bitcoin perpetual" in html
    assert "steps of the 1w map" in html and "distance alone predicts" in html
    assert "SIMULATED open interest" in html
    assert "<svg" in html and "Reliability" in html  # the 24h backtest has enough steps for a fit
    fitted = Backtest.objects.get(asset=sample_btc, timeframe="24h").report["comparison"]
    assert fitted["scored_events"] and html.count("<circle") >= 2
    assert f"over the last {fitted['scored_events']} events" in html
    assert "95 % interval" in html and "distinct events" in html and "Cascade days" in html
    assert "Variants on the same steps" in html and "v1 50–100x" in html
    assert "<code>docs/model.md</code>" not in html and 'href="/model/method/"' in html  # a link, not a code string
    method = client.get("/model/method/")
    assert method.status_code == 200 and "Does the magnet work?" in method.content.decode()
    assert "No backtest yet" in html  # ETHUSDT has none
    stored = Backtest.objects.get(asset=sample_btc, timeframe="1w")
    assert f"{ms_to_dt(stored.report['data']['end_ms']):%Y-%m-%d %H:%M} UTC" in html
    assert "<script>" not in html and "onclick" not in html


def test_model_page_narrows_to_one_asset_and_swaps_only_the_report(client: Client, sample_btc: Asset) -> None:
    full = client.get("/model/?asset=ETHUSDT").content.decode()
    assert "ETHUSDT</span></h2>" in full and "BTCUSDT</span></h2>" not in full and "steps of the 1w map" not in full
    partial = client.get("/model/?asset=BTCUSDT", HTTP_HX_REQUEST="true")
    body = partial.content.decode()
    assert partial.status_code == 200 and "<html" not in body and 'id="model-report"' in body
    assert "steps of the 1w map" in body
    assert partial["Vary"] and "HX-Request" in partial["Vary"]
    assert client.get("/model/?asset=NOPE").status_code == 404


def test_asset_page_has_a_model_accuracy_section(client: Client, sample_btc: Asset) -> None:
    html = client.get("/assets/BTCUSDT/?tf=24h").content.decode()
    assert 'id="model-accuracy"' in html and "steps of the 1w map" in html
    assert 'href="/model/?asset=BTCUSDT"' in html
    eth = client.get("/assets/ETHUSDT/").content.decode()
    assert "No backtest of ETHUSDT yet" in eth
    assert "manage.py" not in eth  # a visitor is never shown an operator's command
    # A timeframe tab swap (HTMX) returns the map panel only, not the section again.
    assert "model-accuracy" not in client.get("/assets/BTCUSDT/?tf=1w", HTTP_HX_REQUEST="true").content.decode()


def test_times_in_the_report_are_utc_milliseconds(sample_btc: Asset) -> None:
    stored = Backtest.objects.get(asset=sample_btc, timeframe="1w")
    assert dt_to_ms(stored.data_end) == stored.report["data"]["end_ms"]


@pytest.mark.parametrize(
    ("ci", "verdict"),
    [
        ([-0.03, -0.01], "the cluster sizes added to what distance predicts"),
        ([-0.01, 0.02], "not distinguishable from distance alone"),
        ([0.004, 0.02], "worse than distance alone"),
        ([-0.0004, -0.0001], "no practical difference from distance alone"),
    ],
)
def test_plain_words_verdict_follows_the_interval(sample_btc: Asset, ci: list[float], verdict: str) -> None:
    from heatmaps.validity import plain_words

    report = json.loads(json.dumps(Backtest.objects.get(asset=sample_btc, timeframe="24h").report))
    assert report["first_reach"]["blocks"] >= 10
    report["comparison"]["log_loss_difference_ci95"] = ci
    text = " ".join(plain_words(report))
    assert verdict in text
    assert f"{ci[0]:+.4f} to {ci[1]:+.4f}" in text
    report["first_reach"]["blocks"] = 6
    assert "only 6 day blocks: too few for a verdict" in " ".join(plain_words(report))


@pytest.mark.parametrize(
    ("value", "text"), [(-2e-11, "0.0000"), (0.0, "0.0000"), (0.0123, "+0.0123"), (-0.00006, "-0.0001")]
)
def test_a_figure_that_rounds_to_zero_carries_no_sign(value: float, text: str) -> None:
    from heatmaps.validity import signed

    assert signed(value) == text
