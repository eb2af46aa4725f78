"""Destination secrets at rest: a Telegram bot token or a Discord webhook URL is a credential, so
the database holds it encrypted (Fernet: AES-128-CBC with HMAC-SHA256), keyed from the site's
``SECRET_KEY`` (or ``LIQ_SECRETS_KEY`` when set, so rotating the one need not lose the other).
A leaked backup without the key reveals no token."""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

from cryptography.fernet import Fernet, InvalidToken
from django.conf import settings


class SealBroken(Exception):
    """The stored value cannot be opened: the key changed or the row was altered."""


def _fernet() -> Fernet:
    secret = getattr(settings, "LIQ_SECRETS_KEY", "") or settings.SECRET_KEY
    # A purpose-bound key: the same SECRET_KEY signs sessions, this derivation keeps the uses apart.
    digest = hashlib.sha256(b"liqplatform alert destinations\x00" + secret.encode()).digest()
    return Fernet(base64.urlsafe_b64encode(digest))


def seal(config: dict[str, Any]) -> str:
    return _fernet().encrypt(json.dumps(config, sort_keys=True).encode()).decode("ascii")


def unseal(token: str) -> dict[str, Any]:
    try:
        opened = json.loads(_fernet().decrypt(token.encode("ascii")))
    except (InvalidToken, ValueError) as exc:
        raise SealBroken("the destination's settings cannot be read; enter them again") from exc
    if not isinstance(opened, dict):
        raise SealBroken("the destination's settings cannot be read; enter them again")
    return opened


def mask(secret: str, *, keep: int = 4) -> str:
    """The last few characters only: enough to recognise a token, useless to anyone else."""
    return "…" + secret[-keep:] if len(secret) > keep * 2 else "…"
