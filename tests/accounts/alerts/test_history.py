""" "Test on history": the rule replayed bar by bar as the worker would (the same firings as a
bar-by-bar computation, cooldowns included), cluster rules without look-ahead (more history after
a bar changes nothing before it), the vectorised clusters equal to the engine's, and the form's
answer with its chart and record."""

from __future__ import annotations

import re

import numpy as np
import pytest
from django.test import Client

from accounts.alerts.history import MapsAt, clusters_of, replay, rule_history
from accounts.alerts.rule_store import alert_rule_create
from accounts.alerts.rules import ClusterWithin, PriceCrosses, RuleSpec
from accounts.annotations import annotation_create
from accounts.models import AlertRule, User
from heatmaps import engine
from heatmaps.maps import asset_params, load_base_bars
from heatmaps.models import Asset
from tests.accounts.alerts.db import FIRST, close, load_bars, load_open_interest
from tests.accounts.alerts.sample import btc_bars
from tests.accounts.helpers import hx_post

FORM = {"asset": "BTCUSDT", "trigger": "every", "cooldown_minutes": "60", "enabled": "on", "channels": ["in_app"]}


def test_replay_fires_where_closes_cross_and_keeps_the_cooldown() -> None:
    bars = btc_bars()
    level = float(np.median(bars.close[:3000]))
    spec = RuleSpec(id=1, asset="BTCUSDT", params=PriceCrosses(price=level), trigger="every", cooldown_minutes=120)
    firings = replay(spec=spec, bars=bars.upto(2999), start_index=1)
    # Independently: every bar whose close crossed the level, then at most one per 120 minutes.
    prev, now = bars.close[:2999], bars.close[1:3000]
    crossed = np.flatnonzero(((prev < level) & (level <= now)) | ((prev > level) & (level >= now))) + 1
    expected: list[int] = []
    for index in crossed.tolist():
        t = int(bars.times_ms[index])
        if not expected or t - expected[-1] >= 120 * 60_000:
            expected.append(t)
    assert [f.bar_ms for f in firings] == expected and len(expected) > 3


def test_vectorised_clusters_equal_the_engines(btc: Asset) -> None:
    load_bars(btc, FIRST + 2000)
    load_open_interest(btc, FIRST + 2000)
    loaded = load_base_bars(asset=btc, since=None)
    assert loaded is not None
    for key in ("12h", "24h", "1w"):
        tf = engine.TIMEFRAMES[key]
        buckets = engine.aggregate(engine.carry_open_interest(loaded.bars), tf.bar_ms)
        end = int(buckets.open_time[-1])
        for t in range(end - 4 * 86_400_000, end, 5 * 3_600_000):
            t -= t % tf.bar_ms
            grid = engine.last_column_at(buckets=buckets, timeframe=tf, params=asset_params(btc), t_ms=t)
            assert grid is not None
            mine, ref = clusters_of(grid), engine.find_clusters(grid, limit=20)
            assert len(mine) == len(ref) > 0
            for i, c in enumerate(ref):
                level = mine.level(i)
                assert (level.side, level.peak_price, level.price_low, level.price_high) == (
                    c.side,
                    c.peak_price,
                    c.price_low,
                    c.price_high,
                )
                assert level.usd == pytest.approx(c.usd, rel=1e-12)


def test_cluster_rules_see_no_later_bars(btc: Asset) -> None:
    """The firings up to a bar are the same whether the stored history ends there or goes on."""
    load_bars(btc, FIRST + 1600)
    load_open_interest(btc, FIRST + 1600)
    params = ClusterWithin(percent=1.5, timeframe="24h")
    early = rule_history(asset=btc, params=params, days=2)
    load_bars(btc, FIRST + 1900, start=FIRST + 1600)
    load_open_interest(btc, FIRST + 1900, start=FIRST + 1600)
    later = rule_history(asset=btc, params=params, days=3)
    assert early is not None and later is not None and early.firings and early.maps > 0
    cut = early.end_ms
    before = [(f.bar_ms, f.values) for f in later.firings if f.bar_ms + 300_000 <= cut and f.bar_ms >= early.start_ms]
    assert before == [(f.bar_ms, f.values) for f in early.firings]


def test_maps_are_rebuilt_only_from_complete_buckets(btc: Asset) -> None:
    load_bars(btc, FIRST + 1200)
    load_open_interest(btc, FIRST + 1200)
    loaded = load_base_bars(asset=btc, since=None)
    assert loaded is not None
    tf = engine.TIMEFRAMES["1w"]
    buckets = engine.aggregate(engine.carry_open_interest(loaded.bars), tf.bar_ms)
    maps = MapsAt(buckets=buckets, timeframe=tf, params=asset_params(btc))
    bar = int(buckets.open_time[-3]) + 10 * 60_000  # a bar inside a 30-minute bucket
    first = maps.maps_for_bar(bar)
    assert first.previous is None and first.current.through_ms == int(buckets.open_time[-3])  # the bucket before
    second = maps.maps_for_bar(bar + 300_000)  # same bucket: the same map, nothing new built
    assert second.previous is first.current and second.current is first.current and maps.built == 1


@pytest.mark.django_db
def test_the_form_tests_a_rule_on_history(alice_client: Client, alice: User, btc: Asset) -> None:
    load_bars(btc, FIRST + 2000)
    load_open_interest(btc, FIRST + 2000)
    level = close(FIRST + 1700)
    response = hx_post(
        alice_client,
        "/alerts/rules/history/",
        {**FORM, "condition": "price_crosses", "price": f"{level:.1f}", "direction": "either", "history_days": "3"},
    )
    html = response.content.decode()
    assert response.status_code == 200 and html.lstrip().startswith('<section id="rule-history"')
    fired = int(re.search(r'class="history-fired">(\d+) alert', html).group(1))  # type: ignore[union-attr]
    assert fired >= 1 and html.count('class="history-mark') == fired
    assert "Price crosses" in html and "the last 3 days" in html and "<svg" in html
    assert not AlertRule.objects.exists()  # a test saves nothing
    page = alice_client.post(
        "/alerts/rules/history/",
        {**FORM, "condition": "price_crosses", "price": f"{level:.1f}", "history_days": "3"},
    ).content.decode()
    assert "<form" in page and 'class="history-fired"' in page  # without JavaScript: the form with the result


@pytest.mark.django_db
def test_history_refuses_what_a_save_would(alice_client: Client, bob: User, btc: Asset) -> None:
    zone = annotation_create(user=bob, asset="BTCUSDT", kind="zone", price=80_000, price_high=81_000)
    html = hx_post(
        alice_client, "/alerts/rules/history/", {**FORM, "condition": "price_enters_zone", "annotation": str(zone.pk)}
    ).content.decode()
    assert "Cannot test this rule" in html and "history-fired" not in html
    html = hx_post(
        alice_client,
        "/alerts/rules/history/",
        {**FORM, "condition": "cluster_within", "percent": "80", "timeframe": "1w"},
    ).content.decode()
    assert "Cannot test this rule" in html and "percent" in html.lower()
    bobs, _ = alert_rule_create(user=bob, asset="BTCUSDT", condition="price_crosses", params={"price": 1.0})
    response = alice_client.post(
        "/alerts/rules/history/", {**FORM, "condition": "price_crosses", "price": "1", "rule_id": str(bobs.pk)}
    )
    assert response.status_code == 404
