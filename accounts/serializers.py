"""Shapes of the personal JSON API. Parsing and output only: the rules live in the services."""

from __future__ import annotations

from typing import Any

from django.utils import timezone
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from accounts.models import AlertEvent, Annotation, ApiToken, User, Watchlist


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
    expires_at = serializers.DateTimeField(
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
)


class AlertRuleInput(serializers.Serializer):
    asset = StrictCharField()
    condition = StrictCharField()
    price = RawField(required=False)
    direction = RawField(required=False)
    annotation = RawField(required=False)
    percent = RawField(required=False)
    side = RawField(required=False)
    min_usd = RawField(required=False)
    timeframe = RawField(required=False)
    rate = RawField(required=False)
    window_minutes = RawField(required=False)
    trigger = RawField(required=False)
    cooldown_minutes = RawField(required=False)
    expires_at = serializers.DateTimeField(required=False, allow_null=True)
    enabled = RawField(required=False)
    channels = RawField(required=False)
    webhook_url = RawField(required=False)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        unknown = sorted(set(self.initial_data) - set(ALERT_RULE_FIELDS))
        if unknown:
            raise serializers.ValidationError({name: "Unknown field." for name in unknown})
        return attrs


class AlertEventOutput(serializers.ModelSerializer):
    asset = serializers.CharField(source="asset.symbol")

    class Meta:
        model = AlertEvent
        fields = ["id", "rule", "asset", "condition", "fired_at", "bar_time", "values", "read", "test"]


class AlertEventPatch(serializers.Serializer):
    read = serializers.BooleanField(required=True)

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, dict) and "read" in data and not isinstance(data["read"], bool):
            raise serializers.ValidationError({"read": "Give true or false."})
        return super().to_internal_value(data)
