"""Shapes of the personal JSON API. Parsing and output only: the rules live in the services."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from accounts.alerts.rule_store import CHANNELS
from accounts.alerts.rules import CONDITIONS, MAX_COOLDOWN_MINUTES, MAX_WINDOW_MINUTES
from accounts.models import AlertEvent, AlertRule, Annotation, ApiToken, User, Watchlist
from heatmaps.engine import TIMEFRAMES


class StrictCharField(serializers.CharField):
    """A JSON string and nothing else (DRF's CharField would turn 12 into "12")."""

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictFloatField(serializers.FloatField):
    """A JSON number (not a string, not true/false); NaN and infinities are not prices."""

    default_error_messages = {"invalid": "A number is required."}

    def to_internal_value(self, data: Any) -> float:
        if isinstance(data, bool) or not isinstance(data, int | float):
            self.fail("invalid")
        return super().to_internal_value(data)


class AwareDateTimeField(serializers.DateTimeField):
    """An ISO 8601 time with its offset. DRF would read a time without one in the server's zone (UTC)
    without a word; a client in another zone would get an expiry hours off."""

    default_error_messages = {"naive": "Give the time with a time zone: Z for UTC, or an offset such as +02:00."}

    def enforce_timezone(self, value: Any) -> Any:
        if timezone.is_naive(value):
            self.fail("naive")
        return super().enforce_timezone(value)


class WatchlistInput(serializers.Serializer):
    name = StrictCharField(allow_blank=True, trim_whitespace=False)
    assets = serializers.ListField(child=StrictCharField(), required=False, allow_empty=True)


class WatchlistOutput(serializers.ModelSerializer):
    assets = serializers.SerializerMethodField()

    class Meta:
        model = Watchlist
        fields = ["id", "name", "assets", "created_at"]

    def get_assets(self, watchlist: Watchlist) -> list[str]:
        """Symbols in the list's order (items are prefetched in that order)."""
        return [item.asset.symbol for item in watchlist.items.all()]


class AnnotationInput(serializers.Serializer):
    asset = StrictCharField()
    kind = serializers.ChoiceField(choices=Annotation.Kind.choices)
    price = StrictFloatField()
    price_high = StrictFloatField(required=False, allow_null=True)
    time = serializers.DateTimeField(required=False, allow_null=True)
    # A declared field named like Field.label: DRF's metaclass takes it out of the class, mypy cannot tell.
    label = StrictCharField(required=False, allow_blank=True, trim_whitespace=False)  # type: ignore[assignment]
    color = StrictCharField(required=False)


class AnnotationOutput(serializers.ModelSerializer):
    asset = serializers.CharField(source="asset.symbol")

    class Meta:
        model = Annotation
        fields = ["id", "asset", "kind", "price", "price_high", "time", "label", "color", "created_at", "updated_at"]


class ApiTokenInput(serializers.Serializer):
    name = StrictCharField(max_length=200)
    expires_at = AwareDateTimeField(
        required=False, allow_null=True, help_text="ISO 8601 with a time zone; omit or null for no expiry"
    )


class ApiTokenOutput(serializers.ModelSerializer):
    expired = serializers.SerializerMethodField()

    class Meta:
        model = ApiToken
        fields = ["id", "name", "prefix", "created_at", "expires_at", "last_used_at", "expired"]

    def get_expired(self, token: ApiToken) -> bool:
        return token.expires_at is not None and token.expires_at <= timezone.now()


class ApiTokenCreatedOutput(ApiTokenOutput):
    token = serializers.SerializerMethodField(help_text="the token itself: shown this once, stored only hashed")

    class Meta(ApiTokenOutput.Meta):
        fields = [*ApiTokenOutput.Meta.fields, "token"]

    def get_token(self, token: ApiToken) -> str:
        return str(self.context["raw"])


class MeOutput(serializers.ModelSerializer):
    authenticated_by = serializers.SerializerMethodField(help_text="token or session")
    token = serializers.SerializerMethodField(help_text="the token this request used, if any")

    class Meta:
        model = User
        fields = [
            "id",
            "username",
            "email",
            "time_zone",
            "default_timeframe",
            "date_joined",
            "authenticated_by",
            "token",
        ]

    def get_authenticated_by(self, user: User) -> str:
        return "token" if isinstance(self.context.get("auth"), ApiToken) else "session"

    @extend_schema_field(ApiTokenOutput(allow_null=True))
    def get_token(self, user: User) -> dict[str, Any] | None:
        auth = self.context.get("auth")
        return ApiTokenOutput(auth).data if isinstance(auth, ApiToken) else None


class RawField(serializers.Field):
    """The JSON value as sent: the alert services check types themselves, with the field's name."""

    def to_internal_value(self, data: Any) -> Any:
        return data

    def to_representation(self, value: Any) -> Any:
        return value


# The subclasses below only tell the schema what a field should hold; at run time a wrong type
# still reaches the service, whose 400 names the field in the platform's own words.


@extend_schema_field(OpenApiTypes.NUMBER)
class RawNumber(RawField):
    pass


@extend_schema_field(OpenApiTypes.INT)
class RawInteger(RawField):
    pass


@extend_schema_field(OpenApiTypes.BOOL)
class RawBoolean(RawField):
    pass


class RawString(RawField):
    def __init__(self, *, enum: Sequence[str] = (), **kwargs: Any) -> None:
        super().__init__(**kwargs)
        # Per instance, since the choices differ by field; DRF copies a field by calling __init__
        # again with the same arguments, so every copy carries it too.
        schema: dict[str, Any] = {"type": "string", "enum": list(enum)} if enum else {"type": "string"}
        extend_schema_field(schema)(self)  # type: ignore[type-var]


class RawStringList(RawField):
    def __init__(self, *, enum: Sequence[str], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        extend_schema_field({"type": "array", "items": {"type": "string", "enum": list(enum)}})(self)  # type: ignore[type-var]


@extend_schema_field({"type": "array", "items": {"type": "integer"}})
class RawIntegerList(RawField):
    pass


DIRECTIONS = ("up", "down", "either")
CLUSTER_SIDES = ("above", "below", "either")
TRIGGERS = tuple(AlertRule.Trigger.values)

ALERT_RULE_FIELDS = (
    "asset",
    "condition",
    "price",
    "direction",
    "annotation",
    "percent",
    "side",
    "min_usd",
    "timeframe",
    "rate",
    "window_minutes",
    "trigger",
    "cooldown_minutes",
    "expires_at",
    "enabled",
    "channels",
    "webhook_url",
    "destinations",
    "followup_horizon_minutes",
    "followup_webhook",
)


@extend_schema_field({"type": "string", "enum": list(CONDITIONS)})
class ConditionName(StrictCharField):
    pass


class AlertRuleInput(serializers.Serializer):
    """A rule with its condition's parameters as flat fields (docs/alerts.md says which each takes)."""

    asset = StrictCharField(help_text="e.g. BTCUSDT")
    condition = ConditionName()
    price = RawNumber(required=False, help_text="price_crosses: the level, USD")
    direction = RawString(enum=DIRECTIONS, required=False, help_text="price_crosses; default either")
    annotation = RawInteger(required=False, help_text="price_enters_zone: the id of one of your zones on the asset")
    percent = RawNumber(
        required=False,
        help_text="cluster_within, cluster_forms: distance from the price, 0 < percent <= 50; "
        "oi_change: signed change, non-zero, at most ±50",
    )
    side = RawString(enum=CLUSTER_SIDES, required=False, help_text="cluster_within; default either")
    min_usd = RawNumber(
        required=False, help_text="cluster rules: the smallest cluster, USD (optional for cluster_within)"
    )
    timeframe = RawString(enum=list(TIMEFRAMES), required=False, help_text="cluster rules: the heat map's window")
    rate = RawNumber(required=False, help_text="funding_above, funding_below: fraction per 8 h (0.0005 = 0.05 %)")
    window_minutes = RawInteger(required=False, help_text=f"oi_change: 5 … {MAX_WINDOW_MINUTES} minutes")
    trigger = RawString(enum=TRIGGERS, required=False, help_text="default every")
    cooldown_minutes = RawInteger(
        required=False, help_text=f"every: minutes between firings, 1 … {MAX_COOLDOWN_MINUTES}; default 60"
    )
    expires_at = serializers.DateTimeField(required=False, allow_null=True, help_text="ISO 8601 with a time zone")
    enabled = RawBoolean(required=False, help_text="default true")
    channels = RawStringList(enum=CHANNELS, required=False, help_text="default [in_app]")
    webhook_url = RawString(required=False, help_text="https:// URL; needed with the webhook channel")
    destinations = RawIntegerList(
        required=False, help_text="ids of your alert destinations (Telegram, Discord) to send to; default none"
    )
    followup_horizon_minutes = RawInteger(
        required=False, help_text="how long each alert is followed up, 5 … 86400 minutes; null: the map's timeframe / 7"
    )
    followup_webhook = RawBoolean(
        required=False, help_text="also POST each alert's follow-up to the webhook when resolved; default false"
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        unknown = sorted(set(self.initial_data) - set(ALERT_RULE_FIELDS))
        if unknown:
            raise serializers.ValidationError({name: "Unknown field." for name in unknown})
        return attrs


class AlertRuleOutput(serializers.Serializer):
    """What the alert rule endpoints answer (accounts.alert_api.rule_json builds it): only the
    condition's own parameters are present."""

    id = serializers.IntegerField()
    asset = serializers.CharField()
    condition = serializers.ChoiceField(choices=list(CONDITIONS))
    price = serializers.FloatField(required=False, help_text="USD")
    direction = serializers.ChoiceField(choices=list(DIRECTIONS), required=False)
    annotation = serializers.IntegerField(required=False, help_text="the zone's id")
    percent = serializers.FloatField(required=False, help_text="percent")
    side = serializers.ChoiceField(choices=list(CLUSTER_SIDES), required=False)
    min_usd = serializers.FloatField(required=False, allow_null=True, help_text="USD; null: no minimum")
    timeframe = serializers.ChoiceField(choices=list(TIMEFRAMES), required=False)
    rate = serializers.FloatField(required=False, help_text="fraction per 8 h")
    window_minutes = serializers.IntegerField(required=False, help_text="minutes")
    trigger = serializers.ChoiceField(choices=list(TRIGGERS))
    cooldown_minutes = serializers.IntegerField(help_text="minutes")
    expires_at = serializers.DateTimeField(allow_null=True, help_text="UTC")
    enabled = serializers.BooleanField()
    channels = serializers.ListField(child=serializers.ChoiceField(choices=list(CHANNELS)))
    webhook_url = serializers.CharField(allow_blank=True)
    webhook_failures = serializers.IntegerField(help_text="failed webhook attempts in a row")
    webhook_disabled_reason = serializers.CharField(allow_blank=True, help_text="set when the webhook was switched off")
    last_fired_bar = serializers.DateTimeField(allow_null=True, help_text="open time of the bar it last fired on, UTC")
    created_at = serializers.DateTimeField(help_text="UTC")
    destinations = serializers.ListField(child=serializers.IntegerField(), help_text="ids of your alert destinations")
    followup_horizon_minutes = serializers.IntegerField(allow_null=True, help_text="null: the map's timeframe / 7")
    followup_webhook = serializers.BooleanField(help_text="each alert's follow-up is POSTed to the webhook too")
    description = serializers.CharField(help_text="the condition in plain words, prices on the asset's tick")
    rate_pct = serializers.FloatField(required=False, help_text="funding rules: the rate in % per 8 h (rate × 100)")


class AlertRuleCreatedOutput(AlertRuleOutput):
    webhook_secret = serializers.CharField(help_text="signs every webhook body (HMAC-SHA256): shown this once")


class AlertEventOutput(serializers.ModelSerializer):
    asset = serializers.CharField(source="asset.symbol")
    condition = serializers.ChoiceField(choices=list(CONDITIONS))
    values = serializers.DictField(help_text="what made it fire, by condition (docs/alerts.md)")

    class Meta:
        model = AlertEvent
        fields = ["id", "rule", "asset", "condition", "fired_at", "bar_time", "values", "read", "test"]


class AlertEventPage(serializers.Serializer):
    count = serializers.IntegerField()
    next = serializers.URLField(allow_null=True, help_text="the next page, if any")
    previous = serializers.URLField(allow_null=True, help_text="the previous page, if any")
    results = AlertEventOutput(many=True, help_text="newest first, 50 a page")


class AlertEventPatch(serializers.Serializer):
    read = serializers.BooleanField(required=True)

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, dict) and "read" in data and not isinstance(data["read"], bool):
            raise serializers.ValidationError({"read": "Give true or false."})
        return super().to_internal_value(data)


class PersonalModelTier(serializers.Serializer):
    leverage = StrictFloatField(help_text="× (above 1, at most 200)")
    weight = StrictFloatField(help_text="fraction of the open interest, 0 to 1; a model's weights add up to 1")
    half_life_hours = StrictFloatField(
        allow_null=True, help_text="hours for half of the tier's positions to fade (at least 1); null: never"
    )


class PersonalModelInput(serializers.Serializer):
    name = StrictCharField(allow_blank=True, trim_whitespace=False, help_text="unique among your models")
    tiers = serializers.ListField(child=PersonalModelTier(), allow_empty=True)
    mmr = StrictFloatField(help_text="maintenance margin rate, a fraction (0.004 is 0.4 %), at most 0.05")
    max_leverage = StrictFloatField(required=False, allow_null=True, help_text="×; null: no ceiling")

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        unknown = sorted(set(self.initial_data) - set(self.fields))
        if unknown:
            raise serializers.ValidationError({name: "Unknown field." for name in unknown})
        return attrs


class PersonalModelOutput(serializers.Serializer):
    """What the model endpoints answer (accounts.model_api.personal_model_json builds it)."""

    id = serializers.IntegerField()
    name = serializers.CharField()
    tiers = PersonalModelTier(many=True)
    mmr = serializers.FloatField(help_text="fraction")
    max_leverage = serializers.FloatField(allow_null=True)
    model = serializers.CharField(help_text="the maps' model= value that draws with it: mine:<id>")
    created_at = serializers.DateTimeField(help_text="UTC")
    updated_at = serializers.DateTimeField(help_text="UTC")
