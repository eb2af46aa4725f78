from __future__ import annotations

from django import forms

from accounts.validators import timeframe_choices, validate_time_zone


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
