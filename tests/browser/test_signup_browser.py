from __future__ import annotations

import re
from typing import Any

import pytest
from allauth.account.models import EmailAddress

from accounts.models import User
from tests.accounts.helpers import link_in_mail

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("isolated_cache")]


def test_trader_signs_up_verifies_and_signs_in(live_server: Any, page: Any) -> None:
    page.goto(f"{live_server.url}/")
    page.click("text=Sign up")
    page.fill("#id_email", "erin@example.org")
    page.fill("#id_username", "erin")
    page.fill("#id_password1", "heat-map-erin-7")
    page.fill("#id_password2", "heat-map-erin-7")
    page.click("form[action='/accounts/signup/'] button[type=submit]")
    page.wait_for_url(re.compile(r"/accounts/confirm-email/$"))
    assert "erin" not in page.locator("header").inner_text()

    # live_server runs in this process, so the verification email is in the test mailbox.
    link = link_in_mail("/accounts/confirm-email/", to="erin@example.org")
    page.goto(f"{live_server.url}{link}")
    page.click("main form button[type=submit]")
    page.wait_for_url(re.compile(r"/accounts/login/$"))
    assert EmailAddress.objects.get(user__username="erin").verified

    page.fill("#id_login", "erin")
    page.fill("#id_password", "heat-map-erin-7")
    page.click("form[action='/accounts/login/'] button[type=submit]")
    page.wait_for_url(f"{live_server.url}/")
    header = page.locator("header .user-nav")
    assert header.locator("a.user-name").inner_text() == "erin"
    assert header.locator("button", has_text="Sign out").is_visible()
    assert page.locator("body").get_attribute("data-time-zone") == "UTC"

    # The profile is one click away; a new zone shows at once.
    header.locator("a.user-name").click()
    page.wait_for_url(re.compile(r"/account/profile/$"))
    page.fill("#id_time_zone", "Europe/Berlin")
    page.select_option("#id_default_timeframe", "1w")
    page.click("main form button[type=submit]")
    assert page.locator(".messages").inner_text().strip() == "Profile saved."
    assert page.locator("body").get_attribute("data-time-zone") == "Europe/Berlin"
    assert User.objects.get(username="erin").default_timeframe == "1w"

    header.locator("button", has_text="Sign out").click()
    page.wait_for_url(f"{live_server.url}/")
    assert " ".join(page.locator("header .user-nav").inner_text().split()) == "Sign in · Sign up"
    assert "You have signed out." in page.locator(".messages").inner_text()
