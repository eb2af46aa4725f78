"""The measured Hyperliquid layer: account positions with their real liquidation prices, the sweep within the
info API's budget (hot tier every minute, the rest every 15), accounts from the trades stream and the
leaderboard, and the coverage of the venue's open interest computed exactly on a known account set."""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from django.core.management import call_command

from heatmaps.exchanges import HttpClient, HyperliquidConnector, get_connector
from heatmaps.exchanges.hyperliquid_accounts import (
    AccountPosition,
    Tracked,
    accounts_per_minute,
    measured_layer,
    near_liquidation,
    parse_clearinghouse_state,
    parse_leaderboard,
    parse_trade_users,
    plan_sweep,
)
from heatmaps.ingest.hyperliquid_sweep import (
    collect_trade_accounts,
    leaderboard_accounts,
    measured_for_asset,
    sweep,
    track_accounts,
)
from heatmaps.marketdata import ms_to_dt
from heatmaps.models import Asset, Exchange, HyperliquidAccount, MeasuredPosition, OpenInterest
from tests.heatmaps.exchanges.fake_exchange import Series
from tests.heatmaps.exchanges.fake_venues import FakeVenues
from tests.heatmaps.exchanges.fake_ws import FakeWsServer

FIXTURES = Path(__file__).parent / "fixtures"
MIN = 60_000


