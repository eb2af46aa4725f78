"""Zone, funding, open-interest and cluster rules through the evaluation cycle: sample candles and
(simulated) open interest in PostgreSQL, maps computed by heatmaps, recorded liquidation events."""

from __future__ import annotations

import pytest

from accounts.alerts.evaluation import evaluate_asset
from accounts.alerts.rule_store import alert_rule_create
from accounts.annotations import annotation_create
from accounts.models import AlertEvent, User
from heatmaps.maps import heatmap_compute
from heatmaps.marketdata import insert_liquidations, ms_to_dt
from heatmaps.models import Asset, Heatmap
from heatmaps.rows import BASE_BAR_MS, LiquidationRow
from tests.accounts.alerts.db import FIRST, bar_ms, close, load_bars, load_open_interest, set_funding

pytestmark = pytest.mark.django_db
K = FIRST + 700  # more than two days of history before the new bar: the 12h map can be computed


def evaluate(asset: Asset) -> tuple[int, int]:
    return evaluate_asset(asset=asset, on_events=lambda ids: None)


def rule(user: User, condition: str, **params: object) -> None:
    alert_rule_create(user=user, asset="BTCUSDT", condition=condition, params=params, cooldown_minutes=1)


def test_price_enters_a_zone_from_below(alice: User, btc: Asset) -> None:
    low = close(K - 1) * 1.002
    zone = annotation_create(user=alice, asset="BTCUSDT", kind="zone", price=low, price_high=low * 1.01)
    rule(alice, "price_enters_zone", annotation=zone.pk)
    load_bars(btc, K, high=close(K - 1))  # the previous bar stays below the zone
    evaluate(btc)
    load_bars(btc, K + 1, start=K, high=low * 1.001, close=low * 0.999)  # a wick into it
    assert evaluate(btc) == (1, 1)
    values = AlertEvent.objects.get().values
    assert values["from"] == "below" and values["low"] == low


def test_moving_the_zone_moves_the_alert(alice: User, btc: Asset) -> None:
    far = close(K - 1) * 2
    zone = annotation_create(user=alice, asset="BTCUSDT", kind="zone", price=far, price_high=far * 1.01)
    rule(alice, "price_enters_zone", annotation=zone.pk)
    load_bars(btc, K, high=close(K - 1))
    evaluate(btc)
    low = close(K - 1) * 1.002
    zone.price, zone.price_high = low, low * 1.01
    zone.save()
    load_bars(btc, K + 1, start=K, high=low * 1.001)
    assert evaluate(btc) == (1, 1)


def test_funding_above_fires_when_the_oi_weighted_rate_crosses(alice: User, btc: Asset) -> None:
    rule(alice, "funding_above", rate=0.0005)
    load_bars(btc, K)
    load_open_interest(btc, K + 1)
    set_funding(btc, bar_ms(K - 10), 0.0001)
    evaluate(btc)
    # The new rate takes effect within bar K: at its close it is above, at bar K - 1's close it was not.
    set_funding(btc, bar_ms(K) + 60_000, 0.0007)
    load_bars(btc, K + 1, start=K)
    assert evaluate(btc) == (1, 1)
    values = AlertEvent.objects.get().values
    assert values["previous_rate"] == pytest.approx(0.0001) and values["funding_rate"] == pytest.approx(0.0007)


def test_funding_below_does_not_fire_without_open_interest(alice: User, btc: Asset) -> None:
    """The rate is weighted by open interest; with none recorded it is unknown, and unknown never fires."""
    rule(alice, "funding_below", rate=0.0)
    load_bars(btc, K)
    set_funding(btc, bar_ms(K - 10), 0.0001)
    evaluate(btc)
    set_funding(btc, bar_ms(K) + 60_000, -0.0002)
    load_bars(btc, K + 1, start=K)
    assert evaluate(btc) == (1, 0)


