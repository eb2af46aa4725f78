"""The user's side: the account, its watchlists and its chart annotations.

Rules are enforced twice on purpose: the services in accounts/watchlists.py and accounts/annotations.py
explain a mistake to the trader field by field, the database constraints below keep any other writer
(admin, shell, a future bug) from storing what the services would refuse.
"""

from __future__ import annotations

from django.contrib.auth.models import AbstractUser
from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Lower

from accounts.validators import timeframe_choices, validate_time_zone
from heatmaps.models import Asset

DEFAULT_TIME_ZONE = "UTC"
DEFAULT_TIMEFRAME = "24h"

COLOR_PATTERN = r"^#[0-9a-f]{6}$"


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


class Watchlist(models.Model):
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="watchlists")
    name = models.CharField(max_length=60)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint("user", Lower("name"), name="watchlist_name_unique_per_user"),
            models.CheckConstraint(condition=~Q(name=""), name="watchlist_name_not_empty"),
        ]

    def __str__(self) -> str:
        return self.name


class WatchlistItem(models.Model):
    watchlist = models.ForeignKey(Watchlist, on_delete=models.CASCADE, related_name="items")
    asset = models.ForeignKey(Asset, on_delete=models.CASCADE, related_name="+")
    # 0, 1, 2 … in the trader's order; kept dense by the services (moves swap two neighbours).
    position = models.PositiveIntegerField()

    class Meta:
        ordering = ["position", "id"]
        constraints = [
            models.UniqueConstraint(fields=["watchlist", "asset"], name="watchlist_item_unique_asset"),
        ]

    def __str__(self) -> str:
        return f"{self.watchlist_id}:{self.asset_id}@{self.position}"


class Annotation(models.Model):
    """A trader's own mark on an asset's heat map: a price level, a price zone or a note at a time."""

    class Kind(models.TextChoices):
        LEVEL = "level", "level"
        ZONE = "zone", "zone"
        NOTE = "note", "note"

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="annotations")
    asset = models.ForeignKey(Asset, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=5, choices=Kind.choices)
    price = models.FloatField(help_text="quote currency; the low edge of a zone")
    price_high = models.FloatField(null=True, blank=True, help_text="zones only: the high edge")
    time = models.DateTimeField(null=True, blank=True, help_text="notes only")
    label = models.CharField(max_length=80, blank=True)
    color = models.CharField(max_length=7, default="#58a6ff", help_text="#rrggbb")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["asset", "price", "id"]
        indexes = [models.Index(fields=["user", "asset"], name="annotation_user_asset")]
        constraints = [
            models.CheckConstraint(condition=Q(kind__in=["level", "zone", "note"]), name="annotation_kind_known"),
            models.CheckConstraint(condition=Q(price__gt=0), name="annotation_price_positive"),
            models.CheckConstraint(
                condition=(Q(kind="zone", price_high__isnull=False, price_high__gt=F("price")))
                | (~Q(kind="zone") & Q(price_high__isnull=True)),
                name="annotation_zone_high_above_low",
            ),
            models.CheckConstraint(
                condition=Q(kind="note", time__isnull=False) | (~Q(kind="note") & Q(time__isnull=True)),
                name="annotation_time_only_for_notes",
            ),
            models.CheckConstraint(condition=Q(color__regex=COLOR_PATTERN), name="annotation_color_rrggbb"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.label or self.price}"


class ApiToken(models.Model):
    """A personal API token. Only its SHA-256 digest is stored: the token itself is shown once, when
    it is created, and a leaked database reveals no usable token (the tokens are 256 random bits, so a
    fast hash is enough; there is nothing to brute-force)."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=60)
    prefix = models.CharField(max_length=12, help_text="the token's first characters, to recognise it in a list")
    digest = models.CharField(max_length=64, unique=True, help_text="SHA-256 of the token, hex")
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(null=True, blank=True, help_text="never expires when empty")
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [models.CheckConstraint(condition=~Q(name=""), name="api_token_name_not_empty")]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"
