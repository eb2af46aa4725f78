"""A trader in headless Chromium: "Alert me" on a cluster of the asset page, a price_crosses rule
saved from the prefilled form, a new bar that crosses it, the bell's count going up on its own
(HTMX poll) and the event on the alerts page; a cluster rule tested on history from the form."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest

from accounts.alerts.evaluation import evaluate_asset
from accounts.models import AlertEvent, AlertRule, User
from heatmaps.maps import heatmap_compute
from heatmaps.marketdata import load_sample_data
from heatmaps.models import Asset, Candle
from tests.browser.test_heatmap_page import ARTIFACTS, screenshot, wait_drawn
from tests.browser.test_personal_browser import sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_alert_me_new_bar_bell_and_alerts_page(live_server: Any, page: Any, alice: User) -> None:
    load_sample_data()
    btc = Asset.objects.get(symbol="BTCUSDT")
    heatmap_compute(asset=btc, timeframes=["24h"])
    evaluate_asset(asset=btc, on_events=lambda ids: None)  # the worker has seen the stored bars
    sign_in(page, live_server, alice)
    errors: list[str] = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.clock.install()

    page.goto(f"{live_server.url}/assets/BTCUSDT/?tf=24h")
    wait_drawn(page, "24h")
    assert page.locator("#alert-bell .alert-count").inner_text() == "0"
    # An icon drawn by the page, not an emoji that is an empty box without emoji fonts.
    assert page.locator("#alert-bell svg.bell-icon").count() == 1
    assert "\U0001f514" not in page.locator("#alert-bell").inner_text()
    page.locator("table.clusters a.alert-me").first.click()
    page.wait_for_url(re.compile(r"/alerts/rules/new/\?asset=BTCUSDT&condition=price_crosses&price="))
    assert page.locator("select[name=condition]").input_value() == "price_crosses"
    assert float(page.locator("input[name=price]").input_value()) > 0

    # Switching the condition swaps its fields in place (HTMX); switching back restores price's.
    page.locator("select[name=condition]").select_option("cluster_within")
    page.locator("#condition-fields[data-condition=cluster_within] input[name=percent]").wait_for()
    page.locator("select[name=condition]").select_option("price_crosses")
    page.locator("#condition-fields[data-condition=price_crosses] input[name=price]").wait_for()

    last = Candle.objects.filter(asset=btc).order_by("-open_time").first()
    assert last is not None
    level = round(last.close * 1.002, 1)
    page.locator("input[name=price]").fill(str(level))
    page.locator("select[name=direction]").select_option("up")
    page.locator("button[type=submit]", has_text="Create rule").click()
    page.wait_for_url(re.compile(r"/alerts/rules/$"))
    rule = AlertRule.objects.get(user=alice)
    assert (rule.condition, rule.params) == ("price_crosses", {"price": level, "direction": "up"})

    # The next bar closes above the level; the worker's cycle runs.
    Candle.objects.create(
        asset=btc,
        exchange=btc.reference_exchange,
        open_time=last.open_time + timedelta(minutes=5),
        open=last.close,
        high=level * 1.002,
        low=last.close * 0.999,
        close=level * 1.001,
        volume=12.0,
    )
    assert evaluate_asset(asset=btc, on_events=lambda ids: None) == (1, 1)

    # The bell polls every 30 s: its count goes up without a reload.
    page.clock.fast_forward(31_000)
    page.wait_for_selector("#alert-bell .alert-count[data-unread='1']")
    screenshot(page, "alert-bell.png")
    page.locator("#alert-bell").click()
    page.wait_for_url(re.compile(r"/alerts/$"))
    row = page.locator("tr.alert-event.unread")
    assert row.count() == 1 and "BTCUSDT" in row.inner_text() and "Price crosses" in row.inner_text()
    assert "price_crosses" not in row.inner_text()  # words, not the stored key
    row.locator("button", has_text="Mark read").click()
    page.wait_for_selector("tr.alert-event.unread", state="detached")
    page.wait_for_selector("#alert-bell .alert-count[data-unread='0']")
    assert AlertEvent.objects.get().read
    screenshot(page, "alerts-page.png")
    assert not [e for e in errors if "Content Security Policy" in e], errors


def test_test_on_history_draws_the_firings(live_server: Any, page: Any, alice: User) -> None:
    load_sample_data()
    sign_in(page, live_server, alice)
    errors: list[str] = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.goto(f"{live_server.url}/alerts/rules/new/?asset=BTCUSDT&condition=cluster_forms&min_usd=5000000&percent=5")
    page.locator("select[name=timeframe]").select_option("1w")
    page.locator("#history-days").fill("30")
    page.locator("button.test-history").click()
    page.wait_for_selector("#rule-history svg.history-chart", timeout=60_000)
    fired = int(page.locator(".history-fired").inner_text().split()[0])
    assert fired > 0 and page.locator("svg.history-chart circle.history-mark").count() == fired
    assert page.locator("table.history-firings tbody tr").count() == min(fired, 50)
    summary = page.locator(".history-summary").inner_text()
    assert "no look-ahead" in summary and "by distance alone" in summary
    assert page.url.endswith("/alerts/rules/new/?asset=BTCUSDT&condition=cluster_forms&min_usd=5000000&percent=5")
    assert not AlertRule.objects.exists()  # testing saved nothing
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.set_viewport_size({"width": 1280, "height": 900})
    page.locator("#rule-history h2").scroll_into_view_if_needed()
    page.screenshot(path=str(ARTIFACTS / "alert-test-on-history.png"))
    page.locator("svg.history-chart").screenshot(path=str(ARTIFACTS / "alert-test-on-history-chart.png"))
    assert page.locator("input[name=min_usd]").input_value() == "5000000"  # prefilled clean
    assert not [e for e in errors if "Content Security Policy" in e], errors


def test_a_telegram_destination_added_tested_and_picked(
    live_server: Any, page: Any, alice: User, settings: Any
) -> None:
    from accounts.models import AlertDestination
    from tests.accounts.alerts.standin import StandIn
    from tests.accounts.alerts.test_channels import TOKEN

    load_sample_data()
    sign_in(page, live_server, alice)
    with StandIn() as telegram:
        settings.LIQ_TELEGRAM_API_URL = telegram.url
        page.goto(f"{live_server.url}/account/profile/")
        section = page.locator("#alert-destinations")
        section.locator("select[name=kind]").select_option("telegram")
        section.locator("input[name=name]").fill("desk")
        section.locator("input[name=telegram_bot_token]").fill(TOKEN)
        section.locator("input[name=telegram_chat_id]").fill("4242")
        section.locator("button", has_text="Add destination").click()
        page.wait_for_selector("#alert-destinations tr[data-destination-id]")
        assert TOKEN not in page.content()  # the token is never rendered back
        page.locator("#alert-destinations button", has_text="Send test").click()
        page.wait_for_selector("text=Test message sent to “desk”")
        assert len(telegram.requests) == 1 and telegram.requests[0].json()["chat_id"] == 4242
        screenshot(page, "alert-destinations.png")

        destination = AlertDestination.objects.get(user=alice)
        page.goto(f"{live_server.url}/alerts/rules/new/?asset=BTCUSDT&condition=price_crosses&price=90000")
        page.locator(f"input[name=destinations][value='{destination.pk}']").check()
        page.locator("button[type=submit]", has_text="Create rule").click()
        page.wait_for_url(re.compile(r"/alerts/rules/$"))
        assert "Telegram “desk”" in page.locator("table.alert-rules").inner_text()
        assert list(AlertRule.objects.get(user=alice).destinations.all()) == [destination]
