"""The alert pages: the rule form (prefilled from "Alert me" links, only the chosen condition's
fields, swapped with HTMX), switching on/off, deleting, the history and the header's bell."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from accounts.alerts.rule_store import alert_rule_create
from accounts.annotations import annotation_create
from accounts.models import AlertEvent, AlertRule, User
from heatmaps.models import Asset
from tests.accounts.helpers import hx_get, hx_post

pytestmark = pytest.mark.django_db

FORM = {"asset": "BTCUSDT", "trigger": "every", "cooldown_minutes": "30", "enabled": "on", "channels": ["in_app"]}


def test_alert_me_prefills_the_form(alice_client: Client, btc: Asset) -> None:
    page = alice_client.get("/alerts/rules/new/?asset=btcusdt&condition=price_crosses&price=91234.5&direction=up")
    html = page.content.decode()
    assert page.status_code == 200
    assert 'value="BTCUSDT"' in html and 'value="91234.5"' in html
    assert '<option value="up" selected>' in html
    assert 'name="percent"' not in html  # only the chosen condition's fields
    assert re.search(r'<input type="checkbox" name="enabled"[^>]* checked', html)  # a new rule starts switched on


def test_changing_the_condition_swaps_only_its_fields(alice_client: Client, btc: Asset) -> None:
    response = hx_get(alice_client, "/alerts/rules/new/?asset=BTCUSDT&condition=cluster_within&price=5")
    html = response.content.decode()
    assert html.lstrip().startswith('<div id="condition-fields" data-condition="cluster_within"')
    assert all(f'name="{n}"' in html for n in ("percent", "side", "min_usd", "timeframe"))
    assert 'name="price"' not in html and "<html" not in html
    assert "HX-Request" in response["Vary"]


def test_show_fields_without_javascript(alice_client: Client, btc: Asset) -> None:
    response = alice_client.post("/alerts/rules/new/", {**FORM, "condition": "oi_change", "show_fields": "1"})
    html = response.content.decode()
    assert response.status_code == 200 and 'name="window_minutes"' in html and "<html" in html
    assert not AlertRule.objects.exists()


def test_create_edit_switch_off_and_delete(alice_client: Client, alice: User, btc: Asset) -> None:
    response = alice_client.post("/alerts/rules/new/", {**FORM, "condition": "price_crosses", "price": "90000"})
    assert response.status_code == 302 and response["Location"] == "/alerts/rules/"
    rule = AlertRule.objects.get(user=alice)
    assert (rule.condition, rule.params, rule.cooldown_minutes) == (
        "price_crosses",
        {"price": 90000.0, "direction": "either"},
        30,
    )
    page = alice_client.get("/alerts/rules/").content.decode()
    # Plain words, not the stored keys and floats.
    assert "Price crosses 90,000" in page and "either way" in page and "webhook-secret" not in page
    assert "price_crosses" not in page and "90000.0" not in page
    alice_client.post(
        f"/alerts/rules/{rule.pk}/", {**FORM, "condition": "price_crosses", "price": "95000", "direction": "down"}
    )
    rule.refresh_from_db()
    assert rule.params == {"price": 95000.0, "direction": "down"}
    alice_client.post(f"/alerts/rules/{rule.pk}/toggle/")
    rule.refresh_from_db()
    assert not rule.enabled
    alice_client.post(f"/alerts/rules/{rule.pk}/delete/")
    assert not AlertRule.objects.exists()


def test_form_errors_name_the_field_and_save_nothing(alice_client: Client, btc: Asset) -> None:
    response = alice_client.post(
        "/alerts/rules/new/", {**FORM, "condition": "cluster_within", "percent": "75", "timeframe": "1w"}
    )
    assert response.status_code == 200
    assert "Percent must be at most 50 %." in response.content.decode()
    response = alice_client.post(
        "/alerts/rules/new/", {**FORM, "condition": "price_crosses", "price": "1", "cooldown_minutes": "0"}
    )
    assert "between 1 and 43200" in response.content.decode()
    assert not AlertRule.objects.exists()


def test_the_webhook_secret_is_shown_once(alice_client: Client, btc: Asset) -> None:
    alice_client.post(
        "/alerts/rules/new/",
        {
            **FORM,
            "condition": "price_crosses",
            "price": "1",
            "channels": ["webhook"],
            "webhook_url": "https://93.184.215.14/x",
        },
    )
    secret = AlertRule.objects.get().webhook_secret
    assert secret in alice_client.get("/alerts/rules/").content.decode()
    assert secret not in alice_client.get("/alerts/rules/").content.decode()


def test_zone_rule_offers_only_the_users_zones(alice_client: Client, alice: User, bob: User, btc: Asset) -> None:
    mine = annotation_create(user=alice, asset="BTCUSDT", kind="zone", price=80_000, price_high=81_000, label="my box")
    annotation_create(user=bob, asset="BTCUSDT", kind="zone", price=70_000, price_high=71_000, label="bobs box")
    html = alice_client.get(
        f"/alerts/rules/new/?asset=BTCUSDT&condition=price_enters_zone&annotation={mine.pk}"
    ).content.decode()
    assert "my box" in html and "bobs box" not in html and f'<option value="{mine.pk}" selected>' in html


def make_events(user: User, asset: Asset, count: int) -> list[AlertEvent]:
    rule, _ = alert_rule_create(user=user, asset=asset.symbol, condition="price_crosses", params={"price": 1.0})
    start = timezone.now() - timedelta(days=1)
    return AlertEvent.objects.bulk_create(
        [
            AlertEvent(
                rule=rule,
                user=user,
                asset=asset,
                condition="price_crosses",
                fired_at=start + timedelta(minutes=5 * i),
                bar_time=start + timedelta(minutes=5 * i),
                values={"price": 1000.0 + i, "direction": "up", "previous_close": 999.0 + i, "close": 1000.5 + i},
            )
            for i in range(count)
        ]
    )


def test_alerts_page_marks_read_and_the_bell_counts(alice_client: Client, alice: User, btc: Asset) -> None:
    events = make_events(alice, btc, 55)
    page = alice_client.get("/")
    html = page.content.decode()
    assert 'id="alert-bell"' in html and 'hx-trigger="every 30s"' in html and 'data-unread="55"' in html
    listing = alice_client.get("/alerts/").content.decode()
    assert listing.count('class="alert-event unread"') == 50 and "page 1 of 2" in listing
    assert listing.index("through 1,054") < listing.index("through 1,053")  # newest first, in words
    response = hx_post(alice_client, f"/alerts/{events[-1].pk}/read/")
    html = response.content.decode()
    assert (
        html.lstrip().startswith('<section id="alert-list">')
        and 'data-unread="54"' in html
        and 'hx-swap-oob="true"' in html
    )
    assert 'data-unread="54"' in alice_client.get("/alerts/bell/").content.decode()
    alice_client.post("/alerts/read-all/")
    assert not AlertEvent.objects.filter(read=False).exists()
    assert 'data-unread="0"' in alice_client.get("/alerts/bell/").content.decode()


def test_no_bell_and_no_polling_for_visitors(client: Client, btc: Asset) -> None:
    html = client.get("/").content.decode()
    assert "alert-bell" not in html and "every 30s" not in html
    assert client.get("/alerts/bell/").status_code == 302


def test_alert_me_links_on_the_asset_page(alice_client: Client, alice: User, btc: Asset) -> None:
    from heatmaps.maps import heatmap_compute
    from tests.accounts.alerts.db import FIRST, load_bars, load_open_interest

    load_bars(btc, FIRST + 700)
    load_open_interest(btc, FIRST + 700)
    heatmap_compute(asset=btc, timeframes=["12h"])
    level = annotation_create(user=alice, asset="BTCUSDT", kind="level", price=85_000)
    zone = annotation_create(user=alice, asset="BTCUSDT", kind="zone", price=80_000, price_high=81_000)
    html = alice_client.get("/assets/BTCUSDT/?tf=12h").content.decode()
    assert html.count('class="alert-me"') >= 3
    assert 'condition=price_crosses&amp;price=85000"' in html  # a clean number, not 85000.0
    # Cluster links: the peak on the asset's tick (0.1 in the sample) and the size in two figures.
    cluster_links = re.findall(
        r'href="/alerts/rules/new/\?asset=BTCUSDT&amp;condition=price_crosses&amp;price=([^&"]+)&amp;direction=(?:up|down)&amp;timeframe=12h&amp;min_usd=([^&"]+)"',
        html,
    )
    assert cluster_links
    for price, min_usd in cluster_links:
        assert re.fullmatch(r"[0-9]+(\.[0-9])?", price), price
        assert re.fullmatch(r"[1-9][0-9]?0*", min_usd), min_usd
    assert f"condition=price_enters_zone&amp;annotation={zone.pk}" in html
    assert "timeframe=12h" in html  # cluster rows carry the map's timeframe
    assert level.pk


def test_funding_is_entered_in_percent_and_implausible_values_warned(
    alice_client: Client, alice: User, btc: Asset
) -> None:
    response = alice_client.post(
        "/alerts/rules/new/", {**FORM, "condition": "funding_above", "rate": "0.05"}, follow=True
    )
    rule = AlertRule.objects.get(user=alice)
    assert rule.params == {"rate": 0.0005}  # 0.05 % per 8 h, stored as the fraction
    assert "Check the funding threshold" not in response.content.decode()
    assert "Funding rises above 0.05 % per 8 h" in response.content.decode()
    form = alice_client.get(f"/alerts/rules/{rule.pk}/").content.decode()
    assert 'name="rate" value="0.05"' in form and "% per 8 h" in form  # shown back in %, no float noise
    api = alice_client.get(f"/api/v1/alert-rules/{rule.pk}/").json()
    assert api["rate"] == 0.0005 and api["rate_pct"] == 0.05
    # A trader typing the fraction out of habit, or 100 times too much, is told.
    tiny = alice_client.post(
        "/alerts/rules/new/", {**FORM, "condition": "funding_below", "rate": "0.0001"}, follow=True
    ).content.decode()
    assert "Check the funding threshold" in tiny and "0.01 is the percent to enter" in tiny
    huge = alice_client.post(
        "/alerts/rules/new/", {**FORM, "condition": "funding_above", "rate": "1"}, follow=True
    ).content.decode()
    assert "Check the funding threshold" in huge and "far beyond usual funding" in huge
