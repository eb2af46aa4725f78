"""allauth's account adapter, changed in one place: its per-address limit on failed sign-ins.

allauth refuses the 11th failed sign-in a minute from one address with a form error on an ordinary
200 page, which neither a browser nor a script reads as "wait". Here it gets the lockout page: 429
with Retry-After, like the other sign-in pauses.
"""

from __future__ import annotations

import math
import time
from typing import Any

from allauth.account.adapter import DefaultAccountAdapter

# Internal to allauth (65.x): how it names and reads its rate-limit counters. Only used to say how
# long is left; if it moves, the page falls back to the whole window.
from allauth.core.internal.ratelimit import get_cache_key, get_rates
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.http import HttpRequest

APP = "allauth.account"
ACTION = "login_failed"


def login_failed_retry_after(request: HttpRequest) -> int:
    """Seconds until this address may fail a sign-in again under allauth's login_failed limits."""
    now = time.time()
    waits = []
    try:
        for rate in get_rates(app=APP, action=ACTION):
            if rate.per != "ip":
                waits.append(rate.duration)  # per login name: its key is allauth's business
                continue
            history = cache.get(get_cache_key(request, app=APP, action=ACTION, rate=rate), [])
            if len(history) >= rate.amount:
                # Newest first: a slot frees when the oldest counted failure leaves the window.
                waits.append(history[-1] + rate.duration - now)
    except (ImportError, AttributeError, TypeError, ValueError):
        waits = []
    return max(1, math.ceil(max(waits, default=60)))


class AccountAdapter(DefaultAccountAdapter):
    def pre_authenticate(self, request: HttpRequest, **credentials: Any) -> None:
        try:
            super().pre_authenticate(request, **credentials)
        except ValidationError:
            # Let axes' middleware (last in MIDDLEWARE) swap the form page for the lockout page, the
            # same way it does for its own pause; accounts.lockout.lockout_response reads the wait.
            request.liq_rate_limit_retry_after = login_failed_retry_after(request)  # type: ignore[attr-defined]
            request.axes_locked_out = True  # type: ignore[attr-defined]
            raise
