"""Signing up, verifying, signing in and out, passwords, and the lockout after repeated wrong passwords
(site and admin), through the real views against PostgreSQL."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from allauth.account.models import EmailAddress
from axes.models import AccessAttempt
from django.conf import settings
from django.core import mail
from django.core.management import call_command
from django.db.models import F
from django.test import Client
from django.urls import reverse

from accounts.models import User
from tests.accounts.helpers import link_in_mail

pytestmark = pytest.mark.django_db

LOGIN = reverse("account_login")
ADMIN_LOGIN = reverse("admin:login")


def signed_in_as(client: Client) -> str | None:
    user_id = client.session.get("_auth_user_id")
    return User.objects.get(pk=user_id).username if user_id else None


def sign_in(client: Client, login: str, password: str) -> Any:
    return client.post(LOGIN, {"login": login, "password": password})


def admin_sign_in(client: Client, username: str, password: str) -> Any:
    return client.post(ADMIN_LOGIN, {"username": username, "password": password, "next": "/admin/"})


def expire_lockouts() -> None:
    """Move every recorded failure back past the cool-off, as if that much time had passed."""
    AccessAttempt.objects.update(attempt_time=F("attempt_time") - settings.AXES_COOLOFF_TIME - timedelta(seconds=1))


# ---- sign-up and email verification -------------------------------------------------------------


def test_sign_up_verify_email_then_sign_in(client: Client) -> None:
    response = client.post(
        reverse("account_signup"),
        {
            "email": "carol@example.org",
            "username": "carol",
            "password1": "s1gnal-carol-9",
            "password2": "s1gnal-carol-9",
        },
    )
    assert response.status_code == 302
    assert response["Location"] == reverse("account_email_verification_sent")
    assert signed_in_as(client) is None  # not before the email is verified
    carol = User.objects.get(username="carol")
    assert carol.time_zone == "UTC" and carol.default_timeframe == "24h"
    assert [m.to for m in mail.outbox] == [["carol@example.org"]]
    assert mail.outbox[0].subject.startswith("[liqplatform] ")
    link = link_in_mail("/accounts/confirm-email/", to="carol@example.org")

    # Signing in before verifying is refused, with a message saying why.
    response = sign_in(client, "carol", "s1gnal-carol-9")
    assert response.status_code == 302 and response["Location"] == reverse("account_email_verification_sent")
    page = client.get(response["Location"]).content.decode()
    assert "Verify Your Email Address" in page or "verification" in page.lower()
    assert signed_in_as(client) is None

    # The link shows a confirmation page; confirming verifies the address.
    confirm_page = client.get(link)
    assert confirm_page.status_code == 200 and "carol@example.org" in confirm_page.content.decode()
    assert client.post(link).status_code == 302
    assert EmailAddress.objects.get(user=carol, email="carol@example.org").verified

    response = sign_in(client, "carol", "s1gnal-carol-9")
    assert response.status_code == 302 and response["Location"] == "/"
    assert signed_in_as(client) == "carol"
    assert ">carol</a>" in client.get("/").content.decode()


def test_sign_in_by_email_address_any_case(client: Client, alice: User) -> None:
    response = sign_in(client, "Alice@Example.org", "alice-password-1")
    assert response.status_code == 302 and response["Location"] == "/"
    assert signed_in_as(client) == "alice"


@pytest.mark.parametrize(
    ("password", "complaint"),
    [
        ("short-1", "too short"),
        ("1234567890123", "entirely numeric"),
        ("password1234", "too common"),
        ("dave-example-org", "too similar"),
    ],
)
def test_sign_up_refuses_weak_passwords(client: Client, password: str, complaint: str) -> None:
    response = client.post(
        reverse("account_signup"),
        {"email": "dave-example-org@example.org", "username": "dave", "password1": password, "password2": password},
    )
    assert response.status_code == 200
    assert complaint in response.content.decode()
    assert not User.objects.filter(username="dave").exists()
    assert mail.outbox == []


def test_sign_up_refuses_an_email_already_registered(client: Client, alice: User) -> None:
    response = client.post(
        reverse("account_signup"),
        {
            "email": "alice@example.org",
            "username": "alice2",
            "password1": "s1gnal-carol-9",
            "password2": "s1gnal-carol-9",
        },
    )
    # allauth does not reveal whether the address is taken: the page looks the same as a new sign-up,
    # but no second account appears and the owner is told by email instead.
    assert not User.objects.filter(username="alice2").exists()
    assert response.status_code in (200, 302)
    assert all(m.to == ["alice@example.org"] for m in mail.outbox)


# ---- lockouts -----------------------------------------------------------------------------------


def test_site_lockout_after_repeated_wrong_passwords_then_expiry(client: Client, alice: User) -> None:
    limit = settings.AXES_FAILURE_LIMIT
    for attempt in range(1, limit):
        response = sign_in(client, "alice", f"wrong-password-{attempt}")
        assert response.status_code == 200, attempt
        assert "not correct" in response.content.decode()
    response = sign_in(client, "alice", "wrong-password-last")
    assert response.status_code == 429
    page = response.content.decode()
    assert "Too many failed sign-in attempts" in page
    assert "Try again after" in page and "UTC" in page
    cool_off = settings.AXES_COOLOFF_TIME.total_seconds()
    assert cool_off - 5 <= int(response["Retry-After"]) <= cool_off

    # The right password is refused while locked, and does not extend the wait.
    before = AccessAttempt.objects.get(username="alice")
    response = sign_in(client, "alice", "alice-password-1")
    assert response.status_code == 429
    assert signed_in_as(client) is None
    after = AccessAttempt.objects.get(username="alice")
    assert (after.failures_since_start, after.attempt_time) == (before.failures_since_start, before.attempt_time)

    expire_lockouts()
    response = sign_in(client, "alice", "alice-password-1")
    assert response.status_code == 302 and response["Location"] == "/"
    assert signed_in_as(client) == "alice"
    assert not AccessAttempt.objects.filter(username="alice").exists()  # reset on success


def test_lockout_counts_every_spelling_of_the_account(client: Client, alice: User) -> None:
    spellings = ["alice", "ALICE", "alice@example.org", "Alice@Example.org", " alice "]
    responses = [
        sign_in(client, spellings[i % len(spellings)], "nope-nope-1") for i in range(settings.AXES_FAILURE_LIMIT)
    ]
    assert [r.status_code for r in responses][-1] == 429
    assert list(AccessAttempt.objects.values_list("username", flat=True)) == ["alice"]
    assert sign_in(client, "alice@example.org", "alice-password-1").status_code == 429


def test_lockout_is_per_address_so_others_cannot_lock_a_trader_out(alice: User) -> None:
    attacker = Client(REMOTE_ADDR="203.0.113.9")
    for _ in range(settings.AXES_FAILURE_LIMIT):
        response = sign_in(attacker, "alice", "guess-guess-1")
    assert response.status_code == 429
    alice_at_home = Client(REMOTE_ADDR="198.51.100.4")
    assert sign_in(alice_at_home, "alice", "alice-password-1").status_code == 302
    assert signed_in_as(alice_at_home) == "alice"
    assert sign_in(attacker, "alice", "alice-password-1").status_code == 429


def test_a_success_before_the_limit_clears_the_count(client: Client, alice: User) -> None:
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        sign_in(client, "alice", "almost-right-1")
    assert sign_in(client, "alice", "alice-password-1").status_code == 302
    client.post(reverse("account_logout"))
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert sign_in(client, "alice", "almost-right-1").status_code == 200


def test_admin_lockout_after_repeated_wrong_passwords_then_expiry(client: Client, olga: User) -> None:
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        response = admin_sign_in(client, "olga", "not-olgas-password")
        assert (
            response.status_code == 200
            and "Please enter the correct username and password" in response.content.decode()
        )
    response = admin_sign_in(client, "olga", "not-olgas-password")
    assert response.status_code == 429
    page = response.content.decode()
    assert "Try again after" in page and 'href="/admin/login/"' in page

    response = admin_sign_in(client, "olga", "olga-password-1")
    assert response.status_code == 429
    assert client.get("/admin/").status_code == 302  # still signed out

    expire_lockouts()
    response = admin_sign_in(client, "olga", "olga-password-1")
    assert response.status_code == 302 and response["Location"] == "/admin/"
    assert client.get("/admin/").status_code == 200


def test_staff_see_and_lift_lockouts_in_the_admin(client: Client, alice: User, olga_client: Client) -> None:
    for _ in range(settings.AXES_FAILURE_LIMIT):
        response = sign_in(client, "alice", "wrong-wrong-1")
    assert response.status_code == 429
    attempt = AccessAttempt.objects.get(username="alice")

    listing = olga_client.get("/admin/axes/accessattempt/")
    assert listing.status_code == 200 and "alice" in listing.content.decode()
    response = olga_client.post(f"/admin/axes/accessattempt/{attempt.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert sign_in(client, "alice", "alice-password-1").status_code == 302
    assert signed_in_as(client) == "alice"


def test_traders_cannot_open_the_lockout_admin(alice_client: Client) -> None:
    assert alice_client.get("/admin/axes/accessattempt/").status_code == 302  # to the admin login


# ---- passwords ----------------------------------------------------------------------------------


def test_password_reset_by_email(client: Client, alice: User) -> None:
    response = client.post(reverse("account_reset_password"), {"email": "alice@example.org"})
    assert response.status_code == 302
    link = link_in_mail("/accounts/password/reset/key/", to="alice@example.org")
    response = client.get(link)
    assert response.status_code == 302  # allauth moves the key into the session, off the URL
    set_password_url = response["Location"]
    response = client.post(set_password_url, {"password1": "fresh-start-42", "password2": "fresh-start-42"})
    assert response.status_code == 302

    assert sign_in(Client(), "alice", "alice-password-1").status_code == 200  # the old one no longer works
    fresh = Client()
    assert sign_in(fresh, "alice", "fresh-start-42").status_code == 302
    assert signed_in_as(fresh) == "alice"


def test_password_reset_link_works_once(client: Client, alice: User) -> None:
    client.post(reverse("account_reset_password"), {"email": "alice@example.org"})
    link = link_in_mail("/accounts/password/reset/key/", to="alice@example.org")
    set_password_url = client.get(link)["Location"]
    client.post(set_password_url, {"password1": "fresh-start-42", "password2": "fresh-start-42"})
    again = Client()
    response = again.get(link, follow=True)
    assert "Bad Token" in response.content.decode() or "invalid" in response.content.decode().lower()


def test_password_change(alice_client: Client, alice: User) -> None:
    url = reverse("account_change_password")
    wrong = alice_client.post(
        url, {"oldpassword": "not-it-at-all", "password1": "new-pass-4242", "password2": "new-pass-4242"}
    )
    assert wrong.status_code == 200
    alice.refresh_from_db()
    assert alice.check_password("alice-password-1")

    response = alice_client.post(
        url, {"oldpassword": "alice-password-1", "password1": "new-pass-4242", "password2": "new-pass-4242"}
    )
    assert response.status_code == 302
    alice.refresh_from_db()
    assert alice.check_password("new-pass-4242")
    assert signed_in_as(alice_client) == "alice"  # still signed in on this device


# ---- header and sign-out ------------------------------------------------------------------------


def test_header_for_anonymous_visitors(client: Client) -> None:
    page = client.get("/").content.decode()
    assert f'href="{LOGIN}">Sign in</a>' in page
    assert f'href="{reverse("account_signup")}">Sign up</a>' in page
    assert 'class="user-nav"' in page and "Sign out" not in page
    assert 'data-time-zone="UTC"' in page


def test_header_for_a_signed_in_trader(alice_client: Client) -> None:
    page = alice_client.get("/").content.decode()
    assert f'<a href="{reverse("accounts:profile")}" class="user-name">alice</a>' in page
    assert f'<form method="post" action="{reverse("account_logout")}">' in page
    assert 'name="csrfmiddlewaretoken"' in page
    assert "Sign in</a>" not in page


def test_sign_out_needs_a_post(alice_client: Client) -> None:
    confirm = alice_client.get(reverse("account_logout"))
    assert confirm.status_code == 200 and "Sign Out" in confirm.content.decode()
    assert signed_in_as(alice_client) == "alice"
    response = alice_client.post(reverse("account_logout"))
    assert response.status_code == 302 and response["Location"] == "/"
    assert signed_in_as(alice_client) is None


def test_sign_out_form_is_protected_against_cross_site_posts(alice: User) -> None:
    csrf_client = Client(enforce_csrf_checks=True)
    csrf_client.force_login(alice)
    assert csrf_client.post(reverse("account_logout")).status_code == 403
    assert signed_in_as(csrf_client) == "alice"


# ---- the demo admin -----------------------------------------------------------------------------


def test_demo_admin_signs_in_to_the_admin_and_the_site(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LIQ_ADMIN_USER", "demo")
    monkeypatch.setenv("LIQ_ADMIN_PASSWORD", "demo-password-77")
    monkeypatch.delenv("LIQ_ADMIN_EMAIL", raising=False)
    call_command("ensure_demo_admin")
    demo = User.objects.get(username="demo")
    assert demo.is_staff and demo.is_superuser
    address = EmailAddress.objects.get(user=demo)
    assert (address.email, address.verified, address.primary) == ("admin@localhost", True, True)

    admin_client = Client()
    assert admin_sign_in(admin_client, "demo", "demo-password-77")["Location"] == "/admin/"
    site_client = Client()
    assert sign_in(site_client, "demo", "demo-password-77")["Location"] == "/"
    assert signed_in_as(site_client) == "demo"

    # Running it again (every `make run`) keeps the password and the one verified address.
    monkeypatch.setenv("LIQ_ADMIN_PASSWORD", "something-else-88")
    call_command("ensure_demo_admin")
    demo.refresh_from_db()
    assert demo.check_password("demo-password-77")
    assert EmailAddress.objects.filter(user=demo).count() == 1


def test_demo_admin_created_before_emails_were_verified_gets_one(olga: User, monkeypatch: pytest.MonkeyPatch) -> None:
    EmailAddress.objects.filter(user=olga).delete()
    monkeypatch.setenv("LIQ_ADMIN_USER", "olga")
    call_command("ensure_demo_admin")
    address = EmailAddress.objects.get(user=olga)
    assert (address.email, address.verified, address.primary) == ("olga@example.org", True, True)
    client = Client()
    assert sign_in(client, "olga", "olga-password-1")["Location"] == "/"
