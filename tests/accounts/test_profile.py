"""The profile page: display time zone and default timeframe, and both applied on other pages."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.core.exceptions import ValidationError
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.models import User
from accounts.services import profile_update
from heatmaps.engine import TIMEFRAMES
from heatmaps.marketdata import asset_summary_refresh
from heatmaps.models import Asset, Candle

pytestmark = pytest.mark.django_db

PROFILE = reverse("accounts:profile")


def test_anonymous_visitors_are_sent_to_sign_in(client: Client) -> None:
    response = client.get(PROFILE)
    assert response.status_code == 302
    assert response["Location"] == f"{reverse('account_login')}?next={PROFILE}"


def test_profile_shows_email_with_a_link_to_manage_it(alice_client: Client) -> None:
    page = alice_client.get(PROFILE).content.decode()
    assert "alice@example.org" in page
    assert f'href="{reverse("account_email")}"' in page
    assert f'href="{reverse("account_change_password")}"' in page
    # Every known zone is offered, and only timeframes the engine computes.
    assert page.count('<option value="') >= 400 + len(TIMEFRAMES)
    assert '<option value="Europe/Berlin">' in page
    for key in TIMEFRAMES:
        assert f'<option value="{key}"' in page


def test_valid_update_is_saved(alice_client: Client, alice: User) -> None:
    response = alice_client.post(PROFILE, {"time_zone": "Europe/Berlin", "default_timeframe": "1w"})
    assert response.status_code == 302 and response["Location"] == PROFILE
    alice.refresh_from_db()
    assert (alice.time_zone, alice.default_timeframe) == ("Europe/Berlin", "1w")
    page = alice_client.get(PROFILE).content.decode()
    assert "Profile saved." in page
    assert 'value="Europe/Berlin"' in page and '<option value="1w" selected>' in page


@pytest.mark.parametrize(
    ("time_zone", "timeframe", "complaint"),
    [
        ("Mars/Olympus", "1w", "is not a known time zone"),
        ("", "1w", "This field is required"),
        ("Europe/" + "x" * 193, "1w", "at most 64 characters"),
        ("europe/berlin", "1w", "is not a known time zone"),
        ("Europe/Berlin", "5m", "Select a valid choice"),
        ("Europe/Berlin", "", "This field is required"),
    ],
)
def test_invalid_update_saves_nothing_and_says_why(
    alice_client: Client, alice: User, time_zone: str, timeframe: str, complaint: str
) -> None:
    response = alice_client.post(PROFILE, {"time_zone": time_zone, "default_timeframe": timeframe})
    assert response.status_code == 200
    page = response.content.decode()
    assert "Nothing was saved" in page
    assert complaint in page
    alice.refresh_from_db()
    assert (alice.time_zone, alice.default_timeframe) == ("UTC", "24h")


@pytest.mark.parametrize(("time_zone", "timeframe"), [("Mars/Olympus", "1w"), ("Europe/Berlin", "5m"), ("", "24h")])
def test_service_refuses_unknown_values_and_saves_nothing(alice: User, time_zone: str, timeframe: str) -> None:
    with pytest.raises(ValidationError):
        profile_update(user=alice, time_zone=time_zone, default_timeframe=timeframe)
    alice.refresh_from_db()
    assert (alice.time_zone, alice.default_timeframe) == ("UTC", "24h")


def test_times_render_in_the_users_zone(alice_client: Client, alice: User) -> None:
    profile_update(user=alice, time_zone="Asia/Tokyo", default_timeframe="24h")
    User.objects.filter(pk=alice.pk).update(last_login=datetime(2026, 1, 2, 3, 4, tzinfo=UTC))
    page = alice_client.get(PROFILE).content.decode()
    assert '<dd class="last-login">2026-01-02 12:04 Asia/Tokyo</dd>' in page  # UTC+9
    assert 'data-time-zone="Asia/Tokyo"' in page
    # The zone is the request's alone: afterwards (same thread) and for others it is UTC again.
    assert timezone.get_current_timezone_name() == "UTC"
    assert 'data-time-zone="UTC"' in Client().get("/").content.decode()


def test_zone_dropped_from_the_tz_database_falls_back_to_utc(alice_client: Client, alice: User) -> None:
    User.objects.filter(pk=alice.pk).update(time_zone="Atlantis/Capital")
    response = alice_client.get(PROFILE)
    assert response.status_code == 200
    assert 'data-time-zone="UTC"' in response.content.decode()


def test_times_labelled_utc_stay_utc(alice_client: Client, alice: User, btc: Asset) -> None:
    Candle.objects.create(
        asset=btc, exchange=btc.reference_exchange, open_time=datetime(2026, 1, 2, 3, 5, tzinfo=UTC),
        open=1, high=1, low=1, close=1,
    )  # fmt: skip
    asset_summary_refresh(asset=btc)  # what ingest does when data lands; the overview reads it
    profile_update(user=alice, time_zone="America/New_York", default_timeframe="24h")
    page = alice_client.get("/").content.decode()
    assert "2026-01-02 03:05 UTC" in page
    assert 'data-time-zone="America/New_York"' in page


def test_asset_page_opens_with_the_users_default_timeframe(
    client: Client, alice_client: Client, alice: User, btc: Asset
) -> None:
    def opened_with(c: Client, query: str = "") -> str:
        response = c.get(f"/assets/BTCUSDT/{query}")
        assert response.status_code == 200
        return response.context["timeframe"]

    assert opened_with(alice_client) == "24h"
    profile_update(user=alice, time_zone="UTC", default_timeframe="1w")
    assert opened_with(alice_client) == "1w"
    assert 'data-timeframe="1w"' in alice_client.get("/assets/BTCUSDT/").content.decode()
    assert opened_with(alice_client, "?tf=12h") == "12h"  # a link that names one wins
    assert opened_with(client) == "24h"  # anonymous visitors get the site default


def test_a_default_timeframe_the_engine_dropped_falls_back(alice_client: Client, alice: User, btc: Asset) -> None:
    User.objects.filter(pk=alice.pk).update(default_timeframe="4y")
    assert alice_client.get("/assets/BTCUSDT/").context["timeframe"] == "24h"


def test_staff_see_the_preferences_in_the_user_admin(olga_client: Client, alice: User) -> None:
    page = olga_client.get(f"/admin/accounts/user/{alice.pk}/change/").content.decode()
    assert 'name="time_zone"' in page and 'name="default_timeframe"' in page
    assert olga_client.get("/admin/accounts/user/?default_timeframe=24h").status_code == 200
