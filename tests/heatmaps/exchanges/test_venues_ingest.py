"""Hyperliquid, Bitget, Gate, BitMEX and Deribit end to end: stand-in servers on 127.0.0.1 through backfill into PostgreSQL, the
symbol mapping per asset and venue, health flags, the shared budget in Redis, and add_asset in a fresh
process with its symbols checked against the venues' instrument lists."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
import redis
from django.conf import settings as django_settings
from django.core.management import call_command

from heatmaps import ingest
from heatmaps.admin import VenueSymbolForm
from heatmaps.exchanges import TransientExchangeError, UnknownSymbolError, get_connector
from heatmaps.marketdata import dt_to_ms, ms_to_dt
from heatmaps.models import Asset, Candle, Exchange, FundingRate, OpenInterest, VenueSymbol
from heatmaps.rows import BASE_BAR_MS as M5
from heatmaps.rows import CandleRow
from tests.conftest import _database_url
from tests.heatmaps.exchanges.fake_exchange import Series
from tests.heatmaps.exchanges.fake_venues import FakeVenues

CODES = ["hyperliquid", "bitget", "gate", "bitmex", "deribit"]


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeVenues]:
    """7 days of 5m data ending at the current 5-minute boundary, so commands on the wall clock see it all."""
    now_ms = int(time.time() * 1000)
    end_ms = now_ms - now_ms % M5
    with FakeVenues(Series(start_ms=end_ms - 2016 * M5, bars=2016)) as fx:
        fx.okx_instruments = [
            *fx.okx_instruments,
            {**fx.okx_instruments[-1], "instId": "SOL-USDT-SWAP", "ctVal": "1", "ctValCcy": "SOL"},
        ]
        fx.hl_universe = [*fx.hl_universe, {"name": "SOL", "szDecimals": 2, "maxLeverage": 20}]
        fx.bitget_contracts = [*fx.bitget_contracts, {**fx.bitget_contracts[0], "symbol": "SOLUSDT", "baseCoin": "SOL"}]
        fx.gate_contract_names = [*fx.gate_contract_names, "SOL_USDT"]
        yield fx


@pytest.fixture(autouse=True)
def clean(fake: FakeVenues) -> Iterator[None]:
    fake.clear_faults()
    fake.requests.clear()
    yield
    fake.clear_faults()


def make_asset(code: str, *, symbol: str = "BTCUSDT", base: str = "BTC") -> tuple[Asset, Exchange]:
    exchange = Exchange.get_supported(code)
    asset = Asset.objects.create(symbol=symbol, display_name=symbol, base=base, reference_exchange=exchange)
    asset.exchanges.add(exchange)
    return asset, exchange


def stored_candles(asset: Asset, exchange: Exchange) -> list[CandleRow]:
    return [
        CandleRow(dt_to_ms(c.open_time), c.open, c.high, c.low, c.close, c.volume, c.taker_buy_volume, c.quote_volume)
        for c in Candle.objects.filter(asset=asset, exchange=exchange).order_by("open_time")
    ]


@pytest.mark.django_db
@pytest.mark.parametrize("code", CODES)
def test_backfill_every_kind_into_postgresql_is_exact_and_rerunnable(fake: FakeVenues, code: str) -> None:
    asset, exchange = make_asset(code)
    s = fake.series
    start, end = s.start_ms + 288 * M5, s.end_ms
    with get_connector(code, base_url=fake.base_url, now_ms=lambda: fake.now_ms, sleep=lambda _s: None) as conn:
        results = ingest.backfill(
            asset=asset, exchange=exchange, kinds=list(ingest.KINDS), start_ms=start, end_ms=end,
            now_ms=fake.now_ms, connector=conn,
        )  # fmt: skip
        want = {
            "hyperliquid": fake.hl_candle_rows,
            "bitget": fake.bitget_candle_rows,
            "gate": fake.gate_candle_rows,
            "bitmex": fake.bitmex_candle_rows,
            "deribit": fake.bitmex_candle_rows,
        }[code](start, end)
        assert stored_candles(asset, exchange) == want and len(want) == 2016 - 288 - 1
        stored_oi = list(
            OpenInterest.objects.filter(asset=asset).order_by("time").values_list("time", "oi_base", "oi_value")
        )
        if code == "gate":  # contract statistics: the 5-minute history
            assert stored_oi == [(ms_to_dt(r.time_ms), r.oi_base, r.oi_value) for r in fake.gate_oi_rows(start, end)]
            assert len(stored_oi) == 2016 - 288 and not any("open interest" in n for r in results for n in r.notes)
        else:  # only the figure now, on the bar boundary, and the note says why there is no more
            oi = fake.oi_now(code)
            assert stored_oi == [(ms_to_dt(oi.time_ms), oi.oi_base, oi.oi_value)]
            assert any("serves open interest only back to" in n for r in results for n in r.notes)
        funding = fake.funding_rows(start, end)
        assert sorted(FundingRate.objects.filter(asset=asset).values_list("funding_time", "rate")) == [
            (ms_to_dt(f.time_ms), pytest.approx(f.rate)) for f in funding
        ]
        again = ingest.backfill(
            asset=asset, exchange=exchange, kinds=list(ingest.KINDS), start_ms=start, end_ms=end,
            now_ms=fake.now_ms, connector=conn,
        )  # fmt: skip
        assert sum(r.rows_written for r in again) == 0
        # The mark price lands in the ticker, as for Binance.
        ticker = ingest.ingest_ticker(asset=asset, exchange=exchange, connector=conn)
        assert ticker is not None and ticker.mark_price == s.bar(fake.current_index()).close


@pytest.mark.django_db
def test_fetches_ask_for_the_mapped_symbol(fake: FakeVenues) -> None:
    # XBT is what the asset calls bitcoin; Bitget and Hyperliquid call it BTCUSDT and BTC.
    asset, bitget = make_asset("bitget", symbol="XBTUSDT", base="XBT")
    hyper = Exchange.get_supported("hyperliquid")
    asset.exchanges.add(hyper)
    s = fake.series
    # By convention they would be asked for XBTUSDT and XBT, which neither lists.
    with (
        get_connector("bitget", base_url=fake.base_url, now_ms=lambda: fake.now_ms) as conn,
        pytest.raises(UnknownSymbolError, match="XBTUSDT"),
    ):
        ingest.backfill(
                asset=asset, exchange=bitget, kinds=["candles"], start_ms=s.start_ms, end_ms=s.start_ms + 50 * M5,
                now_ms=fake.now_ms, connector=conn,
            )  # fmt: skip
    with (
        get_connector("hyperliquid", base_url=fake.base_url, now_ms=lambda: fake.now_ms) as conn,
        pytest.raises(UnknownSymbolError, match="XBT"),
    ):
        ingest.ingest_ticker(asset=asset, exchange=hyper, connector=conn)
    VenueSymbol.objects.create(asset=asset, exchange=bitget, symbol="BTCUSDT")
    VenueSymbol.objects.create(asset=asset, exchange=hyper, symbol="BTC")
    fake.requests.clear()
    for exchange in (bitget, hyper):
        with get_connector(exchange.code, base_url=fake.base_url, now_ms=lambda: fake.now_ms) as conn:
            ingest.backfill(
                asset=asset, exchange=exchange, kinds=["candles"], start_ms=s.start_ms, end_ms=s.start_ms + 50 * M5,
                now_ms=fake.now_ms, connector=conn,
            )  # fmt: skip
        assert Candle.objects.filter(asset=asset, exchange=exchange).count() == 50
    assert {r.params.get("symbol") for r in fake.requests if r.path != "/info"} == {"BTCUSDT"}


@pytest.mark.django_db
@pytest.mark.parametrize("code", CODES)
def test_outage_marks_the_venue_degraded_until_it_recovers(fake: FakeVenues, code: str) -> None:
    asset, exchange = make_asset(code)
    path = {
        "hyperliquid": "/info",
        "bitget": "/api/v2/mix/market/history-candles",
        "gate": "/api/v4/futures/usdt/candlesticks",
        "bitmex": "/api/v1/trade/bucketed",
        "deribit": "/api/v2/public/get_tradingview_chart_data",
    }[code]
    conn = get_connector(code, base_url=fake.base_url, now_ms=lambda: fake.now_ms, sleep=lambda _s: None, max_retries=1)
    first = fake.series.bar(fake.current_index() - 864)  # resume 3 days back, from a stored real bar
    Candle.objects.create(
        asset=asset, exchange=exchange, open_time=ms_to_dt(first.open_time_ms),
        open=first.open, high=first.high, low=first.low, close=first.close,
    )  # fmt: skip
    fake.fail_next(503, path=path, times=2)
    with pytest.raises(TransientExchangeError):
        ingest.ingest_since_last(asset=asset, exchange=exchange, kind="candles", now_ms=fake.now_ms, connector=conn)
    exchange.refresh_from_db()
    assert exchange.degraded_since is not None and "503" in exchange.last_error
    ingest.ingest_since_last(asset=asset, exchange=exchange, kind="candles", now_ms=fake.now_ms, connector=conn)
    exchange.refresh_from_db()
    assert exchange.degraded_since is None and exchange.last_error == ""
    assert Candle.objects.filter(asset=asset, exchange=exchange).count() == 864
    conn.close()


@pytest.mark.django_db
@pytest.mark.parametrize("code", CODES)
def test_backfill_command_uses_the_setting_and_the_venues_own_budget_in_redis(
    fake: FakeVenues, code: str, settings: Any
) -> None:
    setattr(settings, f"LIQ_{code.upper()}_URL", fake.base_url)
    make_asset(code)
    r = redis.Redis.from_url(django_settings.REDIS_URL)
    for key in r.scan_iter(f"liq:rl:{code}:*"):
        r.delete(key)
    start = ms_to_dt(fake.series.start_ms)
    out = io.StringIO()
    call_command(
        "backfill", "--exchange", code, "--symbol", "btcusdt", "--start", f"{start:%Y-%m-%dT%H:%MZ}",
        "--end", f"{start + timedelta(days=1):%Y-%m-%dT%H:%MZ}", "--kinds", "candles", stdout=out, stderr=io.StringIO(),
    )  # fmt: skip
    row = next(line.split() for line in out.getvalue().splitlines() if line.startswith("candles "))
    assert row[1:4] == ["288", "288", "288"] and row[-1] == "0"
    paths = {
        "/info",
        "/api/v2/mix/market/history-candles",
        "/api/v4/futures/usdt/candlesticks",
        "/api/v1/trade/bucketed",
        "/api/v2/public/get_tradingview_chart_data",
    }
    assert fake.requests and {req.path for req in fake.requests} - {"/api/v4/futures/usdt/contracts/BTC_USDT"} <= paths
    # The weight was counted under this venue's own key, not another's.
    assert list(r.scan_iter(f"liq:rl:{code}:w:default:*"))


@pytest.mark.django_db
def test_admin_checks_a_symbol_against_the_venues_list(fake: FakeVenues, settings: Any, olga_client: Any) -> None:
    settings.LIQ_HYPERLIQUID_URL = fake.base_url
    asset, hyper = make_asset("hyperliquid")
    form = VenueSymbolForm(data={"asset": asset.pk, "exchange": hyper.pk, "symbol": "DOGE"})
    assert not form.is_valid() and "hyperliquid lists no perpetual 'DOGE'" in form.non_field_errors()[0]
    form = VenueSymbolForm(data={"asset": asset.pk, "exchange": hyper.pk, "symbol": "BTC"})
    assert form.is_valid(), form.errors
    saved = form.save()
    assert saved.checked_at is not None
    settings.LIQ_HYPERLIQUID_URL = "http://127.0.0.1:9"  # nothing listens there
    form = VenueSymbolForm(data={"asset": asset.pk, "exchange": hyper.pk, "symbol": "ETH"}, instance=saved)
    assert not form.is_valid() and "could not be read" in form.non_field_errors()[0]
    page = olga_client.get("/admin/heatmaps/venuesymbol/").content.decode()
    assert "BTCUSDT" in page and "Hyperliquid perpetuals" in page
    exchanges = olga_client.get("/admin/heatmaps/exchange/").content.decode()
    assert "hyperliquid" in exchanges and "bitget" in exchanges


def manage(fake: FakeVenues, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "LIQ_TESTING": "1",
        "DATABASE_URL": _database_url(django_settings.DATABASES["default"]),
        "REDIS_URL": django_settings.REDIS_URL,
        **{
            f"LIQ_{c}_URL": fake.base_url
            for c in ("BYBIT", "OKX", "HYPERLIQUID", "BITGET", "GATE", "BITMEX", "DERIBIT")
        },
        "LIQ_BINANCE_FAPI_URL": fake.base_url,
    }
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=django_settings.BASE_DIR, env=env, capture_output=True, text=True
    )


@pytest.mark.django_db(transaction=True)
def test_add_asset_on_five_venues_in_a_fresh_process(fake: FakeVenues) -> None:
    done = manage(fake, "add_asset", "SOLUSDT", "--exchanges", "binance,bybit,okx,hyperliquid,bitget", "--check")
    assert done.returncode == 0, done.stderr
    assert "added SOLUSDT" in done.stdout and "hyperliquid SOL (listed)" in done.stdout
    sol = Asset.objects.get(symbol="SOLUSDT")
    assert sorted(sol.exchanges.values_list("code", flat=True)) == ["binance", "bitget", "bybit", "hyperliquid", "okx"]
    mapped = {
        v.exchange.code: (v.symbol, v.checked_at is not None) for v in sol.venue_symbols.select_related("exchange")
    }
    # Binance and Bybit connectors read no instrument list: their symbols are the convention, unchecked.
    assert mapped == {
        "binance": ("SOLUSDT", False),
        "bybit": ("SOLUSDT", False),
        "okx": ("SOL-USDT-SWAP", True),
        "hyperliquid": ("SOL", True),
        "bitget": ("SOLUSDT", True),
    }
    # A coin the venue does not list is refused, naming it, and nothing is added.
    bad = manage(fake, "add_asset", "DOGEUSDT", "--exchanges", "bitget,hyperliquid", "--check")
    assert bad.returncode != 0 and "hyperliquid lists no perpetual 'DOGE'" in bad.stderr
    assert "bitget lists no perpetual 'DOGEUSDT'" in bad.stderr
    assert not Asset.objects.filter(symbol="DOGEUSDT").exists()
    # Where the venue's name differs from its convention, say so.
    ok = manage(
        fake, "add_asset", "XBTUSDT", "--exchanges", "hyperliquid", "--venue-symbol", "hyperliquid=BTC", "--check"
    )
    assert ok.returncode == 0, ok.stderr
    assert VenueSymbol.objects.get(asset__symbol="XBTUSDT").symbol == "BTC"
    # Gate, the sixth: its symbol by its own convention, checked against its contract list.
    gate = manage(fake, "add_asset", "ETHUSDT", "--exchanges", "gate,hyperliquid", "--check")
    assert gate.returncode == 0, gate.stderr
    assert "gate ETH_USDT (listed)" in gate.stdout and "hyperliquid ETH (listed)" in gate.stdout
    # BitMEX: bitcoin is XBT there, so BTCUSDT is asked for as XBTUSDT.
    mex = manage(fake, "add_asset", "BTCUSDT", "--exchanges", "bitmex,deribit", "--check")
    assert mex.returncode == 0, mex.stderr
    assert "bitmex XBTUSDT (listed)" in mex.stdout and "deribit BTC-PERPETUAL (listed)" in mex.stdout
    Asset.objects.filter(symbol__in=["SOLUSDT", "XBTUSDT", "ETHUSDT", "BTCUSDT"]).delete()
