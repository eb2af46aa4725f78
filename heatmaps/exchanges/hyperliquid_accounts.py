"""Hyperliquid accounts: their positions with the real liquidation prices, and how to sweep them within the
info API's budget (pure Python and numpy, no Django).

Per the info-endpoint documentation (hyperliquid.gitbook.io/hyperliquid-docs/for-developers/api/info-endpoint):

- ``{"type": "clearinghouseState", "user": "0x…"}`` answers the account's ``assetPositions``, each
  ``{"position": {coin, szi, entryPx, positionValue, liquidationPx, leverage, …}}``: ``szi`` is the signed size in
  the coin (negative: short), ``positionValue`` its USD value, ``liquidationPx`` the price at which it is
  liquidated — ``null`` where the account's other holdings cover it (hedged or tiny accounts). Weight 2.
- The ``trades`` websocket channel (``{"method": "subscribe", "subscription": {"type": "trades", "coin": "BTC"}}``)
  pushes trades whose ``users`` are ``[buyer, seller]``: every address trading the coin shows up there.
- The public leaderboard (``stats-data.hyperliquid.xyz/Mainnet/leaderboard``) lists ``leaderboardRows`` of
  ``{ethAddress, accountValue, …}``.
- Every IP may spend 1 200 weight a minute on info requests.

Public data only: no keys, no private endpoints.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, Literal

import numpy as np

from heatmaps.exchanges.base import Fields
from heatmaps.exchanges.http import HttpClient
from heatmaps.exchanges.hyperliquid import CODE, INFO, HyperliquidConnector
from heatmaps.exchanges.ratelimit import DEFAULT_BUCKET

CLEARINGHOUSE = "info clearinghouseState"
TRADES = "ws trades"
LEADERBOARD = "leaderboard"
CLEARINGHOUSE_WEIGHT = 2
MINUTE_MS = 60_000
HOT_EVERY_MS = MINUTE_MS  # a position near its liquidation price: every minute
COLD_EVERY_MS = 15 * MINUTE_MS  # the rest: every 15 minutes
HOT_DISTANCE = 0.25  # within ±25 % of its liquidation price

ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")
Side = Literal["long", "short"]


def is_address(value: Any) -> bool:
    return isinstance(value, str) and bool(ADDRESS.match(value))


def normal_address(value: str) -> str:
    """Addresses compare case-insensitively; they are kept in lower case."""
    return value.lower()


# --------------------------------------------------------------------------- parsers (pure)


@dataclass(frozen=True, slots=True)
class AccountPosition:
    """One open position of one account, as ``clearinghouseState`` reports it."""

    user: str
    coin: str
    side: Side
    size: float  # in the coin, positive
    entry_price: float | None
    notional_usd: float  # positionValue
    liquidation_price: float | None  # None: the venue gives none (hedged or tiny account)
    leverage: float | None


@dataclass(frozen=True, slots=True)
class AccountState:
    user: str
    time_ms: int | None
    positions: list[AccountPosition]


def parse_clearinghouse_state(payload: Any, *, user: str, endpoint: str = CLEARINGHOUSE) -> AccountState:
    """``clearinghouseState`` → the account's open positions (a zero ``szi`` is no position)."""
    f = Fields(CODE, endpoint)
    state = f.dict_(payload, "response")
    out = []
    for i, item in enumerate(f.list_(state.get("assetPositions", []), "assetPositions")):
        pos = f.dict_(f.key(f.dict_(item, f"assetPositions[{i}]"), "position", f"assetPositions[{i}]"), "position")
        where = f"assetPositions[{i}].position"
        szi = f.req_num(f.key(pos, "szi", where), f"{where}.szi")
        if szi == 0:
            continue
        notional = f.req_num(f.key(pos, "positionValue", where), f"{where}.positionValue")
        if notional < 0:
            raise f.bad(f"{where}.positionValue {notional} is negative")
        liq = f.num(pos.get("liquidationPx"), f"{where}.liquidationPx", allow_empty=True)
        if liq is not None and liq <= 0:
            liq = None  # a liquidation price at or below zero is none a price can reach
        lev = pos.get("leverage")
        out.append(
            AccountPosition(
                user=user,
                coin=str(f.key(pos, "coin", where)),
                side="long" if szi > 0 else "short",
                size=abs(szi),
                entry_price=f.num(pos.get("entryPx"), f"{where}.entryPx", allow_empty=True),
                notional_usd=notional,
                liquidation_price=liq,
                leverage=f.num(lev.get("value"), f"{where}.leverage.value", allow_empty=True)
                if isinstance(lev, dict)
                else None,
            )
        )
    stamp = state.get("time")
    return AccountState(user=user, time_ms=f.ms(stamp, "time") if stamp is not None else None, positions=out)


