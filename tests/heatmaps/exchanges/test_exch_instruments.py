"""OKX contract sizes from the instruments endpoint into InstrumentSpec, the recorder converting with them
(and counting what it cannot convert), and Binance partial fills stored once with the largest fill."""

from __future__ import annotations

import copy
import json
import threading
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import REGISTRY

from heatmaps.exchanges import get_connector
from heatmaps.exchanges.liquidations import parse_binance_force_order
from heatmaps.ingest.instruments import contract_sizes, instrument_specs_refresh
from heatmaps.ingest.recorder import make_sink, recorders
from heatmaps.marketdata import dt_to_ms, insert_liquidations
from heatmaps.models import Asset, Exchange, InstrumentSpec, Liquidation
from heatmaps.tasks import refresh_instruments
from tests.heatmaps.exchanges.fake_exchange import FakeExchange

FIXTURES = Path(__file__).parent / "fixtures"


def tracked(code: str) -> tuple[Asset, Exchange]:
    exchange = Exchange.get_supported(code)
    asset = Asset.objects.create(symbol="BTCUSDT", display_name="Bitcoin", base="BTC", reference_exchange=exchange)
    asset.exchanges.add(exchange)
    return asset, exchange


def unsized_count() -> float:
    return REGISTRY.get_sample_value("liq_liquidations_unsized_total", {"exchange": "okx"}) or 0.0


@pytest.mark.django_db
def test_refresh_stores_every_linear_swap_and_is_idempotent(fake: FakeExchange) -> None:
    okx = Exchange.get_supported("okx")
    conn = get_connector("okx", base_url=fake.base_url)
    assert instrument_specs_refresh(exchange=okx, connector=conn) == 2
    assert contract_sizes(exchange=okx) == {"BTC-USDT-SWAP": 0.01, "ETH-USDT-SWAP": 0.1}
    assert set(InstrumentSpec.objects.values_list("settle", flat=True)) == {"USDT"}
    [req] = fake.requests_to("/api/v5/public/instruments")
    assert req.params == {"instType": "SWAP"}

    first = InstrumentSpec.objects.get(instrument="BTC-USDT-SWAP").updated_at
    listed = copy.deepcopy(fake.okx_instruments)
    sol = copy.deepcopy(listed[2]) | {"instId": "SOL-USDT-SWAP", "instFamily": "SOL-USDT", "uly": "SOL-USDT"}
    fake.okx_instruments = [*listed, sol | {"ctVal": "1", "ctValCcy": "SOL"}]
    try:
        assert instrument_specs_refresh(exchange=okx, connector=conn) == 3
    finally:
        fake.okx_instruments = listed
    assert InstrumentSpec.objects.filter(exchange=okx).count() == 3  # one row per instrument, not per run
    assert contract_sizes(exchange=okx)["SOL-USDT-SWAP"] == 1.0
    assert InstrumentSpec.objects.get(instrument="BTC-USDT-SWAP").updated_at > first
    conn.close()


@pytest.mark.django_db
def test_refresh_task_reads_the_configured_exchange(fake: FakeExchange, settings: Any) -> None:
    settings.LIQ_OKX_URL = fake.base_url
    Exchange.get_supported("okx")
    Exchange.get_supported("binance")  # gives base-coin quantities: nothing to fetch
    assert refresh_instruments.apply().get() == 2
    assert refresh_instruments.apply().get() == 2
    assert InstrumentSpec.objects.count() == 2


@pytest.mark.django_db(transaction=True)
def test_recorder_fetches_sizes_when_none_are_stored_and_counts_unsized_events(
    fake: FakeExchange, settings: Any
) -> None:
    settings.LIQ_OKX_URL = fake.base_url
    asset, okx = tracked("okx")
    assert not InstrumentSpec.objects.exists()
    [rec] = recorders()
    assert len(fake.requests_to("/api/v5/public/instruments")) == 1  # run once: the table was empty
    assert dict(rec.sizes or {}) == {"BTC-USDT-SWAP": 0.01, "ETH-USDT-SWAP": 0.1}
    recorders()
    assert len(fake.requests_to("/api/v5/public/instruments")) == 1  # stored now: not fetched again

    frame = json.loads((FIXTURES / "ws_okx_liquidation_orders.json").read_text())  # BTC-USDT-SWAP and IOST
    before = unsized_count()
    rows = rec.spec.parse(frame)
    assert unsized_count() == before + 1  # IOST-USDT-SWAP has no stored size: counted, not read
    assert [(r.symbol, r.quantity) for r in rows] == [("BTC-USDT-SWAP", pytest.approx(0.13))]
    sink = threading.Thread(target=make_sink(rec), args=(rows,))  # as the recorder runs it: in a thread
    sink.start()
    sink.join(10)
    stored = Liquidation.objects.get(asset=asset, exchange=okx)
    assert stored.quantity == pytest.approx(13 * 0.01)


def binance_fill(z: str, ap: str, t_offset: int) -> Any:
    frame = json.loads((FIXTURES / "ws_binance_force_order.json").read_text())
    frame["o"].update({"q": "0.050", "z": z, "l": z, "ap": ap, "T": frame["o"]["T"] + t_offset})
    return frame


@pytest.mark.django_db
def test_partial_fills_are_one_row_with_the_largest_cumulative_quantity() -> None:
    asset, binance = tracked("binance")
    first, second, third = (
        parse_binance_force_order(binance_fill(z, ap, dt))[0]
        for z, ap, dt in (("0.014", "9910", 0), ("0.030", "9905", 400), ("0.050", "9900", 900))
    )
    assert insert_liquidations(asset=asset, exchange=binance, rows=[first]) == 1
    assert insert_liquidations(asset=asset, exchange=binance, rows=[third, second]) == 1  # same batch: largest
    assert insert_liquidations(asset=asset, exchange=binance, rows=[second]) == 0  # late, smaller: no change
    assert insert_liquidations(asset=asset, exchange=binance, rows=[first, third]) == 0  # replay
    [row] = Liquidation.objects.filter(exchange=binance)
    assert (row.quantity, row.price) == (0.05, 9900.0)
    assert row.value == pytest.approx(0.05 * 9900.0)
    assert dt_to_ms(row.time) == third.time_ms and row.dedupe_key == third.dedupe_key

    another = binance_fill("0.010", "9950", 0)
    another["o"]["p"] = "9950"  # another order (its own price), same second: its own row
    assert insert_liquidations(asset=asset, exchange=binance, rows=parse_binance_force_order(another)) == 1
    assert Liquidation.objects.filter(exchange=binance).count() == 2
