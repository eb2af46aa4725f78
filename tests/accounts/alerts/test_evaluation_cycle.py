"""The cycle's one-statement read and store against PostgreSQL: the read returns what the separate
reads of heatmaps return on the same rows, and the store keeps the cycle's promises (one event per
rule and bar, deliveries only to what is switched on when it stores)."""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

import numpy as np
import pytest
from django.db import transaction
from django.db.models import F

from accounts.alerts.cycle_reads import lock_memory_and_rules, read_cycle_market
from accounts.alerts.destinations import destination_create
from accounts.alerts.evaluation import MAX_CATCH_UP_BARS, NO_MEMORY, evaluate_asset
from accounts.alerts.event_store import store_cycle
from accounts.alerts.rule_store import alert_rule_create
from accounts.alerts.triggers import Firing
from accounts.models import (
    AlertDelivery,
    AlertDestination,
    AlertEvent,
    AlertFollowUp,
    AlertMarketMemory,
    AlertRule,
    User,
)
from heatmaps.maps import heatmap_compute, stored_clusters
from heatmaps.marketdata import (
    dt_to_ms,
    insert_liquidations,
    ms_to_dt,
    recent_market,
    recorded_liquidations,
)
from heatmaps.models import Asset, Liquidation
from heatmaps.rows import BASE_BAR_MS, LiquidationRow
from tests.accounts.alerts.db import FIRST, bar_ms, close, crossing_level, load_bars, load_open_interest, set_funding
from tests.accounts.alerts.test_channels import TOKEN

pytestmark = pytest.mark.django_db
K = FIRST + 700  # enough history for the 12h map


def test_the_one_statement_read_returns_what_the_separate_reads_do(btc: Asset) -> None:
    load_bars(btc, K)
    load_open_interest(btc, K)
    set_funding(btc, bar_ms(K - 100), 0.0001)
    set_funding(btc, bar_ms(K - 4), -0.0002)
    heatmap_compute(asset=btc, timeframes=["12h", "24h"])
    sides: list[Literal["long", "short"]] = ["long", "short"] * 10
    rows = [
        LiquidationRow("BTCUSDT", bar_ms(K - 1 - i) + 1234, side, 60_000.0, 1.0, 1000.0 * (i + 1), f"l{i}")
        for i, side in enumerate(sides)
    ]
    insert_liquidations(asset=btc, exchange=btc.reference_exchange, rows=rows)
    # Sub-millisecond times (0.6 ms past): the read must cut them as the ORM side's conversion does.
    shifted = Liquidation.objects.filter(dedupe_key__in=[f"l{i}" for i in range(0, 20, 3)])
    assert shifted.update(time=F("time") + timedelta(microseconds=600)) == 7
    last_seen = ms_to_dt(bar_ms(K - 4))
    for window, bars in [(timedelta(minutes=5), 600), (timedelta(hours=60), 600), (timedelta(minutes=5), 3)]:
        read = read_cycle_market(
            asset=btc, window=window, bars=bars, catch_up_bars=MAX_CATCH_UP_BARS, last_seen=last_seen
        )
        expected = recent_market(asset=btc, window=window, bars=bars)
        assert read.market is not None and expected is not None
        for name in ("times_ms", "open", "high", "low", "close"):
            np.testing.assert_array_equal(getattr(read.market.bars, name), getattr(expected.bars, name))
        assert read.market.open_interest.keys() == expected.open_interest.keys() != set()
        for key, series in expected.open_interest.items():
            np.testing.assert_array_equal(read.market.open_interest[key].times_ms, series.times_ms)
            np.testing.assert_array_equal(read.market.open_interest[key].values, series.values)
        at = bar_ms(K - 1) + BASE_BAR_MS
        assert read.market.funding_rate_at(at) == expected.funding_rate_at(at) is not None
    assert read.maps == stored_clusters(asset=btc) and set(read.maps) == {"12h", "24h"}
    for since in (bar_ms(K - 3), bar_ms(K - 3) + 1234, bar_ms(K - 3) + 1235, bar_ms(K - 1) + 1235):
        got = read.liquidations_since(since)
        want = recorded_liquidations(asset=btc, since=ms_to_dt(since))
        assert got is not None and want is not None
        np.testing.assert_array_equal(got.times_ms, want.times_ms)
        np.testing.assert_array_equal(got.usd, want.usd)
        np.testing.assert_array_equal(got.long, want.long)
    assert read.liquidations is not None and read.liquidations.times_ms.min() >= dt_to_ms(last_seen)


def test_an_asset_without_bars_checks_its_rules_and_remembers_nothing(alice: User, btc: Asset) -> None:
    alert_rule_create(user=alice, asset="BTCUSDT", condition="price_crosses", params={"price": 1.0, "direction": "up"})
    read = read_cycle_market(
        asset=btc, window=timedelta(minutes=5), bars=600, catch_up_bars=MAX_CATCH_UP_BARS, last_seen=NO_MEMORY
    )
    assert read.market is None and read.maps == {} and read.liquidations is None
    assert evaluate_asset(asset=btc, on_events=lambda ids: None) == (1, 0)
    assert AlertMarketMemory.objects.get(asset=btc).bar_time == NO_MEMORY
    assert not AlertEvent.objects.exists()


