"""Template context every page needs about the market data behind it."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest


def market_mode(request: HttpRequest) -> dict[str, Any]:
    # The offline demo: every figure comes from the bundled sample replayed, which each page must say.
    return {"replay": settings.LIQ_REPLAY}
