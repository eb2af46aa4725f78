"""Discord: a channel's webhook URL (Server settings → Integrations → Webhooks → Copy URL).

Request (https://discord.com/developers/docs/resources/webhook#execute-webhook)::

    POST {LIQ_DISCORD_API_URL}/webhooks/<webhook id>/<webhook token>?wait=true
    Content-Type: application/json

    {"content": "<message>", "username": "liqplatform", "allowed_mentions": {"parse": []}}

``wait=true`` makes Discord answer 200 with the message once it is posted (without it, 204).
``allowed_mentions`` with no types keeps an alert from pinging @everyone or a role. A 429 answers
``Retry-After`` (and ``retry_after`` in the body); 401/404 mean the webhook was deleted or its
token is wrong — permanent. Only the id and token are kept, so a message always goes to Discord's
API (the setting), never to a host the user typed.
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

kind = "discord"
label = "Discord"
MAX_CONTENT = 2000  # Discord's limit for a message's content
_WEBHOOK_URL = re.compile(
    r"^https://(?:(?:ptb|canary)\.)?discord(?:app)?\.com/api(?:/v[0-9]+)?/webhooks/"
    r"(?P<id>[0-9]{15,25})/(?P<token>[A-Za-z0-9_-]{40,100})/?$"
)


def api_url() -> str:
    return _setting_url("LIQ_DISCORD_API_URL", "https://discord.com/api/v10")


def validate(raw: Mapping[str, Any]) -> dict[str, Any]:
    url = str(raw.get("webhook_url") or "").strip()
    found = _WEBHOOK_URL.match(url)
    if not found:
        raise DestinationInvalid(
            {"webhook_url": "Paste the channel's webhook URL, like https://discord.com/api/webhooks/123…/abc…"}
        )
    return {"webhook_id": found["id"], "webhook_token": found["token"]}


def hint(config: Mapping[str, Any]) -> str:
    return f"webhook {config.get('webhook_id', '')}/{mask(str(config.get('webhook_token', '')))}"


def request_body(*, message: AlertMessage) -> dict[str, Any]:
    return {"content": message.plain_text()[:MAX_CONTENT], "username": "liqplatform", "allowed_mentions": {"parse": []}}


def deliver(*, config: Mapping[str, Any], message: AlertMessage) -> SendOutcome:
    url = f"{api_url()}/webhooks/{config['webhook_id']}/{config['webhook_token']}?wait=true"
    body = json.dumps(request_body(message=message)).encode()
    result = post_pinned(url, body, {"Content-Type": "application/json"}, **outbound_flags())
    answer = _json(result.response_excerpt)
    outcome = outcome_of(result, error_text=str(answer.get("message") or "") or None)
    retry_after = answer.get("retry_after")
    if not outcome.ok and outcome.retry_after_s is None and isinstance(retry_after, int | float):
        return SendOutcome(
            ok=False, detail=outcome.detail, transient=True, status_code=outcome.status_code, retry_after_s=retry_after
        )
    return outcome


def send_test(*, config: Mapping[str, Any]) -> SendOutcome:
    return deliver(
        config=config,
        message=AlertMessage(
            title="liqplatform: test message", lines=("Your alerts will arrive in this channel.",), test=True
        ),
    )


def _json(text: str) -> dict[str, Any]:
    try:
        parsed = json.loads(text)
    except ValueError:
        return {}
    return parsed if isinstance(parsed, dict) else {}
