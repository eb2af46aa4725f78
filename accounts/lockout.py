"""How django-axes sees a login attempt here, and the page a paused client gets.

Axes counts failures per (login name, address) pair. allauth accepts a username or an email, and
the admin a username, so every spelling of one account is folded into its username; otherwise an
attacker would get five guesses per spelling.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Any

from allauth.account.adapter import get_adapter
from axes.helpers import get_cool_off, get_failure_limit
from axes.models import AccessAttempt
from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db.models import Max
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone

from accounts.models import User


def login_identifier(request: HttpRequest, credentials: dict[str, Any] | None) -> str | None:
    """The account a login attempt was aimed at: its username when the name or email is known,
    otherwise what was typed, case-folded (usernames and emails sign in case-insensitively)."""
    typed = ""
    if credentials:
        typed = credentials.get("username") or credentials.get("email") or ""
    if not typed and request is not None and request.method == "POST":
        typed = request.POST.get("login") or request.POST.get("username") or ""
    typed = str(typed).strip().lower()
    if not typed:
        return None
    if "@" in typed:
        usernames = list(User.objects.filter(email__iexact=typed).values_list("username", flat=True)[:2])
        if len(usernames) == 1:
            return usernames[0].lower()
    return typed


def client_ip(request: HttpRequest) -> str | None:
    """The client's address exactly as allauth's rate limits read it (proxy settings included)."""
    try:
        return get_adapter(request).get_client_ip(request)
    except PermissionDenied:  # a request without an address, e.g. the test client's force_login
        return None


def lockout_ends_at(request: HttpRequest, username: str | None) -> datetime | None:
    """When the newest counted failure of this (name, address) pair stops counting."""
    cool_off = get_cool_off(request)
    if cool_off is None:
        return None
    attempts = AccessAttempt.objects.filter(username=username, ip_address=getattr(request, "axes_ip_address", None))
    newest = attempts.aggregate(newest=Max("attempt_time"))["newest"]
    return (newest or timezone.now()) + cool_off


def lockout_response(
    request: HttpRequest, original_response: HttpResponse | None, credentials: dict[str, Any] | None
) -> HttpResponse:
    """The one page for every sign-in pause (429 with Retry-After): axes' per-address pause, the
    per-account ceiling across addresses (accounts.login_ceiling) and allauth's per-address limit on
    failed sign-ins a minute (accounts.adapter)."""
    now = timezone.now()
    rate_limit_wait: int | None = getattr(request, "liq_rate_limit_retry_after", None)
    ceiling_ends_at: datetime | None = getattr(request, "liq_account_ceiling_ends_at", None)
    ends_at: datetime | None
    if rate_limit_wait is not None:
        reason, ends_at = "rate", now + timedelta(seconds=rate_limit_wait)
    elif ceiling_ends_at is not None:
        reason, ends_at = "account", ceiling_ends_at
    else:
        reason, ends_at = "address", lockout_ends_at(request, login_identifier(request, credentials))
    seconds_left = None
    if ends_at is not None:
        seconds_left = max(1, math.ceil((ends_at - now).total_seconds()))
    response = render(
        request,
        "account/lockout.html",
        {
            "reason": reason,
            "failure_limit": get_failure_limit(request, credentials),
            "account_failure_limit": settings.LIQ_LOGIN_ACCOUNT_FAILURE_LIMIT,
            "account_window_hours": settings.LIQ_LOGIN_ACCOUNT_WINDOW_HOURS,
            "ends_at": ends_at,
            "minutes_left": math.ceil(seconds_left / 60) if seconds_left else None,
            "admin_login": getattr(request.resolver_match, "namespace", "") == "admin",
        },
        status=429,
    )
    if seconds_left is not None:
        response["Retry-After"] = str(seconds_left)
    return response
