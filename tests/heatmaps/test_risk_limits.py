"""Risk limits at rest (PostgreSQL): the refresh against the stand-in venues, idempotent, a venue's error
keeping its previous row; the v2 margin and leverage rule (median first-bracket mmr, highest leverage)."""

from __future__ import annotations

import io
import statistics
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest
from django.utils import timezone

from heatmaps.engine import model_v2_params as model_v2
from heatmaps.exchanges import BaseConnector, bybit, get_connector, okx
from heatmaps.marketdata import ms_to_dt, upsert_candles
from heatmaps.marketdata.risk_limits import DEFAULT_MMR, asset_v2_params, asset_v2_risk, risk_limits_refresh
from heatmaps.models import Asset, Exchange, RiskLimit
from heatmaps.rows import CandleRow
from tests.heatmaps.exchanges.fake_exchange import Series
from tests.heatmaps.exchanges.fake_risk_marks import FakeRiskMarkExchange


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeRiskMarkExchange]:
    with FakeRiskMarkExchange(Series(bars=288)) as fx:
        yield fx


@pytest.fixture(autouse=True)
def _clean(fake: FakeRiskMarkExchange) -> Iterator[None]:
    fake.clear_faults()
    fake.requests.clear()
    yield
    fake.clear_faults()


def three_venue_asset(db: None) -> Asset:
    binance, by, ok = (Exchange.get_supported(c) for c in ("binance", "bybit", "okx"))
    asset = Asset.objects.create(symbol="BTCUSDT", display_name="BTC", base="BTC", reference_exchange=binance)
    asset.exchanges.add(binance, by, ok)
    return asset


@pytest.fixture
def asset(db: None) -> Asset:
    return three_venue_asset(db)


def connect_to(fake: FakeRiskMarkExchange) -> Any:
    def connect(exchange: Exchange) -> BaseConnector:
        return get_connector(exchange.code, base_url=fake.base_url, now_ms=lambda: fake.now_ms, sleep=lambda s: None)

    return connect


def rows(asset: Asset) -> dict[str, tuple[Any, ...]]:
    return {
        r.exchange.code: (r.instrument, r.brackets, r.max_leverage, r.mmr, r.last_error)
        for r in RiskLimit.objects.filter(asset=asset).select_related("exchange")
    }


@pytest.mark.django_db
def test_refresh_stores_each_publishing_venue_and_a_rerun_changes_nothing(
    fake: FakeRiskMarkExchange, asset: Asset
) -> None:
    close = 41_000.0
    upsert_candles(
        asset=asset,
        exchange=asset.reference_exchange,
        rows=[CandleRow(fake.series.start_ms, close, close + 5, close - 5, close, 1.0, None, None)],
    )
    report = risk_limits_refresh(asset=asset, connect=connect_to(fake))
    assert report.stored == ["bybit", "okx"] and report.unpublished == ["binance"] and not report.failed
    first = rows(asset)
    by = first["bybit"]
    assert by[0] == "BTCUSDT" and (by[2], by[3]) == (100.0, 0.005)
    assert [b["max_notional_usd"] for b in by[1]] == [2_000_000, 4_000_000, 6_000_000]
    ok = first["okx"]
    assert ok[0] == "BTC-USDT-SWAP" and (ok[2], ok[3]) == (125.0, 0.004)
    # 20 000 contracts of 0.01 BTC at the newest reference close.
    assert ok[1][0]["max_notional_usd"] == pytest.approx(20_000 * 0.01 * close)

    again = risk_limits_refresh(asset=asset, connect=connect_to(fake))
    assert again.stored == ["bybit", "okx"]
    assert rows(asset) == first and RiskLimit.objects.filter(asset=asset).count() == 2