def load(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


def address(i: int) -> str:
    return f"0x{i:040x}"


# --------------------------------------------------------------------------- parsers and plan (no database)


def test_recorded_clearinghouse_state_is_one_long_with_its_liquidation_price() -> None:
    state = parse_clearinghouse_state(load("hyperliquid_clearinghouse_state_nautilus.json"), user=address(1))
    assert state.time_ms == 1784050800000
    assert state.positions == [AccountPosition(address(1), "BTC", "long", 0.1, 98450.0, 9845.0, 80000.0, 5.0)]
    # 0.1 BTC at 98 450 is the positionValue; 5x long: liquidated about a fifth below entry.
    (p,) = state.positions
    assert p.size * (p.entry_price or 0) == pytest.approx(p.notional_usd)
    assert p.liquidation_price is not None and 0.75 < p.liquidation_price / (p.entry_price or 1) < 0.85
    assert (
        parse_clearinghouse_state(load("hyperliquid_clearinghouse_state_flat_nautilus.json"), user="x").positions == []
    )


def test_a_short_and_a_null_liquidation_price() -> None:
    payload = load("hyperliquid_clearinghouse_state_nautilus.json")
    short = json.loads(json.dumps(payload["assetPositions"][0]))
    short["position"].update(coin="ETH", szi="-2.5", liquidationPx=None, positionValue="8000.0")
    payload["assetPositions"].append(short)
    (btc, eth) = parse_clearinghouse_state(payload, user="u").positions
    assert (eth.side, eth.size, eth.liquidation_price, eth.notional_usd) == ("short", 2.5, None, 8000.0)
    assert btc.side == "long"


def test_trade_users_are_both_sides_and_only_addresses() -> None:
    recorded = load("hyperliquid_recent_trades_nautilus.json")
    # The recorded trades name placeholder users ("0xbuyer1"), which are no addresses: none is followed.
    assert parse_trade_users({"channel": "trades", "data": recorded}) == set()
    real = [
        {**t, "users": [address(2 * k + 1).upper().replace("0X", "0x"), address(2 * k + 2)]}
        for k, t in enumerate(recorded)
    ]
    frame = json.dumps({"channel": "trades", "data": real})
    assert parse_trade_users(frame) == {address(i) for i in range(1, 7)}  # lower case, buyer and seller
    assert parse_trade_users('{"channel": "subscriptionResponse", "data": {}}') == set()


def test_leaderboard_addresses() -> None:
    rows = {"leaderboardRows": [{"ethAddress": address(5)}, {"ethAddress": "nope"}, {"ethAddress": address(5)}]}
    assert parse_leaderboard(rows) == [address(5)]


def test_near_liquidation_is_within_a_quarter_of_the_mark() -> None:
    def pos(liq: float | None) -> AccountPosition:
        return AccountPosition("u", "BTC", "long", 1.0, 100.0, 100.0, liq, 5.0)

    assert near_liquidation([pos(76.0)], {"BTC": 100.0}) and near_liquidation([pos(125.0)], {"BTC": 100.0})
    assert not near_liquidation([pos(74.0)], {"BTC": 100.0})
    assert not near_liquidation([pos(None)], {"BTC": 100.0}) and not near_liquidation([pos(90.0)], {"ETH": 100.0})


def test_plan_never_exceeds_the_budget_and_keeps_the_tiers() -> None:
    now = 10_000 * MIN
    accounts = [Tracked(address(i), now - 61_000, hot=True) for i in range(50)]  # hot, due
    accounts += [Tracked(address(100 + i), now - 5 * MIN, hot=False) for i in range(50)]  # cold, not due
    accounts += [Tracked(address(200 + i), now - 16 * MIN, hot=False) for i in range(50)]  # cold, due
    accounts += [Tracked(address(300 + i), None, hot=False) for i in range(10)]  # never read
    for budget in (0, 1, 2, 21, 100, 1000):
        plan = plan_sweep(accounts, now_ms=now, budget_weight=budget)
        assert 2 * len(plan) <= budget and len(plan) == min(accounts_per_minute(budget), 110)
        assert not {address(100 + i) for i in range(50)} & set(plan)  # a cold account inside its 15 minutes waits
    plan = plan_sweep(accounts, now_ms=now, budget_weight=2 * 65)
    assert set(plan[:50]) == {address(i) for i in range(50)}  # the hot tier first
    assert plan[50:60] == [address(300 + i) for i in range(10)]  # then accounts never read
    assert plan[60:] == [address(200 + i) for i in range(5)]  # then cold ones past their 15 minutes
    assert plan_sweep(accounts, now_ms=now, budget_weight=40) == plan[:20]
    assert accounts_per_minute(1200) == 600


def test_coverage_is_exact_on_a_known_account_set() -> None:
    positions = [
        AccountPosition("a", "BTC", "long", 1.0, 100.0, 300_000.0, 80.0, 5.0),
        AccountPosition("b", "BTC", "long", 1.0, 100.0, 100_000.0, None, 5.0),  # counted, not placed
        AccountPosition("c", "BTC", "short", 1.0, 100.0, 200_000.0, 130.0, 5.0),
        AccountPosition("d", "BTC", "short", 1.0, 100.0, 50_000.0, 400.0, 5.0),  # placed beyond the axis
        AccountPosition("e", "ETH", "long", 1.0, 100.0, 9e9, 80.0, 5.0),  # another coin
    ]
    edges = np.linspace(50.0, 150.0, 11)  # bins of 10
    layer = measured_layer(positions, coin="BTC", edges=edges, venue_oi_usd=1_000_000.0)
    assert (layer.observed_long_usd, layer.observed_short_usd) == (400_000.0, 250_000.0)
    assert layer.coverage == (400_000 + 250_000) / 2_000_000  # all positions hold twice the open interest
    assert (layer.side_coverage("long"), layer.side_coverage("short")) == (0.4, 0.25)
    assert layer.long_usd[3] == 300_000.0 and layer.long_usd.sum() == 300_000.0  # 80 is in [80, 90)
    assert layer.short_usd[8] == 200_000.0 and layer.short_usd.sum() == 200_000.0  # 130 is in [130, 140)
    assert (layer.placed_usd, layer.outside_usd, layer.without_price) == (550_000.0, 50_000.0, 1)
    assert measured_layer(positions, coin="BTC", edges=edges, venue_oi_usd=None).coverage is None


# --------------------------------------------------------------------------- the sweep (PostgreSQL)


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeVenues]:
    with FakeVenues(Series(bars=2016)) as fx:
        yield fx


@pytest.fixture
def accounts(fake: FakeVenues) -> Iterator[dict[str, Any]]:
    """30 accounts: 10 longs (even ones near liquidation, odd far), 10 shorts far away, 5 longs without a
    liquidation price, 5 empty."""
    mark = fake.series.bar(fake.current_index()).close
    fake.hl_accounts.clear()
    fake.hl_account_reads.clear()
    for i in range(10):
        liq = mark * (0.8 if i % 2 == 0 else 0.5)
        fake.hl_accounts[address(i)] = {
            "assetPositions": [fake.hl_position("BTC", 0.1 * (i + 1), 10_000.0 * (i + 1), liq)]
        }
    for i in range(10, 20):
        fake.hl_accounts[address(i)] = {"assetPositions": [fake.hl_position("BTC", -0.2, 5_000.0, mark * 1.5)]}
    for i in range(20, 25):
        fake.hl_accounts[address(i)] = {"assetPositions": [fake.hl_position("BTC", 0.05, 1_000.0, None)]}
    yield {"mark": mark}
    fake.hl_accounts.clear()