def parse_trade_users(frame: str | bytes | dict[str, Any]) -> set[str]:
    """The addresses named by a ``trades`` push (buyer and seller of each trade), in lower case; other frames
    (subscription acks, pongs) name none. Values that are not addresses are skipped."""
    if isinstance(frame, bytes):
        frame = frame.decode("utf-8", "replace")
    if isinstance(frame, str):
        try:
            frame = json.loads(frame)
        except json.JSONDecodeError:
            return set()
    if not isinstance(frame, dict) or frame.get("channel") != "trades" or not isinstance(frame.get("data"), list):
        return set()
    seen = set()
    for trade in frame["data"]:
        users = trade.get("users") if isinstance(trade, dict) else None
        for u in users if isinstance(users, list) else []:
            if is_address(u):
                seen.add(normal_address(u))
    return seen


def trades_subscribe(coins: Sequence[str]) -> list[dict[str, Any]]:
    return [{"method": "subscribe", "subscription": {"type": "trades", "coin": c}} for c in coins]


def parse_leaderboard(payload: Any, *, endpoint: str = LEADERBOARD) -> list[str]:
    """``{"leaderboardRows": [{"ethAddress": …}, …]}`` → the addresses, in lower case and in order."""
    f = Fields(CODE, endpoint)
    rows = f.list_(f.key(f.dict_(payload, "response"), "leaderboardRows", "response"), "leaderboardRows")
    out = []
    for row in rows:
        addr = row.get("ethAddress") if isinstance(row, dict) else None
        if isinstance(addr, str) and is_address(addr):
            out.append(normal_address(addr))
    return list(dict.fromkeys(out))


# --------------------------------------------------------------------------- the sweep's plan (pure)


@dataclass(frozen=True, slots=True)
class Tracked:
    """An account as the sweep sees it: when it was last read and whether it is in the hot tier."""

    address: str
    last_swept_ms: int | None
    hot: bool


def near_liquidation(positions: Iterable[AccountPosition], marks: dict[str, float]) -> bool:
    """Hot: some position's mark price is within ±25 % of its liquidation price."""
    for p in positions:
        mark = marks.get(p.coin)
        if p.liquidation_price is not None and mark and abs(mark - p.liquidation_price) <= HOT_DISTANCE * mark:
            return True
    return False


