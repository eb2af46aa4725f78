"""Telegram: the Bot API's ``sendMessage`` with the user's own bot token and chat id.

Request (https://core.telegram.org/bots/api#sendmessage)::

    POST {LIQ_TELEGRAM_API_URL}/bot<token>/sendMessage
    Content-Type: application/json

    {"chat_id": <chat id>, "text": "<message>", "link_preview_options": {"is_disabled": true}}

The answer is ``{"ok": true, "result": {…}}``, or ``{"ok": false, "error_code": …, "description":
…}``; a 429 carries ``parameters.retry_after`` in seconds. 401 (bad token), 400 (chat not found)
and 403 (the bot was blocked or removed from the chat) are permanent.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from accounts.alerts.channels.base import AlertMessage, DestinationInvalid, SendOutcome, outbound_flags, outcome_of
from accounts.alerts.channels.base import setting_url as _setting_url
from accounts.alerts.sealed import mask
from accounts.alerts.webhooks import post_pinned

kind = "telegram"
label = "Telegram"
MAX_TEXT = 4096  # the Bot API's limit for one message
_TOKEN = re.compile(r"^[0-9]{3,20}:[A-Za-z0-9_-]{30,64}$")
_CHAT_ID = re.compile(r"^(-?[0-9]{1,20}|@[A-Za-z][A-Za-z0-9_]{4,31})$")


def api_url() -> str:
    return _setting_url("LIQ_TELEGRAM_API_URL", "https://api.telegram.org")


def validate(raw: Mapping[str, Any]) -> dict[str, Any]:
    token = str(raw.get("bot_token") or "").strip()
    chat = str(raw.get("chat_id") or "").strip()
    errors = {}
    if not _TOKEN.match(token):
        errors["bot_token"] = "Paste the bot token BotFather gave you, like 123456789:AAE…"
    if not _CHAT_ID.match(chat):
        errors["chat_id"] = "Give the chat id (a number such as 123456789 or -1001234567890) or @channelname."
    if errors:
        raise DestinationInvalid(errors)
    return {"bot_token": token, "chat_id": chat}


def hint(config: Mapping[str, Any]) -> str:
    token = str(config.get("bot_token", ""))
    bot_id = token.split(":", 1)[0]
    return f"bot {bot_id}:{mask(token)} · chat {config.get('chat_id', '')}"


def request_body(*, config: Mapping[str, Any], message: AlertMessage) -> dict[str, Any]:
    raw = str(config["chat_id"])
    chat: str | int = raw if raw.startswith("@") else int(raw)
    return {"chat_id": chat, "text": message.plain_text()[:MAX_TEXT], "link_preview_options": {"is_disabled": True}}


def deliver(*, config: Mapping[str, Any], message: AlertMessage) -> SendOutcome:
    url = f"{api_url()}/bot{config['bot_token']}/sendMessage"
    body = json.dumps(request_body(config=config, message=message)).encode()
    result = post_pinned(url, body, {"Content-Type": "application/json"}, **outbound_flags())
    answer = _json(result.response_excerpt)
    if result.ok and answer.get("ok") is False:  # a 200 that says no is still a no
        return SendOutcome(ok=False, detail=str(answer.get("description", "refused")), status_code=result.status_code)
    outcome = outcome_of(result, error_text=str(answer.get("description") or "") or None)
    retry_after = (answer.get("parameters") or {}).get("retry_after") if isinstance(answer, dict) else None
    if isinstance(retry_after, int | float) and outcome.retry_after_s is None:
        return SendOutcome(
            ok=False, detail=outcome.detail, transient=True, status_code=outcome.status_code, retry_after_s=retry_after
        )
    return outcome


def send_test(*, config: Mapping[str, Any]) -> SendOutcome:
    return deliver(config=config, message=test_message())


def test_message() -> AlertMessage:
    return AlertMessage(
        title="liqplatform: test message",
        lines=("Your alerts will arrive in this chat.",),
        test=True,
    )


def _json(text: str) -> dict[str, Any]:
    try:
        parsed = json.loads(text)
    except ValueError:
        return {}
    return parsed if isinstance(parsed, dict) else {}