@pytest.mark.django_db
@pytest.mark.parametrize("status", [400, 503])
def test_a_venue_error_keeps_the_previous_row_and_flags_it(
    fake: FakeRiskMarkExchange, asset: Asset, status: int
) -> None:
    risk_limits_refresh(asset=asset, connect=connect_to(fake))
    before = rows(asset)
    body = {"retCode": 10001, "retMsg": "params error"} if status == 400 else None
    fake.fail_next(status, path=bybit.RISK_LIMIT, body=body, times=10)
    fake.okx_position_tiers = [{**t, "mmr": "0.006"} if t["tier"] == "1" else t for t in fake.okx_position_tiers]
    try:
        report = risk_limits_refresh(asset=asset, connect=connect_to(fake))
    finally:
        fake.okx_position_tiers = [{**t, "mmr": "0.004"} if t["tier"] == "1" else t for t in fake.okx_position_tiers]
    assert list(report.failed) == ["bybit"] and report.stored == ["okx"]
    assert report.transient == (status == 503)
    after = rows(asset)
    assert after["bybit"][:4] == before["bybit"][:4]  # the brackets of the last success
    assert after["bybit"][4] and RiskLimit.objects.get(asset=asset, exchange__code="bybit").last_error_at
    assert after["okx"][3] == 0.006  # the other venue refreshed
    # The next good refresh clears the flag.
    fake.clear_faults()
    risk_limits_refresh(asset=asset, connect=connect_to(fake))
    assert rows(asset)["bybit"][4] == ""


@pytest.mark.django_db
def test_a_venue_error_without_a_previous_row_stores_nothing(fake: FakeRiskMarkExchange, asset: Asset) -> None:
    fake.fail_next(400, path=okx.POSITION_TIERS, body={"code": "51001", "msg": "Instrument ID does not exist"})
    report = risk_limits_refresh(asset=asset, connect=connect_to(fake), exchanges=["okx"])
    assert list(report.failed) == ["okx"] and not RiskLimit.objects.filter(asset=asset).exists()


def put(asset: Asset, code: str, *, mmr: float, lev: float) -> None:
    RiskLimit.objects.create(
        asset=asset,
        exchange=Exchange.get_supported(code),
        brackets=[{"max_notional_usd": 1e6, "max_leverage": lev, "mmr": mmr}],
        max_leverage=lev,
        mmr=mmr,
        fetched_at=timezone.now(),
    )


@pytest.mark.django_db
def test_v2_margin_is_the_median_and_leverage_the_highest_over_the_venues(asset: Asset) -> None:
    none = asset_v2_risk(asset)
    assert (none.mmr, none.max_leverage, none.venues, none.mmr_default) == (DEFAULT_MMR, None, (), True)
    gate = Exchange.get_supported("gate")
    asset.exchanges.add(gate)
    put(asset, "bybit", mmr=0.005, lev=100)
    put(asset, "okx", mmr=0.004, lev=125)
    put(asset, "gate", mmr=0.01, lev=50)
    risk = asset_v2_risk(asset)
    assert risk.mmr == statistics.median([0.005, 0.004, 0.01]) == 0.005
    assert risk.max_leverage == 125 and risk.venues == ("bybit", "gate", "okx") and not risk.mmr_default
    # A disabled venue, or one no longer among the asset's, does not count.
    Exchange.objects.filter(code="okx").update(enabled=False)
    asset.exchanges.remove(gate)
    risk = asset_v2_risk(asset)
    assert (risk.mmr, risk.max_leverage, risk.venues) == (0.005, 100, ("bybit",))
    assert risk.provenance()["risk_limit_venues"] == ["bybit"]


@pytest.mark.django_db
def test_v2_params_drop_only_the_tiers_no_venue_offers(asset: Asset) -> None:
    tiers = tuple(model_v2.DEFAULT_V2_TIERS)
    levels = sorted({t.leverage for t in tiers})
    assert len(levels) >= 2
    cap = levels[-2]  # the highest default tier is above every venue's first bracket
    put(asset, "bybit", mmr=0.005, lev=cap / 2)
    put(asset, "okx", mmr=0.007, lev=cap)
    params = asset_v2_params(asset).validate()
    assert params.mmr == pytest.approx(0.006) and params.max_leverage == cap
    assert (params.n_bins, params.pad) == (asset.bins, asset.pad)
    kept = [t for t in tiers if t.leverage <= cap]
    runs = params.effective()
    assert [t.leverage for t in runs.tiers] == [t.leverage for t in kept]
    total = sum(t.weight for t in kept)
    assert [t.weight for t in runs.tiers] == pytest.approx([t.weight / total for t in kept])

    # No rows: the defaults whole, v1's margin.
    RiskLimit.objects.all().delete()
    plain = asset_v2_params(asset).validate()
    assert tuple(plain.effective().tiers) == tiers and plain.mmr == DEFAULT_MMR and plain.max_leverage is None
    # Below every default tier: one tier at the leverage offered.
    put(asset, "bybit", mmr=0.02, lev=levels[0] / 2)
    (only,) = asset_v2_params(asset).validate().effective().tiers
    lowest = min(tiers, key=lambda t: t.leverage)
    assert only == replace(lowest, leverage=levels[0] / 2, weight=1.0)