def accounts_per_minute(budget_weight_per_minute: int) -> int:
    """How many accounts a minute's weight reads (2 each)."""
    return max(0, budget_weight_per_minute // CLEARINGHOUSE_WEIGHT)


def plan_sweep(accounts: Sequence[Tracked], *, now_ms: int, budget_weight: int) -> list[str]:
    """The accounts to read now, within ``budget_weight``: first the hot tier whose minute is up, then accounts
    never read, then the rest whose 15 minutes are up, each group most overdue first. The hot tier goes first
    because a position near its liquidation price is the one a stale read misplaces; an account not yet due
    waits."""
    due: list[tuple[int, float, str]] = []
    for a in accounts:
        if a.last_swept_ms is None:
            due.append((1, 0.0, a.address))
            continue
        every = HOT_EVERY_MS if a.hot else COLD_EVERY_MS
        overdue = now_ms - a.last_swept_ms - every
        if overdue >= 0:
            due.append((0 if a.hot else 2, -overdue, a.address))
    due.sort()
    return [address for _, _, address in due[: accounts_per_minute(budget_weight)]]


# --------------------------------------------------------------------------- the measured map (pure)


@dataclass(frozen=True, slots=True)
class MeasuredLayer:
    """The measured positions of one coin on a price axis: USD at real liquidation prices, and how much of the
    venue's open interest they are."""

    edges: np.ndarray  # price bin edges, len = bins + 1
    long_usd: np.ndarray  # long positions liquidated in each bin
    short_usd: np.ndarray
    observed_long_usd: float  # measured notional of the coin's longs, with or without a liquidation price
    observed_short_usd: float
    placed_usd: float  # the part with a liquidation price (what the bins hold, inside the axis or not)
    outside_usd: float  # placed but beyond the axis
    without_price: int  # positions skipped for a null liquidationPx
    venue_oi_usd: float | None

    @property
    def coverage(self) -> float | None:
        """Observed notional ÷ all position notional on the venue. Open interest counts each contract once and
        every contract has a long and a short holder, so all positions together hold twice the open interest."""
        if not self.venue_oi_usd:
            return None
        return (self.observed_long_usd + self.observed_short_usd) / (2 * self.venue_oi_usd)

    def side_coverage(self, side: Side) -> float | None:
        """The longs (or shorts) observed ÷ the open interest: each side holds all of it."""
        if not self.venue_oi_usd:
            return None
        return (self.observed_long_usd if side == "long" else self.observed_short_usd) / self.venue_oi_usd


def measured_layer(
    positions: Iterable[AccountPosition], *, coin: str, edges: np.ndarray, venue_oi_usd: float | None
) -> MeasuredLayer:
    """Bin each position of ``coin`` by its liquidation price (a position without one is counted, not placed)."""
    edges = np.asarray(edges, dtype=np.float64)
    bins = len(edges) - 1
    long_usd, short_usd = np.zeros(bins), np.zeros(bins)
    observed_long = observed_short = placed = outside = 0.0
    without = 0
    for p in positions:
        if p.coin != coin:
            continue
        if p.side == "long":
            observed_long += p.notional_usd
        else:
            observed_short += p.notional_usd
        if p.liquidation_price is None:
            without += 1
            continue
        placed += p.notional_usd
        k = int(np.searchsorted(edges, p.liquidation_price, side="right")) - 1
        if not 0 <= k < bins:
            outside += p.notional_usd
            continue
        (long_usd if p.side == "long" else short_usd)[k] += p.notional_usd
    return MeasuredLayer(
        edges=edges,
        long_usd=long_usd,
        short_usd=short_usd,
        observed_long_usd=observed_long,
        observed_short_usd=observed_short,
        placed_usd=placed,
        outside_usd=outside,
        without_price=without,
        venue_oi_usd=venue_oi_usd,
    )


# --------------------------------------------------------------------------- requests


def fetch_account_state(conn: HyperliquidConnector, user: str) -> AccountState:
    """One ``clearinghouseState`` (weight 2) through the connector's client and shared budget."""
    return conn.http.post(
        INFO,
        {"type": "clearinghouseState", "user": user},
        parse=partial(parse_clearinghouse_state, user=user),
        costs={DEFAULT_BUCKET: CLEARINGHOUSE_WEIGHT},
        endpoint=CLEARINGHOUSE,
    )


def fetch_leaderboard(http: HttpClient, path: str = "/Mainnet/leaderboard") -> list[str]:
    """The leaderboard's addresses (a plain GET on its own host; it costs no info-API weight)."""
    return http.get(path, parse=parse_leaderboard, endpoint=LEADERBOARD)
