"""The measured Hyperliquid layer: which accounts to follow, the sweep that reads their positions within the
info API's budget, and the measured map of an asset with its coverage of the venue's open interest.

Accounts come from the public trades stream (both sides of every trade), the public leaderboard, and
operators. A sweep reads the accounts that are due (near their liquidation price: every minute; the rest:
every 15 minutes) up to ``LIQ_HYPERLIQUID_SWEEP_WEIGHT`` a minute, and replaces each account's stored positions
with what it read.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from heatmaps.exchanges import ExchangeError, HttpClient, HyperliquidConnector, default_symbol, wall_clock_ms
from heatmaps.exchanges.hyperliquid import BASE_WEIGHT
from heatmaps.exchanges.hyperliquid_accounts import (
    AccountPosition,
    MeasuredLayer,
    Tracked,
    fetch_account_state,
    fetch_leaderboard,
    is_address,
    measured_layer,
    near_liquidation,
    normal_address,
    parse_trade_users,
    plan_sweep,
    trades_subscribe,
)
from heatmaps.ingest.fetch import connector_for
from heatmaps.marketdata import dt_to_ms, ms_to_dt
from heatmaps.models import Asset, Exchange, HyperliquidAccount, MeasuredPosition, OpenInterest, VenueSymbol

log = logging.getLogger(__name__)


# --------------------------------------------------------------------------- accounts


def track_accounts(addresses: Iterable[str], *, source: str) -> int:
    """Follow these addresses (anything that is not an address is skipped); returns how many are new. An address
    already followed keeps its first source."""
    rows = {
        normal_address(a): HyperliquidAccount(address=normal_address(a), source=source, added_at=timezone.now())
        for a in addresses
        if is_address(a)
    }
    if not rows:
        return 0
    known = set(HyperliquidAccount.objects.filter(address__in=rows).values_list("address", flat=True))
    HyperliquidAccount.objects.bulk_create([r for a, r in rows.items() if a not in known], ignore_conflicts=True)
    return len(set(rows) - known)


def leaderboard_accounts(*, http: HttpClient | None = None) -> int:
    """Follow every address on the public leaderboard."""
    client = http or HttpClient(
        "hyperliquid", settings.LIQ_HYPERLIQUID_LEADERBOARD_URL, timeout=settings.LIQ_HTTP_TIMEOUT
    )
    try:
        return track_accounts(fetch_leaderboard(client), source=HyperliquidAccount.Source.LEADERBOARD)
    finally:
        if http is None:
            client.close()


async def collect_trade_accounts(
    url: str, coins: Sequence[str], *, seconds: float, connect: Callable[..., Any] | None = None
) -> set[str]:
    """Listen to the trades of ``coins`` for ``seconds`` and return every address that bought or sold."""
    if connect is None:
        from websockets.asyncio.client import connect as ws_connect

        connect = ws_connect
    seen: set[str] = set()
    deadline = time.monotonic() + seconds
    async with connect(url, open_timeout=10, ping_interval=20, ping_timeout=20, close_timeout=2) as ws:
        for message in trades_subscribe(coins):
            await ws.send(json.dumps(message))
        while (left := deadline - time.monotonic()) > 0:
            try:
                frame = await asyncio.wait_for(ws.recv(), timeout=left)
            except TimeoutError:
                break
            seen |= parse_trade_users(frame)
    return seen


def hyperliquid_coins() -> list[str]:
    """The coins of the enabled assets that are on Hyperliquid, by their Hyperliquid name."""
    exchange = Exchange.objects.filter(code="hyperliquid").first()
    if exchange is None:
        return []
    return sorted({_coin(asset, exchange) for asset in Asset.objects.filter(enabled=True, exchanges=exchange)})


def _coin(asset: Asset, exchange: Exchange) -> str:
    mapped = VenueSymbol.objects.filter(asset=asset, exchange=exchange).values_list("symbol", flat=True).first()
    return mapped or default_symbol("hyperliquid", asset.base, asset.quote)


def asset_coin(asset: Asset) -> str:
    """Hyperliquid's name for the asset (its VenueSymbol, else the convention: BTC for BTCUSDT)."""
    return _coin(asset, Exchange.get_supported("hyperliquid"))


# --------------------------------------------------------------------------- the sweep


@dataclass
class SweepResult:
    accounts: int = 0  # accounts read
    weight: int = 0  # info-API weight spent (the asset contexts and the accounts)
    positions: int = 0  # open positions stored
    without_liquidation_price: int = 0  # of those, with a null liquidationPx (skipped from the map, counted)
    hot: int = 0  # accounts now in the hot tier
    failed: list[str] = field(default_factory=list)  # addresses whose read failed (tried again next sweep)


