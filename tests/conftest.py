"""Shared fixtures: the cast of test users and the market objects every test starts from."""

from __future__ import annotations

import pytest
from django.test import Client

from accounts.models import User
from heatmaps.models import Asset, Exchange


@pytest.fixture
def binance(db: None) -> Exchange:
    return Exchange.objects.get(code="binance")


@pytest.fixture
def btc(binance: Exchange) -> Asset:
    asset = Asset.objects.create(
        symbol="BTCUSDT", display_name="Bitcoin perpetual", base="BTC", quote="USDT", reference_exchange=binance
    )
    asset.exchanges.add(binance)
    return asset


@pytest.fixture
def alice(db: None) -> User:
    """Alice runs the platform: a staff superuser."""
    return User.objects.create_superuser("alice", "alice@example.org", "alice-password-1")


@pytest.fixture
def bob(db: None) -> User:
    """Bob is a trader with an ordinary account."""
    return User.objects.create_user("bob", "bob@example.org", "bob-password-1")


@pytest.fixture
def alice_client(alice: User) -> Client:
    client = Client()
    client.force_login(alice)
    return client


@pytest.fixture
def bob_client(bob: User) -> Client:
    client = Client()
    client.force_login(bob)
    return client
