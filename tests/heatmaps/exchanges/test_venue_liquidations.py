"""Deribit's liquidations (trades flagged ``liquidation``) on the documented and recorded trade pushes, through
the recorder loop against a stand-in websocket server."""

from __future__ import annotations

import asyncio
import copy
import json
import logging
from pathlib import Path
from typing import Any

import pytest

from heatmaps.exchanges.errors import MalformedPayload
from heatmaps.exchanges.liquidation_stream import stream_liquidations
from heatmaps.exchanges.venue_liquidations import deribit_stream_spec, parse_deribit_trades
from heatmaps.rows import LiquidationRow
from tests.heatmaps.exchanges.fake_ws import FakeWsServer

FIXTURES = Path(__file__).parent / "fixtures"
INVERSE = {"BTC-PERPETUAL": True}


def fixture(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((FIXTURES / name).read_text())
    return loaded


def flagged(frame: dict[str, Any], *flags: str, instrument: str | None = None) -> dict[str, Any]:
    """The frame with its trades flagged as Deribit flags a liquidation's trades (one flag per trade)."""
    out = copy.deepcopy(frame)
    for trade, flag in zip(out["params"]["data"], flags, strict=True):
        trade["liquidation"] = flag
        if instrument is not None:
            trade["instrument_name"] = instrument
    return out


def test_documented_and_recorded_trades_without_the_flag_are_no_liquidations() -> None:
    for name in ("ws_deribit_trades_docs.json", "ws_deribit_trades_nautilus.json"):
        frame = fixture(name)
        assert frame["params"]["data"], name
        assert parse_deribit_trades(frame, INVERSE) == []
        assert parse_deribit_trades(json.dumps(frame), INVERSE) == []


def test_a_taker_seller_liquidated_was_long_and_the_usd_amount_is_its_value() -> None:
    # The documented trade: a taker sell of 10 USD of BTC-PERPETUAL at 8950, flagged as the taker's liquidation.
    (row,) = parse_deribit_trades(flagged(fixture("ws_deribit_trades_docs.json"), "T"), INVERSE)
    assert row.side == "long"
    assert row.symbol == "BTC-PERPETUAL" and row.time_ms == 1590484512188 and row.price == 8950
    assert row.value == pytest.approx(10.0)  # inverse: amount is USD
    assert row.quantity == pytest.approx(10.0 / 8950)  # coin = USD / price
    assert row.value == pytest.approx(row.price * row.quantity)


def test_the_maker_side_is_opposite_the_taker_direction_and_both_sides_give_two_rows() -> None:
    frame = fixture("ws_deribit_trades_nautilus.json")  # two taker sells
    maker, both = (
        parse_deribit_trades(flagged(frame, "M", "MT"), INVERSE)[0],
        parse_deribit_trades(flagged(frame, "MT", "T"), INVERSE),
    )
    assert maker.side == "short"  # the maker bought: a short position was being closed
    assert maker.value == pytest.approx(10.0)
    assert [r.side for r in both] == ["long", "short", "long"]
    assert both[0].quantity == both[1].quantity == pytest.approx(10.0 / 92294.5)
    assert both[2].value == pytest.approx(750.0)
    assert len({r.dedupe_key for r in both}) == 3  # the two sides of one trade are two events


def test_a_linear_perpetual_counts_in_the_coin_and_an_unknown_kind_is_left_out() -> None:
    frame = flagged(fixture("ws_deribit_trades_nautilus.json"), "T", "T", instrument="BTC_USDC-PERPETUAL")
    rows = parse_deribit_trades(frame, {"BTC_USDC-PERPETUAL": False})
    assert [r.quantity for r in rows] == [10.0, 750.0]
    assert rows[1].value == pytest.approx(750.0 * 92288.5)

    unsized: list[str] = []
    assert parse_deribit_trades(frame, INVERSE, on_unsized=unsized.append) == []
    assert unsized == ["BTC_USDC-PERPETUAL", "BTC_USDC-PERPETUAL"]


def test_acks_pings_and_errors() -> None:
    assert parse_deribit_trades(fixture("ws_deribit_subscribe_response_nautilus.json"), INVERSE) == []
    assert parse_deribit_trades(fixture("ws_deribit_test_request_nautilus.json"), INVERSE) == []
    assert parse_deribit_trades(fixture("ws_deribit_ticker_nautilus.json"), INVERSE) == []
    with pytest.raises(MalformedPayload, match="refused: code 10028 too_many_requests"):
        parse_deribit_trades(fixture("deribit_error_nautilus.json"), INVERSE)
    bad = flagged(fixture("ws_deribit_trades_docs.json"), "X")
    with pytest.raises(MalformedPayload, match="liquidation is 'X'"):
        parse_deribit_trades(bad, INVERSE)
    seconds = flagged(fixture("ws_deribit_trades_docs.json"), "T")
    seconds["params"]["data"][0]["timestamp"] = 1590484512
    with pytest.raises(MalformedPayload, match="timestamp"):
        parse_deribit_trades(seconds, INVERSE)


def deribit_frames(n: int) -> list[str]:
    """n trade pushes, each one flagged trade; even i a taker sell ("T": long), odd i a taker buy ("T": short)."""
    base = fixture("ws_deribit_trades_docs.json")
    frames = []
    for i in range(n):
        frame = flagged(base, "T")
        frame["params"]["channel"] = "trades.BTC-PERPETUAL.100ms"
        trade = frame["params"]["data"][0]
        trade.update(
            trade_id=str(48079269 + i),
            trade_seq=30289442 + i,
            timestamp=1590484512188 + i * 100,
            direction="sell" if i % 2 == 0 else "buy",
            amount=10 * (i + 1),
        )
        frames.append(json.dumps(frame))
    return frames


def test_the_stream_subscribes_again_after_a_drop_pings_and_stores_each_liquidation_once() -> None:
    n = 8
    rows: list[LiquidationRow] = []

    async def main() -> tuple[FakeWsServer, Any]:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()

        def sink(batch: list[LiquidationRow]) -> None:
            rows.extend(batch)
            if len(rows) >= n:
                loop.call_soon_threadsafe(stop.set)

        spec = deribit_stream_spec(["BTC-PERPETUAL"], INVERSE)
        ack = (FIXTURES / "ws_deribit_subscribe_response_nautilus.json").read_text()
        async with FakeWsServer(deribit_frames(n), drops=[3], replay=1, ack=ack, interval=0.02) as server:
            stats = await asyncio.wait_for(
                stream_liquidations(
                    server.url,
                    spec.subscribe_message,
                    spec.parse,
                    sink,
                    batch_size=2,
                    flush_seconds=0.05,
                    stop_event=stop,
                    logger=logging.getLogger("test.deribit"),
                    ping_message=spec.ping_message,
                    ping_interval=0.03,
                    backoff_base=0.01,
                    backoff_max=0.05,
                ),
                timeout=15,
            )
        return server, stats

    server, stats = asyncio.run(main())
    subscribed = [c for c, m in server.received if json.loads(m).get("method") == "public/subscribe"]
    assert server.connections == 2 and subscribed == [1, 2]
    first = json.loads(next(m for c, m in server.received if c == 1))
    assert first["method"] == "public/subscribe"
    assert first["params"] == {"channels": ["trades.BTC-PERPETUAL.100ms"]}  # public: "raw" needs a login
    assert any(json.loads(m).get("method") == "public/test" for _c, m in server.received[1:])
    assert stats.duplicates == 1  # the replayed push
    ordered = sorted(rows, key=lambda r: r.time_ms)
    assert len(ordered) == n and len({r.dedupe_key for r in ordered}) == n
    assert [r.side for r in ordered] == ["long", "short"] * (n // 2)
    assert [r.value for r in ordered] == [10.0 * (i + 1) for i in range(n)]
