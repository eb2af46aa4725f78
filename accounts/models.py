from __future__ import annotations

from django.contrib.auth.models import AbstractUser
from django.db import models

from accounts.validators import timeframe_choices, validate_time_zone

DEFAULT_TIME_ZONE = "UTC"
DEFAULT_TIMEFRAME = "24h"


class User(AbstractUser):
    """The platform's user. Custom from the first migration so fields can be added later."""

    time_zone = models.CharField(
        max_length=64,
        default=DEFAULT_TIME_ZONE,
        validators=[validate_time_zone],
        help_text="IANA time zone the pages show times in, e.g. Europe/Berlin.",
    )
    # A callable, so a new timeframe in the engine needs no migration here.
    default_timeframe = models.CharField(
        max_length=8,
        default=DEFAULT_TIMEFRAME,
        choices=timeframe_choices,
        help_text="Timeframe an asset page opens with when the link names none.",
    )
