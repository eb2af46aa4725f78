"""Every parser against payloads the exchanges really send: their documentation's examples and frames other
open-source clients keep as test data (fixtures/README.md names each source)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from heatmaps.exchanges import MalformedPayload, PermanentExchangeError, binance, bybit, okx
from heatmaps.exchanges.base import Fields, epoch_ms_problem
from heatmaps.exchanges.liquidations import (
    parse_binance_force_order,
    parse_bybit_all_liquidation,
    parse_okx_liquidation_orders,
)
from heatmaps.rows import FundingRow, OpenInterestRow

FIXTURES = Path(__file__).parent / "fixtures"


def load(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


# --------------------------------------------------------------------------- OKX funding: the realised rate


@pytest.mark.parametrize(
    ("fixture", "expected"),
    [
        (  # OKX's documented example: fundingRate "Predicted", realizedRate "Actual"
            "okx_funding_rate_history_docs.json",
            [FundingRow(1703030400000, 0.0002279755647389), FundingRow(1703059200000, 0.0000746572360545)],
        ),
        (  # a recorded answer where the two differ visibly
            "okx_funding_rate_history_nautilus.json",
            [FundingRow(1704038400000, -0.00002), FundingRow(1704067200000, 0.00015)],
        ),
    ],
)
def test_okx_funding_history_stores_the_realised_rate(fixture: str, expected: list[FundingRow]) -> None:
    payload = load(fixture)
    rows = okx.parse_funding(payload)
    assert rows == expected
    predicted = {int(d["fundingTime"]): float(d["fundingRate"]) for d in payload["data"]}
    assert all(r.rate != predicted[r.time_ms] for r in rows)


def test_okx_funding_row_not_yet_settled_is_left_out() -> None:
    payload = load("okx_funding_rate_history_docs.json")
    payload["data"][0]["realizedRate"] = ""
    assert [r.time_ms for r in okx.parse_funding(payload)] == [1703030400000]
    del payload["data"][1]["realizedRate"]
    with pytest.raises(MalformedPayload, match="realizedRate"):
        okx.parse_funding(payload)


# --------------------------------------------------------------------------- OKX instruments (ctVal)


def test_okx_instruments_give_linear_swaps_contract_sizes() -> None:
    specs = okx.parse_instruments(load("okx_instruments_swap.json"))
    # BTC-USD-SWAP is inverse (ctVal 100 USD): no fixed amount of BTC per contract, so it is left out
    assert [(s.instrument, s.contract_size, s.settle) for s in specs] == [
        ("ETH-USDT-SWAP", 0.1, "USDT"),
        ("BTC-USDT-SWAP", 0.01, "USDT"),
    ]


def test_okx_instruments_refuse_a_contract_value_in_another_currency() -> None:
    payload = load("okx_instruments_swap.json")
    payload["data"][2]["ctValCcy"] = "USD"
    with pytest.raises(MalformedPayload, match=r"BTC-USDT-SWAP: ctValCcy 'USD' is not the base coin 'BTC'"):
        okx.parse_instruments(payload)


# --------------------------------------------------------------------------- open interest stamps


def test_bybit_open_interest_keeps_the_snapshot_stamp() -> None:
    """Bybit's example: daily stamps at 00:00 UTC, the newest (1780963200000) before the answer's own time
    (1780994051392) in a day not yet over: a snapshot at the stamp, the close of the day before it."""
    payload = load("bybit_open_interest_docs.json")
    rows, cursor = bybit.parse_open_interest(payload)
    assert [r.time_ms for r in rows] == sorted(int(i["timestamp"]) for i in payload["result"]["list"])
    assert rows[-1] == OpenInterestRow(1780963200000, 63910691.0, None)
    assert rows[-1].time_ms < payload["time"] < rows[-1].time_ms + 86_400_000
    assert cursor == "lastid%3D19408935%26lasttime%3D1780617600"


def test_okx_open_interest_history_documented_rows() -> None:
    rows = okx.parse_open_interest_history(load("okx_open_interest_history_docs.json"))
    assert rows == [OpenInterestRow(1701417500000, 111.0, 8888888.0), OpenInterestRow(1701417600000, 111.0, 8888888.0)]


# --------------------------------------------------------------------------- liquidation frames


def test_binance_force_order_documented_and_recorded_frames() -> None:
    [doc] = parse_binance_force_order(load("ws_binance_force_order.json"))
    assert (doc.symbol, doc.side, doc.quantity, doc.price, doc.time_ms) == (
        "BTCUSDT",
        "long",
        0.014,
        9910.0,
        1568014460893,
    )
    [rec] = parse_binance_force_order(json.dumps(load("ws_binance_force_order_barter.json")))
    assert (rec.symbol, rec.side, rec.quantity, rec.price, rec.time_ms) == (
        "BTCUSDT",
        "long",
        0.009,
        18990.0,
        1665523974217,
    )
    assert rec.value == pytest.approx(0.009 * 18990.0)  # average price ap, not the order price p


def test_binance_coin_m_frame_is_refused_not_read_as_coins() -> None:
    # COIN-M's documented example: BTCUSD_200925, q/z "1" = one contract of 100 USD, not one bitcoin
    with pytest.raises(MalformedPayload, match=r"o\.s 'BTCUSD_200925' is a COIN-M contract"):
        parse_binance_force_order(load("ws_binance_force_order_cm_docs.json"))
    perp = load("ws_binance_force_order_cm_docs.json")
    perp["o"]["s"] = "BTCUSD_PERP"
    del perp["o"]["ps"]
    with pytest.raises(PermanentExchangeError, match="BTCUSD_PERP"):
        parse_binance_force_order(perp)


def test_binance_partial_fills_of_one_order_share_a_key_with_growing_quantity() -> None:
    first = load("ws_binance_force_order.json")
    first["o"].update({"q": "0.030", "X": "PARTIALLY_FILLED", "l": "0.014", "z": "0.014"})
    second = json.loads(json.dumps(first))
    second["o"].update({"X": "FILLED", "l": "0.016", "z": "0.030", "ap": "9905", "T": first["o"]["T"] + 900})
    [a] = parse_binance_force_order(first)
    [b] = parse_binance_force_order(second)
    assert a.dedupe_key == b.dedupe_key
    assert (a.quantity, b.quantity) == (0.014, 0.030)  # z is per order: the later frame holds the whole fill


def test_bybit_all_liquidation_documented_and_recorded_frames() -> None:
    [doc] = parse_bybit_all_liquidation(load("ws_bybit_all_liquidation_docs.json"))
    assert (doc.symbol, doc.side, doc.quantity, doc.price, doc.time_ms) == (
        "ROSEUSDT",
        "short",
        20000.0,
        0.04499,
        1739502302929,
    )
    rows = parse_bybit_all_liquidation(json.dumps(load("ws_bybit_all_liquidation_nautilus.json")))
    assert [(r.side, r.quantity, r.price) for r in rows] == [("long", 0.015, 96250.5), ("short", 1.25, 97410.0)]


def test_okx_liquidation_documented_frame_in_base_units() -> None:
    frame = load("ws_okx_liquidation_orders_docs.json")
    [row] = parse_okx_liquidation_orders(frame, {"IOST-USDT-SWAP": 1000.0})
    assert (row.symbol, row.side, row.quantity, row.price, row.time_ms) == (
        "IOST-USDT-SWAP",
        "short",
        13000.0,
        0.007831,
        1692266434010,
    )
    unsized: list[str] = []
    assert parse_okx_liquidation_orders(frame, {"BTC-USDT-SWAP": 0.01}, on_unsized=unsized.append) == []
    assert unsized == ["IOST-USDT-SWAP"]


# --------------------------------------------------------------------------- timestamps


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        (1704067200, "is in seconds, not the documented milliseconds"),
        (1704067200000000, "outside the years 2015-2100"),
        (1000, "outside the years 2015-2100"),
        (1704067200000, None),
    ],
)
def test_epoch_ms_problem(value: int, problem: str | None) -> None:
    got = epoch_ms_problem(value)
    assert got == problem if problem is None else problem in (got or "")


def test_a_time_in_seconds_is_an_error_naming_the_field_in_every_parser() -> None:
    cases: list[tuple[Any, Any, str]] = []
    p = load("okx_funding_rate_history_docs.json")
    p["data"][1]["fundingTime"] = "1703030400"
    cases.append((okx.parse_funding, p, r"row 1 fundingTime '1703030400' is in seconds"))
    p = load("okx_open_interest_history_docs.json")
    p["data"][0][0] = "1701417600"
    cases.append((okx.parse_open_interest_history, p, r"row 0 ts '1701417600' is in seconds"))
    p = load("bybit_open_interest_docs.json")
    p["result"]["list"][2]["timestamp"] = "1780790400"
    cases.append((lambda x: bybit.parse_open_interest(x), p, r"row 2 timestamp '1780790400' is in seconds"))
    p = load("binance_funding_rate.json")
    p[0]["fundingTime"] = p[0]["fundingTime"] // 1000 if isinstance(p[0]["fundingTime"], int) else 1704067200
    cases.append((binance.parse_funding, p, r"row 0 fundingTime .* is in seconds"))
    p = load("ws_binance_force_order.json")
    p["o"]["T"] = 1568014460
    cases.append((parse_binance_force_order, p, r"o\.T 1568014460 is in seconds"))
    p = load("ws_bybit_all_liquidation_docs.json")
    p["data"][0]["T"] = 1739502302
    cases.append((parse_bybit_all_liquidation, p, r"data\[0\]\.T 1739502302 is in seconds"))
    p = load("ws_okx_liquidation_orders_docs.json")
    p["data"][0]["details"][0]["ts"] = "99999999999999999"
    cases.append(
        (
            lambda x: parse_okx_liquidation_orders(x, {"IOST-USDT-SWAP": 1.0}),
            p,
            r"details\[0\]\.ts .* outside the years",
        )
    )
    for parse, payload, message in cases:
        with pytest.raises(PermanentExchangeError, match=message):
            parse(payload)


def test_fields_ms_is_the_one_shared_check() -> None:
    f = Fields("okx", "/x")
    assert f.ms("1704067200000", "ts") == 1704067200000
    with pytest.raises(MalformedPayload, match=r"okx /x: malformed payload: ts 1420070399999 is outside"):
        f.ms(1420070399999, "ts")