@pytest.mark.django_db
def test_sweep_reads_due_accounts_within_the_budget_and_stores_real_positions(
    fake: FakeVenues, accounts: dict[str, Any]
) -> None:
    assert track_accounts([address(i) for i in range(30)] + ["0x12", "not an address"], source="operator") == 30
    assert track_accounts([address(0).upper().replace("0X", "0x")], source="trades") == 0  # the same, in capitals
    conn = get_connector("hyperliquid", base_url=fake.base_url, now_ms=lambda: fake.now_ms, sleep=lambda _s: None)
    assert isinstance(conn, HyperliquidConnector)
    t0 = fake.now_ms
    budget = 20 + 2 * 12  # the asset contexts and 12 accounts
    runs = [sweep(connector=conn, now_ms=t0 + k * 1000, budget_weight=budget) for k in range(3)]
    assert [r.accounts for r in runs] == [12, 12, 6] and all(r.weight <= budget for r in runs)
    assert sorted(fake.hl_account_reads) == sorted(address(i) for i in range(30))  # each read once
    assert MeasuredPosition.objects.count() == 25
    assert sum(r.without_liquidation_price for r in runs) == 5
    hot = set(HyperliquidAccount.objects.filter(hot=True).values_list("address", flat=True))
    assert hot == {address(i) for i in range(0, 10, 2)}  # liquidation 20 % below the mark
    stored = MeasuredPosition.objects.get(account__address=address(3))
    assert (stored.side, stored.size, stored.notional_usd) == ("long", pytest.approx(0.4), 40_000.0)
    assert stored.liquidation_price == pytest.approx(accounts["mark"] * 0.5)

    # A minute later only the hot tier is due; the others wait their 15 minutes.
    fake.hl_account_reads.clear()
    minute = sweep(connector=conn, now_ms=t0 + 2000 + MIN, budget_weight=budget)
    assert minute.accounts == 5 and set(fake.hl_account_reads) == hot
    # An account that closed its position is emptied at its next read.
    fake.hl_accounts[address(0)] = {"assetPositions": []}
    fake.hl_account_reads.clear()
    later = sweep(connector=conn, now_ms=t0 + 2000 + 15 * MIN + 1000, budget_weight=budget)
    assert later.accounts == 12 and set(fake.hl_account_reads[:5]) == hot  # the hot tier first
    assert not MeasuredPosition.objects.filter(account__address=address(0)).exists()
    assert HyperliquidAccount.objects.get(address=address(0)).hot is False
    conn.close()


@pytest.mark.django_db
def test_measured_map_and_coverage_of_the_venues_open_interest(fake: FakeVenues, accounts: dict[str, Any]) -> None:
    hyper = Exchange.get_supported("hyperliquid")
    asset = Asset.objects.create(symbol="BTCUSDT", display_name="Bitcoin", base="BTC", reference_exchange=hyper)
    asset.exchanges.add(hyper)
    track_accounts([address(i) for i in range(30)], source="operator")
    conn = get_connector("hyperliquid", base_url=fake.base_url, now_ms=lambda: fake.now_ms)
    assert isinstance(conn, HyperliquidConnector)
    sweep(connector=conn, now_ms=fake.now_ms, budget_weight=20 + 60)
    conn.close()
    # Longs: 10 000 × (1 + … + 10) placed and 5 × 1 000 without a price; shorts: 10 × 5 000.
    long_usd, short_usd = 550_000.0 + 5_000.0, 50_000.0
    OpenInterest.objects.create(
        asset=asset, exchange=hyper, time=ms_to_dt(fake.now_ms - fake.now_ms % 300_000), oi_base=100.0,
        oi_value=(long_usd + short_usd) * 2,  # so that a quarter of all positions is observed
    )  # fmt: skip
    mark = accounts["mark"]
    edges = np.linspace(mark * 0.4, mark * 1.6, 121)
    layer = measured_for_asset(asset, edges=edges)
    assert layer.coverage == pytest.approx(0.25)
    assert (layer.observed_long_usd, layer.observed_short_usd) == (long_usd, short_usd)
    assert layer.long_usd.sum() == pytest.approx(550_000.0) and layer.short_usd.sum() == pytest.approx(50_000.0)
    assert layer.without_price == 5 and layer.outside_usd == 0.0
    # Each account's USD sits in the bin of its own liquidation price.
    near = int(np.searchsorted(edges, mark * 0.8, side="right")) - 1
    assert layer.long_usd[near] == pytest.approx(10_000.0 * (1 + 3 + 5 + 7 + 9))
    assert layer.short_usd[int(np.searchsorted(edges, mark * 1.5, side="right")) - 1] == pytest.approx(50_000.0)


