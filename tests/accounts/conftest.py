"""Fixtures for the personal side's tests: a few more assets."""

from __future__ import annotations

import pytest

from heatmaps.models import Asset, Exchange


@pytest.fixture(autouse=True)
def _fresh_cache(isolated_cache: None) -> None:
    pass


@pytest.fixture
def sol(binance: Exchange) -> Asset:
    return Asset.objects.create(
        symbol="SOLUSDT", display_name="Solana perpetual", base="SOL", quote="USDT", reference_exchange=binance
    )


@pytest.fixture
def delisted(binance: Exchange) -> Asset:
    """An asset an operator has disabled: nobody may add it to anything."""
    return Asset.objects.create(
        symbol="LUNAUSDT", display_name="Luna", base="LUNA", quote="USDT", reference_exchange=binance, enabled=False
    )
