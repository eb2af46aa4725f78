"""Alert channels, one module each behind the interface of ``base.Channel``: in-app, email,
webhook, Telegram, Discord. A new channel is one module here and one line in ``CHANNELS``; a
channel the user configures once on the profile page (a destination) is also in
``DESTINATION_KINDS``, and its deliveries go through accounts.alerts.destinations."""

from __future__ import annotations

from accounts.alerts.channels import discord, email, in_app, telegram, webhook
from accounts.alerts.channels.base import (
    AlertMessage,
    Channel,
    DestinationInvalid,
    SendOutcome,
)

CHANNELS: dict[str, Channel] = {
    in_app.kind: in_app,
    email.kind: email,
    webhook.kind: webhook,
    telegram.kind: telegram,
    discord.kind: discord,
}
# Channels whose destination the user adds once and picks per rule.
DESTINATION_KINDS: tuple[str, ...] = (telegram.kind, discord.kind)
# What each destination's form asks for: field name → (label, whether it is a secret).
DESTINATION_FIELDS: dict[str, tuple[tuple[str, str, bool], ...]] = {
    telegram.kind: (("bot_token", "Bot token", True), ("chat_id", "Chat id", False)),
    discord.kind: (("webhook_url", "Channel webhook URL", True),),
}


def channel_for(kind: str) -> Channel:
    return CHANNELS[kind]


__all__ = [
    "CHANNELS",
    "DESTINATION_FIELDS",
    "DESTINATION_KINDS",
    "AlertMessage",
    "Channel",
    "DestinationInvalid",
    "SendOutcome",
    "channel_for",
]