def test_oi_change_over_a_window(alice: User, btc: Asset) -> None:
    load_bars(btc, K)
    load_open_interest(btc, K + 1)
    from accounts.alerts.conditions import value_as_of
    from tests.accounts.alerts.sample import btc_open_interest

    oi = btc_open_interest()
    now = bar_ms(K) + BASE_BAR_MS
    change = float((value_as_of(oi, now) - value_as_of(oi, now - 3_600_000)) / value_as_of(oi, now - 3_600_000) * 100)
    assert change != 0
    threshold = change * 0.9  # same sign, a little smaller: fires
    rule(alice, "oi_change", percent=threshold, window_minutes=60)
    rule(alice, "oi_change", percent=change * 1.1, window_minutes=60)  # a little more than happened: silent
    evaluate(btc)
    load_bars(btc, K + 1, start=K)
    assert evaluate(btc) == (2, 1)
    (event,) = AlertEvent.objects.filter(bar_time=ms_to_dt(bar_ms(K)))
    assert event.values["change_pct"] == pytest.approx(change)
    assert event.values["percent"] == pytest.approx(threshold)


@pytest.fixture
def mapped(btc: Asset) -> Heatmap:
    """Bars and OI up to K - 1 and the 12h map computed from them (as the worker would)."""
    load_bars(btc, K)
    load_open_interest(btc, K)
    (heatmap,) = heatmap_compute(asset=btc, timeframes=["12h"])
    assert heatmap.clusters, "the sample's 12h map has clusters"
    return heatmap


def test_cluster_swept_reports_modelled_and_liquidated_usd(alice: User, btc: Asset, mapped: Heatmap) -> None:
    price = close(K - 1)
    target = min(mapped.clusters, key=lambda c: abs(c["peak_price"] - price))
    rule(alice, "cluster_swept", min_usd=target["usd"] * 0.99, timeframe="12h")
    evaluate(btc)
    # Bar K trades through the cluster's peak; the recorder saw two liquidations of that side during it.
    peak = target["peak_price"]
    if peak > price:
        load_bars(btc, K + 1, start=K, high=peak * 1.001, close=price)
    else:
        load_bars(btc, K + 1, start=K, low=peak * 0.999, close=price)
    side = target["side"]
    rows = [
        LiquidationRow("BTCUSDT", bar_ms(K) + 1000 * i, side, peak, 1.0, usd, f"t{i}")
        for i, usd in enumerate([120_000.0, 30_000.0])
    ]
    rows.append(LiquidationRow("BTCUSDT", bar_ms(K) + BASE_BAR_MS + 1, side, peak, 1.0, 999.0, "after"))
    insert_liquidations(asset=btc, exchange=btc.reference_exchange, rows=rows)
    assert evaluate(btc) == (1, 1)
    values = AlertEvent.objects.get().values
    assert values["swept_usd"] >= target["usd"]
    assert values["liquidated_usd"] == pytest.approx(150_000.0)


def test_cluster_within_and_forms(alice: User, btc: Asset, mapped: Heatmap) -> None:
    price = close(K - 1)
    nearest = min(mapped.clusters, key=lambda c: abs(c["peak_price"] - price) / c["usd"])
    rule(alice, "cluster_within", percent=50, side="either", timeframe="12h")
    rule(alice, "cluster_forms", min_usd=2 * max(c["usd"] for c in mapped.clusters), percent=5, timeframe="12h")
    assert evaluate(btc) == (2, 1)  # the first cycle: within holds, nothing can form yet
    assert AlertEvent.objects.get().condition == "cluster_within"
    assert nearest["usd"] > 0
    # The next map has a large cluster just above the price that the previous one did not have.
    # Larger than any cluster before it, so no earlier cluster of that size overlapped it.
    usd = 10 * max(c["usd"] for c in mapped.clusters)
    new = {
        "side": "short",
        "price_low": price * 1.01,
        "price_high": price * 1.012,
        "peak_price": price * 1.011,
        "usd": usd,
    }
    mapped.clusters = [*mapped.clusters, new]
    mapped.version += 1  # as heatmaps stores every changed map
    mapped.save(update_fields=["clusters", "version"])
    load_bars(btc, K + 1, start=K)
    evaluate(btc)
    formed = AlertEvent.objects.get(condition="cluster_forms")
    assert formed.values["peak_price"] == pytest.approx(new["peak_price"]) and formed.values["cluster_usd"] == usd
    load_bars(btc, K + 2, start=K + 1)
    evaluate(btc)  # the same map again: it formed once
    assert AlertEvent.objects.filter(condition="cluster_forms").count() == 1