def sweep(
    *,
    connector: HyperliquidConnector | None = None,
    now_ms: int | None = None,
    budget_weight: int | None = None,
) -> SweepResult:
    """Read the accounts that are due, within ``budget_weight`` (default ``LIQ_HYPERLIQUID_SWEEP_WEIGHT``): one
    ``metaAndAssetCtxs`` for the mark prices (which decide the hot tier), then 2 a ``clearinghouseState``."""
    now_ms = now_ms if now_ms is not None else wall_clock_ms()
    budget = budget_weight if budget_weight is not None else settings.LIQ_HYPERLIQUID_SWEEP_WEIGHT
    accounts = [
        Tracked(a.address, dt_to_ms(a.last_swept_at) if a.last_swept_at else None, a.hot)
        for a in HyperliquidAccount.objects.filter(enabled=True)
    ]
    plan = plan_sweep(accounts, now_ms=now_ms, budget_weight=budget - BASE_WEIGHT)
    result = SweepResult()
    if not plan:
        return result
    exchange = Exchange.get_supported("hyperliquid")
    conn: Any = connector or connector_for(exchange)
    try:
        marks = {c.coin: c.mark_price for c in conn.fetch_asset_contexts().values() if c.mark_price}
        result.weight += BASE_WEIGHT
        for address in plan:
            try:
                state = fetch_account_state(conn, address)
            except ExchangeError as exc:
                log.warning("hyperliquid sweep: %s not read: %s", address, exc)
                result.failed.append(address)
                continue
            finally:
                result.weight += 2
            _store_account(address, state.positions, marks=marks, now_ms=now_ms)
            result.accounts += 1
            result.positions += len(state.positions)
            result.without_liquidation_price += sum(p.liquidation_price is None for p in state.positions)
    finally:
        if connector is None:
            conn.close()
    result.hot = HyperliquidAccount.objects.filter(enabled=True, hot=True).count()
    log.info(
        "hyperliquid sweep: %d accounts, weight %d of %d, %d positions (%d without a liquidation price), %d hot",
        result.accounts, result.weight, budget, result.positions, result.without_liquidation_price, result.hot,
    )  # fmt: skip
    return result


@transaction.atomic
def _store_account(address: str, positions: list[AccountPosition], *, marks: dict[str, float], now_ms: int) -> None:
    account = HyperliquidAccount.objects.select_for_update().get(address=address)
    swept_at = ms_to_dt(now_ms)
    MeasuredPosition.objects.filter(account=account).delete()
    MeasuredPosition.objects.bulk_create(
        MeasuredPosition(
            account=account, coin=p.coin, side=p.side, size=p.size, entry_price=p.entry_price,
            notional_usd=p.notional_usd, liquidation_price=p.liquidation_price, leverage=p.leverage, swept_at=swept_at,
        )
        for p in positions
    )  # fmt: skip
    account.last_swept_at = swept_at
    account.hot = near_liquidation(positions, marks)
    account.open_positions = len(positions)
    account.without_liquidation_price = sum(p.liquidation_price is None for p in positions)
    account.save(update_fields=["last_swept_at", "hot", "open_positions", "without_liquidation_price"])


# --------------------------------------------------------------------------- the measured map


def stored_positions(coin: str) -> list[AccountPosition]:
    return [
        AccountPosition(a, coin, side, size, entry, notional, liq, lev)  # type: ignore[arg-type]
        for a, side, size, entry, notional, liq, lev in MeasuredPosition.objects.filter(
            coin=coin, account__enabled=True
        ).values_list(
            "account__address", "side", "size", "entry_price", "notional_usd", "liquidation_price", "leverage"
        )
    ]


def venue_open_interest_usd(asset: Asset) -> float | None:
    """Hyperliquid's open interest of the asset in USD, as last stored by ingest."""
    exchange = Exchange.objects.filter(code="hyperliquid").first()
    if exchange is None:
        return None
    value = (
        OpenInterest.objects.filter(asset=asset, exchange=exchange, oi_value__isnull=False)
        .order_by("-time")
        .values_list("oi_value", flat=True)
        .first()
    )
    return float(value) if value is not None else None


def measured_for_asset(asset: Asset, *, edges: np.ndarray) -> MeasuredLayer:
    """The measured positions of the asset's Hyperliquid coin binned on ``edges``, with their coverage of the
    venue's open interest."""
    exchange = Exchange.get_supported("hyperliquid")
    coin = _coin(asset, exchange)
    return measured_layer(stored_positions(coin), coin=coin, edges=edges, venue_oi_usd=venue_open_interest_usd(asset))


__all__ = [
    "SweepResult",
    "asset_coin",
    "collect_trade_accounts",
    "hyperliquid_coins",
    "leaderboard_accounts",
    "measured_for_asset",
    "stored_positions",
    "sweep",
    "track_accounts",
    "venue_open_interest_usd",
]
