"""A ceiling on wrong passwords per account across all addresses, on top of axes' per-address pause.

Axes pauses one (account, address) pair after a few failures, so whoever holds many addresses gets
a few guesses from each. Here every genuine failure for an account counts, wherever it came from;
after LIQ_LOGIN_ACCOUNT_FAILURE_LIMIT within LIQ_LOGIN_ACCOUNT_WINDOW_HOURS the account is tripped:

- a sign-in from an address this account signed in from before (within KNOWN_ADDRESS_DAYS) goes on
  as usual, still under the per-address pause. The owner at home or at work is not locked out by
  a stranger, and the stranger gains nothing from an address they never shared with the owner;
- any other address is refused, even with the right password, until enough failures age out of
  the window; a password reset by email lifts the ceiling at once (only the mailbox's owner can);
- the account's email address is told once per window.

Failures are axes' own failure log (AccessFailureLog: one row per password actually checked, none
for a refused attempt, so hammering a tripped account does not prolong it) and known addresses its
access log of successful sign-ins: both in PostgreSQL, listed in the admin, no state of our own.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from axes.handlers.database import AxesDatabaseHandler
from axes.helpers import get_client_username
from axes.models import AccessFailureLog, AccessLog
from django.conf import settings
from django.core.cache import cache
from django.core.mail import send_mail
from django.http import HttpRequest
from django.template.loader import render_to_string
from django.utils import timezone

from accounts.models import User

log = logging.getLogger(__name__)

# How long a successful sign-in keeps its address trusted while the account's ceiling is tripped.
KNOWN_ADDRESS_DAYS = 90


def window() -> timedelta:
    return timedelta(hours=settings.LIQ_LOGIN_ACCOUNT_WINDOW_HOURS)


def ceiling_ends_at(username: str, *, now: datetime | None = None) -> datetime | None:
    """When the account stops being over its ceiling, or None when it is not over it now.

    It drops below the limit when the limit-th newest failure leaves the window."""
    now = now or timezone.now()
    limit = settings.LIQ_LOGIN_ACCOUNT_FAILURE_LIMIT
    newest = list(
        AccessFailureLog.objects.filter(username=username, attempt_time__gt=now - window())
        .order_by("-attempt_time")
        .values_list("attempt_time", flat=True)[:limit]
    )
    if len(newest) < limit:
        return None
    return newest[-1] + window()


def is_known_address(username: str, ip_address: str | None) -> bool:
    """Whether this account signed in successfully from this address lately."""
    if not ip_address:
        return False
    since = timezone.now() - timedelta(days=KNOWN_ADDRESS_DAYS)
    return AccessLog.objects.filter(ip_address=ip_address, username__iexact=username, attempt_time__gt=since).exists()


def lift_ceiling(username: str) -> int:
    """Forget the account's failures in the window (after a password reset: the guesses were at a
    password that no longer exists). Returns how many were dropped."""
    deleted, _ = AccessFailureLog.objects.filter(
        username=username.lower(), attempt_time__gt=timezone.now() - window()
    ).delete()
    return deleted


def _notice_key(username: str) -> str:
    return f"liq:login-ceiling-notice:{username}"


def notify_once(username: str, ends_at: datetime) -> bool:
    """Email the account's owner that its ceiling tripped, at most once per window. Returns whether
    a message went out."""
    user = User.objects.filter(username__iexact=username).first()
    if user is None or not user.email:
        return False
    # cache.add is atomic in Redis: of two workers tripping it together, one sends.
    if not cache.add(_notice_key(user.username.lower()), 1, timeout=int(window().total_seconds())):
        return False
    addresses = (
        AccessFailureLog.objects.filter(username=username, attempt_time__gt=timezone.now() - window())
        .values("ip_address")
        .distinct()
        .count()
    )
    context = {
        "user": user,
        "failure_limit": settings.LIQ_LOGIN_ACCOUNT_FAILURE_LIMIT,
        "window_hours": settings.LIQ_LOGIN_ACCOUNT_WINDOW_HOURS,
        "addresses": addresses,
        "ends_at": ends_at,
        "known_address_days": KNOWN_ADDRESS_DAYS,
    }
    subject = render_to_string("account/email/login_ceiling_subject.txt", context).strip()
    body = render_to_string("account/email/login_ceiling_message.txt", context)
    send_mail(settings.ACCOUNT_EMAIL_SUBJECT_PREFIX + subject, body, settings.DEFAULT_FROM_EMAIL, [user.email])
    log.warning("login ceiling tripped for %s: wrong passwords from %s addresses", username, addresses)
    return True


class LoginGuardHandler(AxesDatabaseHandler):
    """Axes' database handler plus the per-account ceiling (settings.AXES_HANDLER)."""

    def is_locked(self, request: HttpRequest, credentials: dict[str, Any] | None = None) -> bool:
        if super().is_locked(request, credentials):
            return True
        username = get_client_username(request, credentials)
        if not username:
            return False
        ends_at = ceiling_ends_at(username)
        if ends_at is None or is_known_address(username, getattr(request, "axes_ip_address", None)):
            return False
        # The lockout page reads this to say which pause it is and until when.
        request.liq_account_ceiling_ends_at = ends_at  # type: ignore[attr-defined]
        return True

    def user_login_failed(
        self, sender: Any, credentials: dict[str, Any], request: HttpRequest | None = None, **kwargs: Any
    ) -> None:
        # A refused attempt (paused pair or tripped ceiling) checked no password: not a guess.
        refused = bool(getattr(request, "axes_locked_out", False))
        super().user_login_failed(sender, credentials, request, **kwargs)
        if request is None or refused:
            return
        username = get_client_username(request, credentials)
        if username:
            ends_at = ceiling_ends_at(username)
            if ends_at is not None:
                notify_once(username, ends_at)
