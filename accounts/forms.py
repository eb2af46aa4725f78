"""Forms parse the pages' input into Python types; the rules live in the services."""

from __future__ import annotations

from django import forms
from django.core.exceptions import ValidationError

from accounts.alerts.rule_store import CONDITION_LABELS
from accounts.models import Annotation
from accounts.validators import timeframe_choices, validate_time_zone

TIME_INPUT_FORMAT = "%Y-%m-%dT%H:%M"


class AnnotationForm(forms.Form):
    # Optional here so that the service, not the form, explains what each kind needs.
    asset = forms.CharField(max_length=32, required=False)
    kind = forms.ChoiceField(choices=Annotation.Kind.choices, initial=Annotation.Kind.LEVEL)
    price = forms.FloatField(required=False, widget=forms.NumberInput(attrs={"step": "any"}))
    price_high = forms.FloatField(required=False, widget=forms.NumberInput(attrs={"step": "any"}))
    time = forms.DateTimeField(
        required=False,
        widget=forms.DateTimeInput(format=TIME_INPUT_FORMAT, attrs={"type": "datetime-local"}),
    )
    label = forms.CharField(required=False, strip=False)
    color = forms.CharField(required=False, initial="#58a6ff", widget=forms.TextInput(attrs={"type": "color"}))


def add_service_errors(form: forms.Form, exc: ValidationError) -> None:
    """Show a service's field-keyed errors next to the form's fields (others at the top)."""
    errors = exc.message_dict if hasattr(exc, "error_dict") else {"__all__": exc.messages}
    for field, messages in errors.items():
        form.add_error(field if field in form.fields else None, messages)


class ProfileForm(forms.Form):
    time_zone = forms.CharField(
        label="Display time zone",
        max_length=64,
        validators=[validate_time_zone],
        help_text="IANA name, e.g. UTC, Europe/Berlin, America/New_York. Pages show times in this zone.",
        widget=forms.TextInput(attrs={"list": "time-zones", "autocomplete": "off", "spellcheck": "false"}),
    )
    default_timeframe = forms.ChoiceField(
        label="Default timeframe",
        choices=timeframe_choices,
        help_text="The heat map an asset page opens with.",
    )


TOKEN_LIFETIMES = [("", "never"), ("7", "in 7 days"), ("30", "in 30 days"), ("90", "in 90 days"), ("365", "in a year")]


class ApiTokenForm(forms.Form):
    name = forms.CharField(
        label="Token name",
        max_length=60,
        help_text="What will use it, e.g. “grafana” or “alerts bot”.",
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
    )
    expires_in = forms.TypedChoiceField(
        label="Expires",
        choices=TOKEN_LIFETIMES,
        coerce=int,
        empty_value=None,
        required=False,
    )


class AlertRuleForm(forms.Form):
    """Every field any condition takes, all optional here: the service says what the chosen
    condition needs, with the same messages the API gives."""

    asset = forms.CharField(max_length=32, required=False)
    condition = forms.ChoiceField(choices=[], initial="price_crosses")
    price = forms.FloatField(
        required=False, label="Price (USD)", widget=forms.NumberInput(attrs={"step": "any", "min": "0"})
    )
    direction = forms.ChoiceField(
        required=False,
        choices=[("either", "either way"), ("up", "up (from below)"), ("down", "down (from above)")],
        initial="either",
    )
    annotation = forms.TypedChoiceField(required=False, coerce=int, empty_value=None, label="Zone", choices=[])
    percent = forms.FloatField(required=False, label="Percent (%)", widget=forms.NumberInput(attrs={"step": "any"}))
    side = forms.ChoiceField(
        required=False,
        choices=[("either", "either side"), ("above", "above the price"), ("below", "below the price")],
        initial="either",
    )
    min_usd = forms.FloatField(
        required=False, label="Minimum size (USD)", widget=forms.NumberInput(attrs={"step": "any", "min": "0"})
    )
    timeframe = forms.ChoiceField(required=False, choices=timeframe_choices, initial="1w", label="Map timeframe")
    # Entered in % per 8 h, as every page shows funding; the rule stores the fraction (÷ 100).
    rate = forms.FloatField(
        required=False,
        label="Funding rate (% per 8 h)",
        widget=forms.NumberInput(attrs={"step": "any", "placeholder": "0.05"}),
    )
    window_minutes = forms.IntegerField(required=False, label="Window (minutes)", initial=60)
    trigger = forms.ChoiceField(
        choices=[("every", "every time, after a cooldown"), ("once", "once, then switch off")], initial="every"
    )
    cooldown_minutes = forms.IntegerField(required=False, initial=60, label="Cooldown (minutes)")
    expires_at = forms.DateTimeField(
        required=False,
        label="Expires",
        widget=forms.DateTimeInput(format=TIME_INPUT_FORMAT, attrs={"type": "datetime-local"}),
    )
    enabled = forms.BooleanField(required=False, initial=True)
    channels = forms.MultipleChoiceField(
        required=False,
        choices=[("in_app", "in-app (the bell)"), ("email", "email"), ("webhook", "webhook")],
        initial=["in_app"],
        widget=forms.CheckboxSelectMultiple,
    )
    webhook_url = forms.CharField(required=False, max_length=2048, label="Webhook URL")
    destinations = forms.TypedMultipleChoiceField(
        required=False, coerce=int, choices=[], widget=forms.CheckboxSelectMultiple, label="Destinations"
    )
    followup_webhook = forms.BooleanField(required=False, label="Follow-ups to the webhook")
    followup_horizon_minutes = forms.IntegerField(
        required=False,
        label="Follow-up horizon (minutes)",
        widget=forms.NumberInput(attrs={"placeholder": "the map's timeframe / 7"}),
    )

    def __init__(
        self,
        *args: object,
        zones: list[tuple[int, str]] | None = None,
        destinations: list[tuple[int, str]] | None = None,
        **kwargs: object,
    ) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        condition = self.fields["condition"]
        assert isinstance(condition, forms.ChoiceField)
        condition.choices = [(key, label[:1].upper() + label[1:]) for key, label in CONDITION_LABELS.items()]
        targets = self.fields["destinations"]
        assert isinstance(targets, forms.TypedMultipleChoiceField)
        targets.choices = destinations or []
        annotation = self.fields["annotation"]
        assert isinstance(annotation, forms.TypedChoiceField)
        annotation.choices = [("", "choose one of your zones"), *(zones or [])]
