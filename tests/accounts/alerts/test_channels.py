"""Telegram and Discord as channels: the exact request each service documents, sent to stand-in
servers on 127.0.0.1, and how their answers are read (ok, permanent, transient with Retry-After)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from accounts.alerts.channels import CHANNELS, DESTINATION_KINDS, AlertMessage, DestinationInvalid, discord, telegram
from tests.accounts.alerts.standin import Answer, StandIn

TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"
DISCORD_ID = "112233445566778899"
DISCORD_TOKEN = "aBcD_efGh-ijKLmnOPqrSTuvWXyz0123456789abcdefghijklmnopqrstuvWX12"
DISCORD_URL = f"https://discord.com/api/webhooks/{DISCORD_ID}/{DISCORD_TOKEN}"
MESSAGE = AlertMessage(title="BTCUSDT: Price crosses 93,052 up", lines=("Closed at 93,110.0",), url="https://x.org/a")


@pytest.fixture
def stand_in(settings: Any) -> Iterator[StandIn]:
    with StandIn() as server:
        settings.LIQ_TELEGRAM_API_URL = server.url
        settings.LIQ_DISCORD_API_URL = server.url + "/api/v10"
        yield server


def test_every_channel_implements_the_interface() -> None:
    assert set(DESTINATION_KINDS) <= set(CHANNELS)
    for channel in CHANNELS.values():
        assert all(callable(getattr(channel, name)) for name in ("validate", "hint", "deliver", "send_test"))


def test_telegram_validation_and_a_masked_hint() -> None:
    config = telegram.validate({"bot_token": f" {TOKEN} ", "chat_id": "-1001234567890"})
    assert config == {"bot_token": TOKEN, "chat_id": "-1001234567890"}
    hint = telegram.hint(config)
    assert TOKEN not in hint and hint.startswith("bot 123456789:…") and hint.endswith("chat -1001234567890")
    with pytest.raises(DestinationInvalid) as bad:
        telegram.validate({"bot_token": "not-a-token", "chat_id": "me"})
    assert set(bad.value.errors) == {"bot_token", "chat_id"}
    assert telegram.validate({"bot_token": TOKEN, "chat_id": "@my_channel"})["chat_id"] == "@my_channel"


def test_telegram_sends_the_bot_apis_send_message(stand_in: StandIn) -> None:
    outcome = telegram.deliver(config={"bot_token": TOKEN, "chat_id": "-1001234567890"}, message=MESSAGE)
    assert outcome.ok
    (request,) = stand_in.requests
    assert request.path == f"/bot{TOKEN}/sendMessage"
    assert request.headers["content-type"] == "application/json"
    assert request.json() == {
        "chat_id": -1001234567890,
        "text": "BTCUSDT: Price crosses 93,052 up\nClosed at 93,110.0\nhttps://x.org/a",
        "link_preview_options": {"is_disabled": True},
    }


def test_telegram_bad_token_is_permanent_and_says_why(stand_in: StandIn) -> None:
    stand_in.answers = [Answer(401, {"ok": False, "error_code": 401, "description": "Unauthorized"})]
    outcome = telegram.send_test(config={"bot_token": TOKEN, "chat_id": "42"})
    assert not outcome.ok and not outcome.transient
    assert outcome.status_code == 401 and "Unauthorized" in outcome.detail
    assert stand_in.requests[0].json()["chat_id"] == 42


def test_telegram_flood_control_is_transient_with_its_retry_after(stand_in: StandIn) -> None:
    stand_in.answers = [
        Answer(
            429,
            {
                "ok": False,
                "error_code": 429,
                "description": "Too Many Requests: retry after 7",
                "parameters": {"retry_after": 7},
            },
        )
    ]
    outcome = telegram.deliver(config={"bot_token": TOKEN, "chat_id": "42"}, message=MESSAGE)
    assert not outcome.ok and outcome.transient and outcome.retry_after_s == 7


def test_telegram_text_is_cut_to_the_apis_limit(stand_in: StandIn) -> None:
    long = AlertMessage(title="x" * 5000)
    telegram.deliver(config={"bot_token": TOKEN, "chat_id": "42"}, message=long)
    assert len(stand_in.requests[0].json()["text"]) == telegram.MAX_TEXT


def test_discord_validation_keeps_only_id_and_token() -> None:
    config = discord.validate({"webhook_url": DISCORD_URL})
    assert config == {"webhook_id": DISCORD_ID, "webhook_token": DISCORD_TOKEN}
    assert DISCORD_TOKEN not in discord.hint(config) and DISCORD_ID in discord.hint(config)
    for bad in (
        "https://evil.example.org/api/webhooks/1/abc",
        "http://discord.com/api/webhooks/112233445566778899/" + DISCORD_TOKEN,
        "https://discord.com.evil.org/api/webhooks/112233445566778899/" + DISCORD_TOKEN,
        "",
    ):
        with pytest.raises(DestinationInvalid):
            discord.validate({"webhook_url": bad})
    assert discord.validate({"webhook_url": DISCORD_URL.replace("discord.com/api", "discordapp.com/api/v10")})


def test_discord_executes_the_webhook_as_documented(stand_in: StandIn) -> None:
    stand_in.answers = [Answer(200, {"id": "1", "content": "…"})]
    outcome = discord.deliver(config=discord.validate({"webhook_url": DISCORD_URL}), message=MESSAGE)
    assert outcome.ok
    (request,) = stand_in.requests
    assert request.path == f"/api/v10/webhooks/{DISCORD_ID}/{DISCORD_TOKEN}?wait=true"
    assert request.headers["content-type"] == "application/json"
    assert request.json() == {
        "content": "BTCUSDT: Price crosses 93,052 up\nClosed at 93,110.0\nhttps://x.org/a",
        "username": "liqplatform",
        "allowed_mentions": {"parse": []},
    }


def test_discord_deleted_webhook_is_permanent(stand_in: StandIn) -> None:
    stand_in.answers = [Answer(404, {"message": "Unknown Webhook", "code": 10015})]
    outcome = discord.send_test(config=discord.validate({"webhook_url": DISCORD_URL}))
    assert not outcome.ok and not outcome.transient and "Unknown Webhook" in outcome.detail


def test_discord_rate_limit_honours_retry_after(stand_in: StandIn) -> None:
    stand_in.answers = [
        Answer(
            429, {"message": "You are being rate limited.", "retry_after": 1.5, "global": False}, {"Retry-After": "2"}
        )
    ]
    outcome = discord.deliver(config=discord.validate({"webhook_url": DISCORD_URL}), message=MESSAGE)
    assert not outcome.ok and outcome.transient and outcome.retry_after_s == 2.0


def test_server_errors_are_transient(stand_in: StandIn) -> None:
    stand_in.answers = [Answer(502, {"message": "bad gateway"})]
    outcome = discord.deliver(config=discord.validate({"webhook_url": DISCORD_URL}), message=MESSAGE)
    assert not outcome.ok and outcome.transient and outcome.status_code == 502


def test_a_private_api_address_is_refused_without_a_request(settings: Any) -> None:
    settings.LIQ_WEBHOOK_ALLOW_LOCAL = False
    settings.LIQ_TELEGRAM_API_URL = "http://10.0.0.5:8080"
    outcome = telegram.deliver(config={"bot_token": TOKEN, "chat_id": "42"}, message=MESSAGE)
    assert not outcome.ok and not outcome.transient and "private" in outcome.detail
