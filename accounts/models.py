"""The user's side: the account, its watchlists and its chart annotations.

Rules are enforced twice on purpose: the services in accounts/watchlists.py and accounts/annotations.py
explain a mistake to the trader field by field, the database constraints below keep any other writer
(admin, shell, a future bug) from storing what the services would refuse.
"""

from __future__ import annotations

from typing import Any

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


class AlertRule(models.Model):
    """One asset watched for one condition (docs/alerts.md). ``params`` holds the condition's
    parameters as accounts.alerts.rules reads them; a zone rule names the user's zone in
    ``annotation`` instead, so moving the zone moves the alert."""

    class Trigger(models.TextChoices):
        ONCE = "once", "once, then switch off"
        EVERY = "every", "every time, after a cooldown"

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="alert_rules")
    asset = models.ForeignKey(Asset, on_delete=models.CASCADE, related_name="+")
    condition = models.CharField(max_length=24)
    params = models.JSONField(default=dict, blank=True)
    annotation = models.ForeignKey(
        Annotation, on_delete=models.CASCADE, null=True, blank=True, related_name="alert_rules"
    )
    trigger = models.CharField(max_length=5, choices=Trigger.choices, default=Trigger.EVERY)
    cooldown_minutes = models.PositiveIntegerField(default=60)
    expires_at = models.DateTimeField(null=True, blank=True)
    enabled = models.BooleanField(default=True)
    channels = models.JSONField(default=list, help_text='a list of "in_app", "email", "webhook"')
    webhook_url = models.CharField(max_length=2048, blank=True)
    # Kept readable: every delivery signs its body with it (HMAC). Shown to the user once.
    webhook_secret = models.CharField(max_length=64, blank=True)
    webhook_failures = models.PositiveIntegerField(default=0, help_text="failed webhook attempts in a row")
    webhook_disabled_reason = models.TextField(blank=True, help_text="set when the webhook was switched off")
    last_fired_bar = models.DateTimeField(null=True, blank=True, help_text="open time of the bar it last fired on")
    destinations: models.ManyToManyField[AlertDestination, Any] = models.ManyToManyField(
        "AlertDestination", blank=True, related_name="rules", help_text="the user's Telegram chats, Discord channels …"
    )
    followup_horizon_minutes = models.PositiveIntegerField(
        null=True, blank=True, help_text="how long each event is followed up; empty: the map's timeframe / 7"
    )
    followup_webhook = models.BooleanField(
        default=False, help_text="also POST each event's follow-up to the webhook when it is resolved"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["asset", "enabled"], name="alertrule_asset_enabled"),
            models.Index(fields=["user", "created_at"], name="alertrule_user_created"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(trigger__in=["once", "every"]), name="alertrule_trigger_known"),
            models.CheckConstraint(condition=Q(cooldown_minutes__gte=1), name="alertrule_cooldown_at_least_1"),
            models.CheckConstraint(
                condition=~Q(condition="price_enters_zone") | Q(annotation__isnull=False),
                name="alertrule_zone_rule_has_zone",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.condition} on {self.asset_id} (rule {self.pk})"

    @property
    def webhook_active(self) -> bool:
        return "webhook" in self.channels and bool(self.webhook_url) and not self.webhook_disabled_reason


class AlertEvent(models.Model):
    """One firing of a rule on one bar. The unique (rule, bar_time) is what makes firing at most
    once per bar hold across reruns, racing workers and redelivered tasks."""

    rule = models.ForeignKey(AlertRule, on_delete=models.CASCADE, related_name="events")
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="alert_events")
    asset = models.ForeignKey(Asset, on_delete=models.CASCADE, related_name="+")
    condition = models.CharField(max_length=24)
    fired_at = models.DateTimeField()
    bar_time = models.DateTimeField(help_text="open time of the 5-minute bar it fired on (UTC)")
    values = models.JSONField(default=dict)
    read = models.BooleanField(default=False)
    test = models.BooleanField(default=False, help_text="a sample sent with the rule's 'send test'")

    class Meta:
        ordering = ["-fired_at", "-id"]
        indexes = [
            models.Index(fields=["user", "-fired_at"], name="alertevent_user_fired"),
            models.Index(fields=["user"], condition=Q(read=False), name="alertevent_user_unread"),
        ]
        constraints = [models.UniqueConstraint(fields=["rule", "bar_time"], name="alertevent_once_per_rule_bar")]

    def __str__(self) -> str:
        return f"{self.condition} on {self.asset_id} at {self.bar_time:%Y-%m-%d %H:%M} UTC"

    @property
    def followup_or_none(self) -> AlertFollowUp | None:
        """Its follow-up, or None for events that have none (funding, open interest, tests)."""
        try:
            return self.followup
        except AlertFollowUp.DoesNotExist:
            return None