@pytest.mark.django_db
def test_v2_params_stay_inside_the_engines_bounds(asset: Asset) -> None:
    # One venue's high leverage with another's high margin: the median margin would liquidate the top
    # tiers on opening, so those go too, and the leverage past the engine's ceiling is capped.
    put(asset, "bybit", mmr=0.03, lev=model_v2.MAX_LEVERAGE * 2)
    put(asset, "okx", mmr=0.05, lev=10)
    params = asset_v2_params(asset).validate()
    assert params.mmr == 0.04
    assert all(t.leverage * params.mmr < 1 for t in params.effective().tiers)
    assert params.max_leverage is not None and params.max_leverage <= model_v2.MAX_LEVERAGE


@pytest.mark.django_db
def test_task_and_backfill_command_refresh_through_the_configured_venues(
    fake: FakeRiskMarkExchange, asset: Asset, settings: Any
) -> None:
    from django.core.management import call_command

    from heatmaps.tasks import refresh_risk_limits

    settings.LIQ_BYBIT_URL = settings.LIQ_OKX_URL = settings.LIQ_BINANCE_FAPI_URL = fake.base_url
    assert refresh_risk_limits.apply(args=[asset.pk]).get() == 2
    assert sorted(rows(asset)) == ["bybit", "okx"]
    assert refresh_risk_limits.apply(args=[asset.pk + 1000]).get() == 0  # a deleted asset: nothing to do
    RiskLimit.objects.all().delete()
    start = fake.series.end_ms - 3_600_000
    out = io.StringIO()
    call_command(
        "backfill", "--exchange", "bybit", "--symbol", "BTCUSDT", "--kinds", "funding",
        "--start", ms_to_dt(start).isoformat(), "--end", ms_to_dt(fake.series.end_ms).isoformat(), stdout=out,
    )  # fmt: skip
    assert "risk limits of BTCUSDT@bybit stored" in out.getvalue()
    assert sorted(rows(asset)) == ["bybit"]  # the backfilled venue only


@pytest.mark.django_db
def test_admin_lists_risk_limits_and_mark_candles_read_only(asset: Asset, olga_client: Any) -> None:
    from heatmaps.models import MarkCandle

    put(asset, "bybit", mmr=0.005, lev=100)
    MarkCandle.objects.create(
        asset=asset, exchange=asset.reference_exchange, open_time=timezone.now().replace(second=0, microsecond=0),
        open=1, high=2, low=1, close=1,
    )  # fmt: skip
    page = olga_client.get("/admin/heatmaps/risklimit/")
    assert page.status_code == 200 and "Bybit linear" in page.content.decode()
    assert olga_client.get("/admin/heatmaps/markcandle/").status_code == 200
    assert olga_client.get("/admin/heatmaps/risklimit/add/").status_code == 403
    row = RiskLimit.objects.get()
    assert olga_client.post(f"/admin/heatmaps/risklimit/{row.pk}/change/", {"mmr": 0.5}).status_code == 403
    assert RiskLimit.objects.get().mmr == 0.005


@pytest.mark.django_db
def test_add_asset_enqueues_one_risk_limit_refresh_after_commit(django_capture_on_commit_callbacks: Any) -> None:
    from django.core.management import call_command

    from heatmaps.tasks import refresh_risk_limits

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        call_command("add_asset", "SOLUSDT", "--exchanges", "bybit,okx", stdout=io.StringIO())
    asset = Asset.objects.get(symbol="SOLUSDT")
    queued = [cb for cb in callbacks if getattr(cb, "func", None) == refresh_risk_limits.delay]
    assert [cb.args for cb in queued] == [(asset.pk,)]
