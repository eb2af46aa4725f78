"""Forms parse the pages' input into Python types; the rules live in the services."""

from __future__ import annotations

from django import forms
from django.core.exceptions import ValidationError

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