class AlertDestination(models.Model):
    """Somewhere a user's alerts go besides the bell, email and the rule's webhook: a Telegram chat
    (bot token + chat id), a Discord channel (its webhook URL). Added once on the profile page,
    picked per rule. ``sealed`` holds the whole configuration encrypted (accounts.alerts.sealed): a
    bot token or a Discord webhook URL is a credential; ``hint`` is what the pages may show of it."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="alert_destinations")
    kind = models.CharField(max_length=16, help_text="a channel of accounts.alerts.channels: telegram, discord")
    name = models.CharField(max_length=60)
    sealed = models.TextField(help_text="the configuration, encrypted")
    hint = models.CharField(max_length=120, help_text="a masked description, safe to show")
    failures = models.PositiveIntegerField(default=0, help_text="failed deliveries in a row")
    disabled_reason = models.TextField(blank=True, help_text="set when it was switched off")
    last_error = models.TextField(blank=True)
    last_error_at = models.DateTimeField(null=True, blank=True)
    last_success_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint("user", Lower("name"), name="alertdestination_name_unique_per_user"),
            models.CheckConstraint(condition=~Q(name=""), name="alertdestination_name_not_empty"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.name}"

    def get_kind_label(self) -> str:
        return {"telegram": "Telegram", "discord": "Discord"}.get(self.kind, self.kind)


class AlertDelivery(models.Model):
    """One event through one channel, with every attempt counted and the last error kept. A
    destination's channel (Telegram, Discord) has one row per destination."""

    class Channel(models.TextChoices):
        IN_APP = "in_app", "in-app"
        EMAIL = "email", "email"
        WEBHOOK = "webhook", "webhook"
        TELEGRAM = "telegram", "Telegram"
        DISCORD = "discord", "Discord"
        FOLLOWUP = "followup", "webhook follow-up"

    class Status(models.TextChoices):
        PENDING = "pending", "pending"
        SENT = "sent", "sent"
        FAILED = "failed", "failed"

    event = models.ForeignKey(AlertEvent, on_delete=models.CASCADE, related_name="deliveries")
    channel = models.CharField(max_length=8, choices=Channel.choices)
    destination = models.ForeignKey(
        AlertDestination, on_delete=models.SET_NULL, null=True, blank=True, related_name="deliveries"
    )
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    response_status = models.PositiveIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            # The rule's own channels; a destination's deliveries are kept (destination NULL) when
            # it is deleted, several of one kind for one event, so this leaves them out.
            models.UniqueConstraint(
                fields=["event", "channel"],
                condition=Q(destination__isnull=True, channel__in=["in_app", "email", "webhook", "followup"]),
                name="alertdelivery_once_per_rule_channel",
            ),
            models.UniqueConstraint(
                fields=["event", "destination"],
                condition=Q(destination__isnull=False),
                name="alertdelivery_once_per_destination",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.channel} delivery of event {self.event_id}: {self.status}"


class AlertMarketMemory(models.Model):
    """What the previous evaluation cycle of an asset saw: the newest bar it evaluated and each
    timeframe's clusters, so the next cycle knows which clusters formed and which bars are new."""

    asset = models.OneToOneField(Asset, on_delete=models.CASCADE, related_name="+")
    bar_time = models.DateTimeField(help_text="open time of the newest bar evaluated")
    clusters = models.JSONField(default=dict, help_text="timeframe → {version, through_ms, clusters}")
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"alert memory of {self.asset_id} at {self.bar_time:%Y-%m-%d %H:%M} UTC"


class AlertFollowUp(models.Model):
    """What price did after one event, within the rule's horizon (docs/alerts.md, "Follow-up"):
    created with the event, resolved once by the worker when the horizon has passed."""

    event = models.OneToOneField(AlertEvent, on_delete=models.CASCADE, primary_key=True, related_name="followup")
    rule = models.ForeignKey(AlertRule, on_delete=models.CASCADE, related_name="followups")
    asset = models.ForeignKey(Asset, on_delete=models.CASCADE, related_name="+")
    target_price = models.FloatField(help_text="the level or cluster peak followed, USD")
    start_price = models.FloatField(help_text="the price it was measured from, USD")
    touched_at_fire = models.BooleanField(default=False, help_text="the firing bar itself reached the target")
    horizon_end = models.DateTimeField()
    resolved_at = models.DateTimeField(null=True, blank=True)
    touched = models.BooleanField(null=True)
    minutes_to_touch = models.PositiveIntegerField(null=True)
    max_toward_pct = models.FloatField(null=True)
    max_against_pct = models.FloatField(null=True)
    liquidated_usd = models.FloatField(null=True, help_text="recorded on the target's side until the touch")
    reversed = models.BooleanField(null=True)
    baseline_rate = models.FloatField(null=True, help_text="how often a level this far was reached in the horizon")

    class Meta:
        ordering = ["-horizon_end"]
        indexes = [
            models.Index(
                fields=["asset", "horizon_end"], condition=Q(resolved_at__isnull=True), name="followup_pending"
            ),
            models.Index(fields=["rule"], name="followup_rule"),
        ]

    def __str__(self) -> str:
        return f"follow-up of event {self.event_id}"


class PersonalModel(models.Model):
    """A trader's own heat-map model: leverage tiers with weights and half-lives, a maintenance margin
    and an optional leverage ceiling, stored as the engine's canonical JSON (heatmaps.engine.model_v2,
    ``ModelV2Params.to_json()``) without the grid's bins and padding, which stay each asset's. Private:
    only its owner reads it, draws with it or changes it (accounts.personal_models)."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="personal_models")
    name = models.CharField(max_length=60)
    params = models.JSONField(help_text="ModelV2Params.to_json() without n_bins and pad")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint("user", Lower("name"), name="personalmodel_name_unique_per_user"),
            models.CheckConstraint(condition=~Q(name=""), name="personalmodel_name_not_empty"),
        ]

    def __str__(self) -> str:
        return self.name