def crossing(user: User, **kwargs: object) -> int:
    level, direction = crossing_level(K)
    rule, _ = alert_rule_create(
        user=user,
        asset="BTCUSDT",
        condition="price_crosses",
        params={"price": level, "direction": direction},
        **kwargs,  # type: ignore[arg-type]
    )
    return rule.pk


def test_disabled_rules_are_not_checked_and_a_second_run_stores_nothing_twice(
    alice: User, bob: User, btc: Asset
) -> None:
    fires = crossing(alice)
    silent = crossing(bob)
    AlertRule.objects.filter(pk=silent).update(enabled=False)
    load_bars(btc, K)
    assert evaluate_asset(asset=btc, on_events=lambda ids: None) == (1, 0)
    load_bars(btc, K + 1, start=K)
    delivered: list[int] = []
    assert evaluate_asset(asset=btc, on_events=delivered.extend) == (1, 1)
    (event,) = AlertEvent.objects.all()
    assert event.rule_id == fires and event.user_id == alice.pk
    counts = (AlertDelivery.objects.count(), AlertFollowUp.objects.count())
    assert counts == (1, 1)
    # Run again, and again with the memory forgotten: nothing new anywhere.
    assert evaluate_asset(asset=btc, on_events=delivered.extend) == (1, 0)
    AlertMarketMemory.objects.all().delete()
    AlertRule.objects.filter(pk=fires).update(last_fired_bar=None)
    assert evaluate_asset(asset=btc, on_events=delivered.extend) == (1, 0)
    assert AlertEvent.objects.count() == 1
    assert (AlertDelivery.objects.count(), AlertFollowUp.objects.count()) == counts
    assert AlertMarketMemory.objects.get(asset=btc).bar_time == ms_to_dt(bar_ms(K))


def test_destinations_switched_off_or_removed_after_the_rules_were_read_get_nothing(alice: User, btc: Asset) -> None:
    def telegram(name: str) -> AlertDestination:
        return destination_create(
            user=alice, kind="telegram", name=name, fields={"bot_token": TOKEN, "chat_id": "4242"}
        )

    kept, switched_off, removed = telegram("kept"), telegram("off"), telegram("gone")
    rule_id = crossing(alice, destinations=[kept.pk, switched_off.pk, removed.pk], trigger="once")
    load_bars(btc, K + 1)
    level, direction = crossing_level(K)
    values: dict[str, object] = {
        "price": level,
        "direction": direction,
        "previous_close": close(K - 1),
        "close": close(K),
    }
    firing = Firing(rule_id=rule_id, asset="BTCUSDT", condition="price_crosses", bar_ms=bar_ms(K), values=values)  # type: ignore[arg-type]
    with transaction.atomic():
        memory, rules = lock_memory_and_rules(asset=btc)
        # Mid-cycle: one destination is switched off, another deleted, before the events are stored.
        AlertDestination.objects.filter(pk=switched_off.pk).update(disabled_reason="switched off")
        removed.delete()
        (new,) = store_cycle(
            asset=btc, rules=rules, firings=[firing], memory=memory, bar_time=ms_to_dt(bar_ms(K)), clusters=None
        )
    event = AlertEvent.objects.get()
    assert (new.id, new.rule_id, new.user_id, new.bar_ms) == (event.pk, rule_id, alice.pk, bar_ms(K))
    assert sorted(AlertDelivery.objects.values_list("channel", "destination_id", "status")) == [
        ("in_app", None, "sent"),
        ("telegram", kept.pk, "pending"),
    ]
    rule = AlertRule.objects.get(pk=rule_id)
    assert not rule.enabled and rule.last_fired_bar == event.bar_time  # a "once" rule, off after firing
    assert AlertFollowUp.objects.get().event_id == event.pk
    assert AlertMarketMemory.objects.get(asset=btc).bar_time == ms_to_dt(bar_ms(K))


def test_a_rule_changed_between_cycles_is_evaluated_as_it_now_is(alice: User, btc: Asset) -> None:
    """Specs are reused across cycles only while nothing they are made of changed."""
    level, direction = crossing_level(K)
    rule_id = crossing(alice)
    other = "down" if direction == "up" else "up"
    load_bars(btc, K)
    evaluate_asset(asset=btc, on_events=lambda ids: None)
    # The level moves the wrong way for bar K: it must not fire on what the previous cycle parsed.
    AlertRule.objects.filter(pk=rule_id).update(params={"price": level, "direction": other})
    load_bars(btc, K + 1, start=K)
    assert evaluate_asset(asset=btc, on_events=lambda ids: None) == (1, 0)
    AlertRule.objects.filter(pk=rule_id).update(params={"price": level, "direction": direction})
    AlertMarketMemory.objects.filter(asset=btc).update(bar_time=ms_to_dt(bar_ms(K - 1)))
    assert evaluate_asset(asset=btc, on_events=lambda ids: None) == (1, 1)


def test_a_stored_rule_that_no_longer_validates_is_skipped_and_the_others_fire(alice: User, btc: Asset) -> None:
    broken = crossing(alice)
    fires = crossing(alice)
    AlertRule.objects.filter(pk=broken).update(params={"price": -5.0, "direction": "sideways"})
    load_bars(btc, K)
    evaluate_asset(asset=btc, on_events=lambda ids: None)
    load_bars(btc, K + 1, start=K)
    assert evaluate_asset(asset=btc, on_events=lambda ids: None) == (1, 1)
    assert list(AlertEvent.objects.values_list("rule_id", flat=True)) == [fires]
