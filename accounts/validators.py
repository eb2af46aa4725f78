"""Checks for the user's display preferences, shared by the model, the profile form and the service."""

from __future__ import annotations

import zoneinfo
from functools import cache

from django.core.exceptions import ValidationError


@cache
def available_time_zones() -> frozenset[str]:
    # Reads the tz database from disk: once per process is enough.
    return frozenset(zoneinfo.available_timezones())


def time_zone_choices() -> list[str]:
    return sorted(available_time_zones())


def validate_time_zone(value: str) -> None:
    if value not in available_time_zones():
        shown = value if len(value) <= 40 else value[:40] + "…"
        raise ValidationError(
            "“%(value)s” is not a known time zone. Use an IANA name such as UTC, Europe/Berlin or America/New_York.",
            code="unknown_time_zone",
            params={"value": shown},
        )


def timeframe_choices() -> list[tuple[str, str]]:
    from heatmaps.engine import TIMEFRAMES  # here, not at start-up: the engine loads numpy

    return [(key, key) for key in TIMEFRAMES]


def validate_timeframe(value: str) -> None:
    from heatmaps.engine import TIMEFRAMES

    if value not in TIMEFRAMES:
        raise ValidationError(
            "“%(value)s” is not a timeframe. Choose one of %(known)s.",
            code="unknown_timeframe",
            params={"value": value[:40], "known": ", ".join(TIMEFRAMES)},
        )
