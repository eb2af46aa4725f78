"""Personal API tokens: create (the token is returned once), list, revoke, and authenticate a request.

A token is `liq_` followed by 43 URL-safe characters (256 random bits). Only its SHA-256 digest is
stored, with the first characters as a recognisable prefix. Writes raise ValidationError keyed by
field ("name", "expires_at") so the profile page and the API explain a mistake the same way.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.utils import timezone

from accounts.models import ApiToken, User
from accounts.ownership import owned_or_404

TOKEN_PREFIX = "liq_"
PREFIX_SHOWN = 12  # "liq_" and 8 random characters: enough to tell tokens apart, useless to an attacker
MAX_TOKENS = 20
NAME_MAX_LENGTH = ApiToken._meta.get_field("name").max_length or 60
MAX_LIFETIME = timedelta(days=366 * 5)
# last_used_at is a hint for the trader, not an audit log: one write a minute per token at most,
# so a bot polling the API does not turn every read into a database write.
LAST_USED_RESOLUTION = timedelta(minutes=1)


def token_digest(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def api_tokens_for_user(*, user: User) -> QuerySet[ApiToken]:
    return ApiToken.objects.filter(user=user)


def get_api_token_for_user(*, user: User, token_id: int | str) -> ApiToken:
    """The user's own token; another user's id, a missing one or a non-number is a 404 (never a 403)."""
    return owned_or_404(api_tokens_for_user(user=user), token_id, what="token")


def api_token_create(*, user: User, name: str, expires_at: datetime | None = None) -> tuple[ApiToken, str]:
    """A new token for `user`; returns the stored row and the token itself, which is never shown again."""
    name = name.strip()
    errors: dict[str, str] = {}
    if not name:
        errors["name"] = "Give the token a name, e.g. the bot or script that will use it."
    elif len(name) > NAME_MAX_LENGTH:
        errors["name"] = f"Use at most {NAME_MAX_LENGTH} characters."
    elif "\x00" in name:
        errors["name"] = "The name cannot contain NUL characters."
    now = timezone.now()
    if expires_at is not None:
        if timezone.is_naive(expires_at):
            errors["expires_at"] = "Give the expiry with a time zone (UTC if in doubt)."
        elif expires_at <= now:
            errors["expires_at"] = "The expiry must be in the future."
        elif expires_at > now + MAX_LIFETIME:
            errors["expires_at"] = (
                "Leave the expiry empty for a token that does not expire, or pick one within 5 years."
            )
    if api_tokens_for_user(user=user).count() >= MAX_TOKENS:
        errors["name"] = f"You already have {MAX_TOKENS} tokens: revoke one you no longer use first."
    if errors:
        raise ValidationError(errors)
    raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken.objects.create(
        user=user, name=name, prefix=raw[:PREFIX_SHOWN], digest=token_digest(raw), expires_at=expires_at
    )
    return token, raw


def api_token_revoke(*, token: ApiToken) -> None:
    """Revoked at once: the next request with it gets a 401."""
    token.delete()


def api_token_authenticate(*, raw: str) -> ApiToken | None:
    """The live token `raw` names (not expired, its user active), marking it used; None otherwise."""
    if not raw.startswith(TOKEN_PREFIX) or len(raw) > 100:
        return None
    token = ApiToken.objects.select_related("user").filter(digest=token_digest(raw)).first()
    if token is None or not token.user.is_active:
        return None
    now = timezone.now()
    if token.expires_at is not None and token.expires_at <= now:
        return None
    if token.last_used_at is None or now - token.last_used_at >= LAST_USED_RESOLUTION:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now
    return token