@pytest.mark.django_db
def test_accounts_from_the_leaderboard(fake: FakeVenues) -> None:
    fake.leaderboard = [address(41), address(42).upper().replace("0X", "0x"), "anonymous"]
    http = HttpClient("hyperliquid", fake.base_url)
    assert leaderboard_accounts(http=http) == 2
    assert leaderboard_accounts(http=http) == 0
    http.close()
    assert set(HyperliquidAccount.objects.values_list("address", "source")) == {
        (address(41), "leaderboard"),
        (address(42), "leaderboard"),
    }


@pytest.mark.django_db
def test_accounts_from_the_trades_stream() -> None:
    trades = [
        json.dumps(
            {"channel": "trades", "data": [{"coin": "BTC", "px": "1", "sz": "1", "users": [address(1), address(2)]}]}
        ),
        json.dumps(
            {"channel": "trades", "data": [{"coin": "BTC", "px": "1", "sz": "1", "users": [address(2), address(3)]}]}
        ),
        json.dumps({"channel": "trades", "data": [{"coin": "BTC", "users": ["0xbuyer1", "0xseller1"]}]}),
    ]

    async def run() -> tuple[set[str], list[tuple[int, str]]]:
        async with FakeWsServer(trades, expect_subscribe=True) as srv:
            seen = await collect_trade_accounts(srv.url, ["BTC"], seconds=0.5)
            return seen, srv.received

    seen, received = asyncio.run(run())
    assert seen == {address(1), address(2), address(3)}
    assert json.loads(received[0][1]) == {"method": "subscribe", "subscription": {"type": "trades", "coin": "BTC"}}
    assert track_accounts(seen, source="trades") == 3
    assert HyperliquidAccount.objects.filter(source="trades").count() == 3


@pytest.mark.django_db
def test_the_command_follows_sweeps_and_shows_the_measured_levels(
    fake: FakeVenues, accounts: dict[str, Any], settings: Any
) -> None:
    settings.LIQ_HYPERLIQUID_URL = fake.base_url
    settings.LIQ_HYPERLIQUID_LEADERBOARD_URL = fake.base_url
    settings.LIQ_HYPERLIQUID_SWEEP_WEIGHT = 20 + 2 * 25
    fake.leaderboard = [address(i) for i in range(20, 30)]

    def run(*args: str) -> str:
        out = io.StringIO()
        call_command("hyperliquid_accounts", *args, stdout=out, stderr=io.StringIO())
        return out.getvalue()

    assert "20 new account(s) followed" in run("track", *[address(i) for i in range(20)], "0xnope")
    assert "10 new account(s) from the leaderboard" in run("leaderboard")
    text = run("sweep")
    assert "up to 25 accounts a minute" in text and "25 account(s) read, weight 70" in text
    assert (
        "5 without a liquidation price" in text
    )  # never-read accounts go in address order: 0-24, of which 20-24 hold none
    assert "5 account(s) read, weight 30" in run("sweep")  # the other five, never read before
    hyper = Exchange.get_supported("hyperliquid")
    asset = Asset.objects.create(symbol="BTCUSDT", display_name="Bitcoin", base="BTC", reference_exchange=hyper)
    asset.exchanges.add(hyper)
    OpenInterest.objects.create(
        asset=asset, exchange=hyper, time=ms_to_dt(fake.now_ms - fake.now_ms % 300_000), oi_base=100.0,
        oi_value=1_210_000.0,
    )  # fmt: skip
    shown = run("measured", "btcusdt", "--bins", "60", "--range", "0.6")
    assert "longs 555,000 USD, shorts 50,000 USD measured; coverage of the open interest 25.0%" in shown
    assert "5 position(s) without a liquidation price" in shown


@pytest.mark.django_db
def test_an_operator_adds_an_account_in_the_admin(olga_client: Any) -> None:
    inline = {"measured_positions-TOTAL_FORMS": "0", "measured_positions-INITIAL_FORMS": "0"}
    form = {"address": address(77), "source": "operator", "enabled": "on", **inline}
    response = olga_client.post("/admin/heatmaps/hyperliquidaccount/add/", form)
    assert response.status_code == 302, response.content.decode()[:2000]
    added = HyperliquidAccount.objects.get(address=address(77))
    assert added.source == "operator" and added.added_at is not None and added.last_swept_at is None
    bad = olga_client.post("/admin/heatmaps/hyperliquidaccount/add/", {**form, "address": "0x1234"})
    assert bad.status_code == 200 and "40 hex digits" in bad.content.decode()
    page = olga_client.get(f"/admin/heatmaps/hyperliquidaccount/{added.pk}/change/").content.decode()
    assert address(77) in page and "measured position" in page.lower()


