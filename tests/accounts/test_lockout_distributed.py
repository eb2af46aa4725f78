"""Password guessing spread over many addresses (the per-account ceiling, site and admin login), and
allauth's own per-address limit on failed sign-ins answering like the other pauses: 429 with
Retry-After. Through the real views against PostgreSQL, addresses as the trusted proxy forwards them."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from axes.models import AccessFailureLog
from django.conf import settings
from django.core import mail
from django.db.models import F
from django.test import Client
from django.urls import reverse

from accounts.models import User
from tests.accounts.helpers import link_in_mail

pytestmark = pytest.mark.django_db

LOGIN = reverse("account_login")
ADMIN_LOGIN = reverse("admin:login")
ATTACKER_ADDRESSES = [f"203.0.113.{n}" for n in range(1, 21)]
HOME = "198.51.100.4"


@pytest.fixture(autouse=True)
def _behind_the_proxy_with_quick_hashes(settings: Any) -> None:
    # As in production: one proxy in front, the client is the forwarded address. A quick hasher,
    # because this file checks a hundred passwords and the point is who may try, not hashing.
    settings.ALLAUTH_TRUSTED_PROXY_COUNT = 1
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def from_address(address: str) -> Client:
    return Client(REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR=address)


def sign_in(client: Client, login: str, password: str) -> Any:
    return client.post(LOGIN, {"login": login, "password": password})


def admin_sign_in(client: Client, username: str, password: str) -> Any:
    return client.post(ADMIN_LOGIN, {"username": username, "password": password, "next": "/admin/"})


def signed_in_as(client: Client) -> str | None:
    user_id = client.session.get("_auth_user_id")
    return User.objects.get(pk=user_id).username if user_id else None


def ceiling_notices(to: str) -> list[Any]:
    return [m for m in mail.outbox if m.to == [to] and "Repeated wrong passwords" in m.subject]


def spread_attack(attempt: Any, username: str) -> list[int]:
    """Every attacker address guesses up to the per-address limit; returns the status codes."""
    return [
        attempt(from_address(address), username, f"guess-{address}-{n}").status_code
        for address in ATTACKER_ADDRESSES
        for n in range(settings.AXES_FAILURE_LIMIT)
    ]


def test_guesses_from_many_addresses_stop_at_the_account_ceiling(alice: User) -> None:
    home = from_address(HOME)
    assert sign_in(home, "alice", "alice-password-1").status_code == 302  # an address she uses
    home.post(reverse("account_logout"))

    codes = spread_attack(sign_in, "alice")
    ceiling = settings.LIQ_LOGIN_ACCOUNT_FAILURE_LIMIT
    # Only `ceiling` passwords were ever checked; every later attempt was refused unchecked.
    assert AccessFailureLog.objects.filter(username="alice").count() == ceiling
    assert codes[ceiling:] == [429] * (len(codes) - ceiling)

    # The right password from an address that never signed in to the account: refused.
    stranger = from_address("192.0.2.77")
    response = sign_in(stranger, "alice", "alice-password-1")
    assert response.status_code == 429 and signed_in_as(stranger) is None
    page = response.content.decode()
    assert "from several network addresses" in page and "Reset the password by email" in page
    window = settings.LIQ_LOGIN_ACCOUNT_WINDOW_HOURS * 3600
    assert window - 120 <= int(response["Retry-After"]) <= window
    assert AccessFailureLog.objects.filter(username="alice").count() == ceiling  # not prolonged

    # Alice at home signs in as usual.
    response = sign_in(home, "alice", "alice-password-1")
    assert response.status_code == 302 and signed_in_as(home) == "alice"

    # Told once by email, however many attempts followed.
    notices = ceiling_notices("alice@example.org")
    assert len(notices) == 1
    assert f"{ceiling} or more wrong passwords" in notices[0].body
    assert "from 4 network addresses" in notices[0].body

    # When enough failures leave the window, new addresses may sign in again.
    AccessFailureLog.objects.update(
        attempt_time=F("attempt_time") - timedelta(hours=settings.LIQ_LOGIN_ACCOUNT_WINDOW_HOURS)
    )
    assert sign_in(stranger, "alice", "alice-password-1").status_code == 302
    assert len(ceiling_notices("alice@example.org")) == 1


def test_a_password_reset_by_email_lifts_the_ceiling(client: Client, alice: User) -> None:
    spread_attack(sign_in, "alice")
    travelling = from_address("192.0.2.150")
    assert sign_in(travelling, "alice", "alice-password-1").status_code == 429

    travelling.post(reverse("account_reset_password"), {"email": "alice@example.org"})
    link = link_in_mail("/accounts/password/reset/key/", to="alice@example.org")
    form_url = travelling.get(link)["Location"]
    response = travelling.post(form_url, {"password1": "new-s1gnal-alice", "password2": "new-s1gnal-alice"})
    assert response.status_code == 302

    response = sign_in(travelling, "alice", "new-s1gnal-alice")
    assert response.status_code == 302 and signed_in_as(travelling) == "alice"


def test_the_admin_login_has_the_same_ceiling(olga: User) -> None:
    office = from_address(HOME)
    assert admin_sign_in(office, "olga", "olga-password-1").status_code == 302
    office.post(reverse("admin:logout"))

    codes = spread_attack(admin_sign_in, "olga")
    assert codes[-1] == 429
    response = admin_sign_in(from_address("192.0.2.77"), "olga", "olga-password-1")
    assert response.status_code == 429 and 'href="/admin/login/"' in response.content.decode()

    response = admin_sign_in(office, "olga", "olga-password-1")
    assert response.status_code == 302 and response["Location"] == "/admin/"
    assert len(ceiling_notices("olga@example.org")) == 1


def test_allauths_limit_on_failed_sign_ins_is_a_429_with_retry_after(alice: User) -> None:
    # Different names from one address: axes' pause per (name, address) never trips, allauth's
    # per-address limit (10 a minute) does.
    client = from_address("203.0.113.99")
    codes = [sign_in(client, f"nobody-{n}", "whatever-1").status_code for n in range(10)]
    assert codes == [200] * 10
    response = sign_in(client, "alice", "alice-password-1")
    assert response.status_code == 429
    assert "in the last minute" in response.content.decode()
    assert 1 <= int(response["Retry-After"]) <= 60
    assert signed_in_as(client) is None

    # Another address is not affected.
    other = from_address("203.0.113.100")
    assert sign_in(other, "alice", "alice-password-1").status_code == 302
