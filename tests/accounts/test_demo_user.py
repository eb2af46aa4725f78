"""`ensure_demo_user`: a demo trader with a watchlist and two annotations, created once."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command
from django.test import Client

from accounts.models import Annotation, User, Watchlist
from heatmaps.models import Asset, Candle, Exchange

pytestmark = pytest.mark.django_db


def test_demo_trader_is_created_once_with_a_list_and_two_annotations(
    btc: Asset, eth: Asset, binance: Exchange, monkeypatch: pytest.MonkeyPatch
) -> None:
    Candle.objects.create(
        asset=btc, exchange=binance, open_time="2026-01-29T17:05Z", open=85_000, high=85_200, low=84_900, close=85_085.7
    )
    monkeypatch.setenv("LIQ_DEMO_PASSWORD", "demo-secret-42")
    out = StringIO()
    call_command("ensure_demo_user", stdout=out)
    assert "user 'demo', password 'demo-secret-42'" in out.getvalue()
    demo = User.objects.get(username="demo")
    assert demo.check_password("demo-secret-42") and not demo.is_staff
    majors = Watchlist.objects.get(user=demo)
    assert (majors.name, [i.asset.symbol for i in majors.items.all()]) == ("Majors", ["BTCUSDT", "ETHUSDT"])
    level, zone = Annotation.objects.filter(user=demo).order_by("kind")
    assert (level.kind, zone.kind) == ("level", "zone")
    assert 0.95 * 85_085.7 < level.price < 85_085.7 < zone.price < zone.price_high  # type: ignore[operator]

    # Verified, so the site's mandatory email verification lets the demo trader in at once.
    client = Client()
    response = client.post("/accounts/login/", {"login": "demo", "password": "demo-secret-42"})
    assert response.status_code == 302 and client.session.get("_auth_user_id") == str(demo.pk)

    call_command("ensure_demo_user", stdout=StringIO())
    assert User.objects.filter(username="demo").count() == 1
    assert Watchlist.objects.count() == 1 and Annotation.objects.count() == 2