@pytest.mark.django_db
def test_the_measured_layer_api_bins_on_the_maps_price_axis(fake: FakeVenues, accounts: dict[str, Any]) -> None:
    from django.test import Client

    from heatmaps.maps import heatmap_compute
    from heatmaps.marketdata import load_sample_data

    load_sample_data()
    btc = Asset.objects.select_related("reference_exchange").get(symbol="BTCUSDT")
    client = Client()
    assert client.get("/api/v1/assets/BTCUSDT/measured/").status_code == 404  # not on Hyperliquid
    hyper = Exchange.get_supported("hyperliquid")
    btc.exchanges.add(hyper)
    assert client.get("/api/v1/assets/BTCUSDT/measured/?timeframe=24h").status_code == 404  # no map yet
    heatmap_compute(asset=btc, timeframes=["24h"])
    track_accounts([address(i) for i in range(30)], source="operator")
    conn = get_connector("hyperliquid", base_url=fake.base_url, now_ms=lambda: fake.now_ms)
    assert isinstance(conn, HyperliquidConnector)
    sweep(connector=conn, now_ms=fake.now_ms, budget_weight=20 + 60)
    conn.close()
    # Hyperliquid's open interest over the map's window: a tenth of Binance's, so its own modelled map exists.
    for row in OpenInterest.objects.filter(asset=btc, exchange=btc.reference_exchange).order_by("-time")[:600]:
        assert row.oi_base is not None and row.oi_value is not None
        OpenInterest.objects.create(asset=btc, exchange=hyper, time=row.time, oi_base=row.oi_base / 10,
                                    oi_value=row.oi_value / 10, simulated=True)  # fmt: skip
    newest = OpenInterest.objects.filter(asset=btc, exchange=hyper).latest("time")
    newest.oi_value = (555_000.0 + 50_000.0) * 2  # a quarter of all positions observed
    newest.save()

    body = client.get("/api/v1/assets/BTCUSDT/measured/?timeframe=24h").json()
    m = btc.heatmaps.get(timeframe="24h")
    expected = measured_for_asset(btc, edges=np.linspace(m.price_lo, m.price_hi, m.bins + 1))
    assert (body["coin"], body["bins"], body["price_lo"], body["price_hi"]) == ("BTC", m.bins, m.price_lo, m.price_hi)
    assert len(body["long_usd"]) == len(body["short_usd"]) == m.bins
    assert body["long_usd"] == pytest.approx(expected.long_usd.tolist(), abs=0.01)
    assert body["coverage"] == pytest.approx(0.25) and body["accounts"] == 30
    assert body["placed_usd"] == pytest.approx(sum(body["long_usd"]) + sum(body["short_usd"]) + body["outside_usd"])
    assert client.get("/api/v1/assets/BTCUSDT/measured/?timeframe=2d").status_code == 400
    # The model's map of Hyperliquid's open interest alone, against the measured layer, side by side.
    comparison = body["model_comparison"]
    assert comparison is not None and set(comparison) == {"long", "short"}
    for side in comparison.values():
        assert side["correlation"] is None or -1 <= side["correlation"] <= 1
        assert set(side["model_share_within"]) == {"1", "5"}
        share = side["model_share_within"]["5"]
        assert share is None or 0 <= side["model_share_within"]["1"] <= share <= 1


@pytest.mark.django_db
def test_the_periodic_sweep_counts_its_weight(fake: FakeVenues, accounts: dict[str, Any], settings: Any) -> None:
    from heatmaps import tasks

    settings.LIQ_HYPERLIQUID_URL = fake.base_url
    assert tasks.hyperliquid_sweep() == 0  # no enabled asset on Hyperliquid: nothing read
    hyper = Exchange.get_supported("hyperliquid")
    asset = Asset.objects.create(symbol="BTCUSDT", display_name="Bitcoin", base="BTC", reference_exchange=hyper)
    asset.exchanges.add(hyper)
    track_accounts([address(i) for i in range(30)], source="operator")
    weight, read = tasks.SWEEP_WEIGHT._value.get(), tasks.SWEEP_ACCOUNTS._value.get()
    swept = tasks.hyperliquid_sweep()
    assert swept == 30
    assert tasks.SWEEP_ACCOUNTS._value.get() - read == 30
    assert tasks.SWEEP_WEIGHT._value.get() - weight == 20 + 2 * 30  # the asset contexts, then 2 an account
