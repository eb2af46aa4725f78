"""Stand-in servers for Hyperliquid (POST /info), Bitget (v2 mix REST), Gate (API v4 futures), BitMEX (API v1) and
Deribit (API v2 public methods) on 127.0.0.1, over the same
deterministic ``Series`` as the Binance/Bybit/OKX fake, so one ``base_url`` serves every venue::

    with FakeVenues(Series(...)) as fake:
        conn = get_connector("hyperliquid", base_url=fake.base_url, now_ms=lambda: fake.now_ms)

Answers follow each venue's documented shapes and paging (Hyperliquid: at most 500 elements from ``startTime``
on, the newest 5000 candles only; Bitget: ``history-candles`` at most 200, funding newest first in pages of
``pageSize`` ≤ 100; Gate: times in seconds, volumes and open interest in contracts of ``GATE_MULTIPLIER``,
contract statistics at most ``gate_stats_cap`` rows from ``from`` on, funding newest first; BitMEX: ISO times,
buckets stamped with their end, XBTUSDT linear at 1e-6 XBT a contract beside the recorded inverse XBTUSD;
Deribit: JSON-RPC envelopes, BTC-PERPETUAL inverse with its open interest in USD). Faults queue as on the base fake (``fail_next``, ``rate_limit_next``, ``malform_next``).
"""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from heatmaps.rows import BASE_BAR_MS, CandleRow, FundingRow, OpenInterestRow
from tests.heatmaps.exchanges.fake_exchange import FakeExchange, Series, _Reply, _s

FIXTURES = Path(__file__).parent / "fixtures"
HYPERLIQUID_COIN = "BTC"
BITGET_SYMBOL = "BTCUSDT"
GATE_SYMBOL = "BTC_USDT"
GATE_MULTIPLIER = 0.0001
BITMEX_SYMBOL = "XBTUSDT"
BITMEX_CONTRACTS_PER_COIN = 1_000_000
DERIBIT_SYMBOL = "BTC-PERPETUAL"
HL_PAGE = 500
HL_CANDLE_HISTORY = 5000


class FakeVenues(FakeExchange):
    def __init__(self, series: Series | None = None, **kwargs: Any) -> None:
        super().__init__(series, **kwargs)
        self.symbols.update({"hyperliquid": HYPERLIQUID_COIN, "bitget": BITGET_SYMBOL, "gate": GATE_SYMBOL})
        self.gate_stats_cap = 100  # rows contract_stats answers at most, whatever ``limit`` asks
        self.gate_contract: dict[str, Any] = json.loads((FIXTURES / "gate_contract_docs.json").read_text())
        self.gate_contract["quanto_multiplier"] = str(GATE_MULTIPLIER)
        self.gate_contract_names = [GATE_SYMBOL, "ETH_USDT"]
        self.symbols["bitmex"] = BITMEX_SYMBOL
        self.symbols["deribit"] = DERIBIT_SYMBOL
        self.deribit_instruments: list[dict[str, Any]] = json.loads(
            (FIXTURES / "deribit_instruments_nautilus.json").read_text()
        )["result"]
        self.bitmex_inverse: dict[str, Any] = json.loads(
            (FIXTURES / "bitmex_instrument_xbtusd_nautilus.json").read_text()
        )
        # Hyperliquid's universe: the recorded meta (BTC, ETH, ATOM); each gets a context in ``_hl_meta``.
        self.hl_universe: list[dict[str, Any]] = json.loads((FIXTURES / "hyperliquid_meta_nautilus.json").read_text())[
            "universe"
        ]
        # clearinghouseState answers by address (lower case); an unknown address is an empty account.
        self.hl_accounts: dict[str, dict[str, Any]] = {}
        self.hl_account_reads: list[str] = []
        self.leaderboard: list[str] = []
        self.bitget_contracts: list[dict[str, Any]] = json.loads(
            (FIXTURES / "bitget_contracts_nautilus.json").read_text()
        )["data"]
        self._routes.update(
            {
                "/info": self._hyperliquid_info,
                "/Mainnet/leaderboard": self._hl_leaderboard,
                "/api/v2/mix/market/history-candles": self._bitget_candles,
                "/api/v2/mix/market/open-interest": self._bitget_oi,
                "/api/v2/mix/market/history-fund-rate": self._bitget_funding,
                "/api/v2/mix/market/ticker": self._bitget_ticker,
                "/api/v2/mix/market/contracts": self._bitget_contracts,
                "/api/v4/futures/usdt/candlesticks": self._gate_candles,
                "/api/v4/futures/usdt/contract_stats": self._gate_stats,
                "/api/v4/futures/usdt/funding_rate": self._gate_funding,
                "/api/v4/futures/usdt/contracts": self._gate_contracts,
                f"/api/v4/futures/usdt/contracts/{GATE_SYMBOL}": lambda _p: self._gate_contract(GATE_SYMBOL),
                "/api/v4/futures/usdt/contracts/XBT_USDT": lambda _p: self._gate_contract("XBT_USDT"),
                "/api/v1/trade/bucketed": self._bitmex_buckets,
                "/api/v1/instrument": self._bitmex_instrument,
                "/api/v1/instrument/active": lambda _p: [self._bitmex_linear(), self.bitmex_inverse],
                "/api/v1/funding": self._bitmex_funding,
                "/api/v2/public/get_tradingview_chart_data": self._deribit_chart,
                "/api/v2/public/ticker": self._deribit_ticker,
                "/api/v2/public/get_instrument": self._deribit_instrument,
                "/api/v2/public/get_instruments": lambda _p: self._deribit(self.deribit_instruments),
                "/api/v2/public/get_funding_rate_history": self._deribit_funding,
            }
        )

    def start(self) -> FakeVenues:
        self._server = ThreadingHTTPServer((self._host, 0), _make_handler(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="fake-venues", daemon=True)
        self._thread.start()
        return self

    def __enter__(self) -> FakeVenues:
        return self.start()

    # ----------------------------------------------------------------- what a connector should return

    def current_index(self) -> int:
        return min(self.series.bars - 1, (self.now_ms - self.series.start_ms) // BASE_BAR_MS)

    def hl_candle_rows(self, start_ms: int, end_ms: int) -> list[CandleRow]:
        oldest = self.now_ms - self.now_ms % BASE_BAR_MS - (HL_CANDLE_HISTORY - 1) * BASE_BAR_MS
        return [
            CandleRow(b.open_time_ms, b.open, b.high, b.low, b.close, b.volume, None, None)
            for b in self.series.bars_between(max(start_ms, oldest), end_ms - 1)
            if b.open_time_ms + BASE_BAR_MS <= self.now_ms
        ]

    def bitget_candle_rows(self, start_ms: int, end_ms: int) -> list[CandleRow]:
        return [
            CandleRow(b.open_time_ms, b.open, b.high, b.low, b.close, b.volume, None, b.quote_volume)
            for b in self.series.bars_between(start_ms, end_ms - 1)
            if b.open_time_ms + BASE_BAR_MS <= self.now_ms
        ]

    def gate_candle_rows(self, start_ms: int, end_ms: int) -> list[CandleRow]:
        return [
            CandleRow(
                b.open_time_ms, b.open, b.high, b.low, b.close, round(b.volume / GATE_MULTIPLIER) * GATE_MULTIPLIER,
                None, b.quote_volume,
            )
            for b in self.series.bars_between(start_ms, end_ms - 1)
            if b.open_time_ms + BASE_BAR_MS <= self.now_ms
        ]  # fmt: skip

    def gate_oi_rows(self, start_ms: int, end_ms: int) -> list[OpenInterestRow]:
        return [
            OpenInterestRow(t, round(base / GATE_MULTIPLIER) * GATE_MULTIPLIER, value)
            for t, base, value in self.series.oi_between(start_ms, end_ms - 1)
            if t <= self.now_ms
        ]

    def bitmex_candle_rows(self, start_ms: int, end_ms: int) -> list[CandleRow]:
        return [
            CandleRow(b.open_time_ms, b.open, b.high, b.low, b.close, b.volume, None, b.quote_volume)
            for b in self.series.bars_between(start_ms, end_ms - 1)
            if b.open_time_ms + BASE_BAR_MS <= self.now_ms
        ]

    def funding_rows(self, start_ms: int, end_ms: int) -> list[FundingRow]:
        return [
            FundingRow(t, rate, None) for t, rate, _m in self.series.funding_between(start_ms, end_ms - 1)
            if t <= self.now_ms
        ]  # fmt: skip

    def oi_now(self, venue: str) -> OpenInterestRow:
        """The snapshot a connector stores: the current figure on the 5-minute boundary at or before now."""
        _t, base, _v = self.series.oi(self.current_index())
        at = self.now_ms - self.now_ms % BASE_BAR_MS
        mark = self.series.bar(self.current_index()).close
        if venue == "bitmex":  # contracts of 1e-6 XBT, back in the coin
            base = round(base * BITMEX_CONTRACTS_PER_COIN) * (1 / BITMEX_CONTRACTS_PER_COIN)
        if venue == "deribit":  # the USD open interest, and in the coin that value at the mark
            return OpenInterestRow(at, base * mark / mark, base * mark)
        return OpenInterestRow(at, base, base * mark if venue in ("hyperliquid", "bitmex") else None)

    # ----------------------------------------------------------------- Hyperliquid

    def _hyperliquid_info(self, p: dict[str, str]) -> Any:
        kind = p.get("type")
        if kind == "candleSnapshot":
            return self._hl_candles(json.loads(p.get("req") or "{}"))
        if kind == "metaAndAssetCtxs":
            return self._hl_meta()
        if kind == "fundingHistory":
            return self._hl_funding(p)
        if kind == "clearinghouseState":
            self.hl_account_reads.append(p.get("user", ""))
            empty = {"assetPositions": [], "marginSummary": {}, "withdrawable": "0.0", "time": self.now_ms}
            return self.hl_accounts.get(p.get("user", ""), empty)
        raise _Reply(422, "Failed to deserialize the JSON body into the target type")

    def _hl_candles(self, req: dict[str, Any]) -> Any:
        if req.get("interval") != "5m" or "startTime" not in req:
            raise _Reply(422, "Failed to deserialize the JSON body into the target type")
        if req.get("coin") != self.symbols["hyperliquid"]:
            return []
        oldest = self.now_ms - self.now_ms % BASE_BAR_MS - (HL_CANDLE_HISTORY - 1) * BASE_BAR_MS
        lo = max(int(req["startTime"]), oldest)
        hi = int(req.get("endTime") or self.now_ms)
        bars = [b for b in self.series.bars_between(lo, hi) if b.open_time_ms <= self.now_ms][:HL_PAGE]
        return [
            {
                "T": b.open_time_ms + BASE_BAR_MS - 1,
                "c": _s(b.close),
                "h": _s(b.high),
                "i": "5m",
                "l": _s(b.low),
                "n": b.trades,
                "o": _s(b.open),
                "s": self.symbols["hyperliquid"],
                "t": b.open_time_ms,
                "v": _s(b.volume),
            }
            for b in bars
        ]

    def _hl_leaderboard(self, p: dict[str, str]) -> Any:
        rows = [
            {"ethAddress": a, "accountValue": "1000.0", "windowPerformances": [], "prize": 0} for a in self.leaderboard
        ]
        return {"leaderboardRows": rows}

    def hl_position(
        self, coin: str, szi: float, value: float, liq: float | None, *, entry: float = 30_000.0, leverage: int = 5
    ) -> dict[str, Any]:
        """One ``assetPositions`` entry in the recorded shape."""
        return {
            "position": {
                "coin": coin,
                "entryPx": _s(entry),
                "leverage": {"type": "cross", "value": leverage},
                "liquidationPx": None if liq is None else _s(liq),
                "marginUsed": _s(value / leverage),
                "maxLeverage": 40,
                "positionValue": _s(value),
                "szi": _s(szi),
                "unrealizedPnl": "0.0",
            },
            "type": "oneWay",
        }

    def _hl_meta(self) -> Any:
        i = self.current_index()
        bar = self.series.bar(i)
        _t, base, _v = self.series.oi(i)
        ctxs = []
        for u in self.hl_universe:
            if u["name"] == self.symbols["hyperliquid"]:
                mark, oi = bar.close, base
            else:
                mark, oi = 10.0, 1234.5
            ctxs.append(
                {
                    "dayNtlVlm": "1169046.29406",
                    "funding": "0.0000125",
                    "impactPxs": [_s(mark - 0.5), _s(mark + 0.5)],
                    "markPx": _s(mark),
                    "midPx": _s(mark),
                    "openInterest": _s(oi),
                    "oraclePx": _s(mark - 1.5),
                    "premium": "0.00031774",
                    "prevDayPx": _s(mark),
                }
            )
        return [{"universe": self.hl_universe}, ctxs]

    def _hl_funding(self, body: dict[str, str]) -> Any:
        if "startTime" not in body:
            raise _Reply(422, "Failed to deserialize the JSON body into the target type")
        if body.get("coin") != self.symbols["hyperliquid"]:
            return []
        hi = int(body.get("endTime") or self.now_ms)
        rows = [f for f in self.series.funding_between(int(body["startTime"]), hi) if f[0] <= self.now_ms][:HL_PAGE]
        return [
            {"coin": self.symbols["hyperliquid"], "fundingRate": f"{rate:.8f}", "premium": "0.00010000", "time": t}
            for t, rate, _m in rows
        ]

    # ----------------------------------------------------------------- Bitget

    def _bitget(self, data: Any) -> dict[str, Any]:
        return {"code": "00000", "msg": "success", "requestTime": self.now_ms, "data": data}

    def _bitget_check(self, p: dict[str, str], *, symbol: bool = True) -> None:
        if p.get("productType", "").upper() != "USDT-FUTURES":
            raise _Reply(400, {"code": "40034", "msg": "Parameter productType does not exist", "data": None})
        if symbol and p.get("symbol") != self.symbols["bitget"]:
            msg = f"Parameter {p.get('symbol')} does not exist"
            raise _Reply(400, {"code": "40034", "msg": msg, "requestTime": self.now_ms, "data": None})

    def _bitget_candles(self, p: dict[str, str]) -> Any:
        self._bitget_check(p)
        limit = int(p.get("limit", 100))
        if not 1 <= limit <= 200 or p.get("granularity") != "5m":
            raise _Reply(400, {"code": "40020", "msg": "Parameter limit or granularity error", "data": None})
        hi = int(p.get("endTime", self.now_ms))
        bars = [b for b in self.series.bars_between(int(p.get("startTime", 0)), hi) if b.open_time_ms <= self.now_ms]
        bars = bars[-limit:]  # the newest ``limit`` of the range, oldest first
        return self._bitget(
            [
                [str(b.open_time_ms), _s(b.open), _s(b.high), _s(b.low), _s(b.close), _s(b.volume), _s(b.quote_volume)]
                for b in bars
            ]
        )

    def _bitget_oi(self, p: dict[str, str]) -> Any:
        self._bitget_check(p)
        _t, base, _v = self.series.oi(self.current_index())
        return self._bitget(
            {"openInterestList": [{"symbol": self.symbols["bitget"], "size": _s(base)}], "ts": str(self.now_ms)}
        )

    def _bitget_funding(self, p: dict[str, str]) -> Any:
        self._bitget_check(p)
        size, page = int(p.get("pageSize", 20)), int(p.get("pageNo", 1))
        if not 1 <= size <= 100 or page < 1:
            raise _Reply(400, {"code": "40020", "msg": "Parameter pageSize error", "data": None})
        rows = [f for f in self.series.funding() if f[0] <= self.now_ms][::-1][(page - 1) * size : page * size]
        return self._bitget(
            [
                {"symbol": self.symbols["bitget"], "fundingRate": f"{rate:.6f}", "fundingTime": str(t)}
                for t, rate, _m in rows
            ]
        )

    def _bitget_ticker(self, p: dict[str, str]) -> Any:
        self._bitget_check(p)
        close = self.series.bar(self.current_index()).close
        return self._bitget(
            [
                {
                    "symbol": self.symbols["bitget"],
                    "lastPr": _s(close),
                    "indexPrice": _s(close - 1.5),
                    "markPrice": _s(close),
                    "fundingRate": "0.0001",
                    "holdingAmount": "125.6844",
                    "ts": str(self.now_ms),
                }
            ]
        )

    def _bitget_contracts(self, p: dict[str, str]) -> Any:
        self._bitget_check(p, symbol=False)
        return self._bitget(self.bitget_contracts)

    # ----------------------------------------------------------------- Gate

    def _gate_check(self, p: dict[str, str]) -> None:
        if p.get("contract") != self.symbols["gate"]:
            raise _Reply(400, {"label": "CONTRACT_NOT_FOUND", "message": "Contract not found"})

    def _gate_candles(self, p: dict[str, str]) -> Any:
        self._gate_check(p)
        if p.get("interval") != "5m" or "limit" in p:
            raise _Reply(400, {"label": "INVALID_PARAM_VALUE", "message": "interval, or limit with from/to"})
        lo, hi = int(p["from"]) * 1000, int(p.get("to", self.now_ms // 1000)) * 1000
        if (hi - lo) // BASE_BAR_MS >= 2000:
            raise _Reply(400, {"label": "INVALID_PARAM_VALUE", "message": "too many points"})
        bars = [b for b in self.series.bars_between(lo, hi) if b.open_time_ms <= self.now_ms]
        return [
            {
                "t": b.open_time_ms // 1000,
                "v": round(b.volume / GATE_MULTIPLIER),
                "c": _s(b.close),
                "h": _s(b.high),
                "l": _s(b.low),
                "o": _s(b.open),
                "sum": _s(b.quote_volume),
            }
            for b in bars
        ]

    def _gate_stats(self, p: dict[str, str]) -> Any:
        self._gate_check(p)
        if p.get("interval", "5m") != "5m":
            raise _Reply(400, {"label": "INVALID_PARAM_VALUE", "message": "interval"})
        limit = min(int(p.get("limit", 30)), self.gate_stats_cap)
        rows = [r for r in self.series.oi_between(int(p["from"]) * 1000, self.now_ms) if r[0] <= self.now_ms][:limit]
        return [
            {
                "time": t // 1000,
                "lsr_taker": 1.1,
                "lsr_account": 0.9,
                "open_interest": round(base / GATE_MULTIPLIER),
                "open_interest_usd": value,
                "mark_price": _s(value / base),
            }
            for t, base, value in rows
        ]

    def _gate_funding(self, p: dict[str, str]) -> Any:
        self._gate_check(p)
        limit = int(p.get("limit", 100))
        lo, hi = int(p.get("from", 0)) * 1000, int(p.get("to", self.now_ms // 1000)) * 1000
        rows = [f for f in self.series.funding_between(lo, hi) if f[0] <= self.now_ms][::-1][:limit]
        return [{"t": t // 1000, "r": f"{rate:.6f}"} for t, rate, _m in rows]

    def _gate_contracts(self, p: dict[str, str]) -> Any:
        return [{**self.gate_contract, "name": name} for name in self.gate_contract_names]

    def _gate_contract(self, name: str) -> Any:
        if name != self.symbols["gate"]:
            raise _Reply(400, {"label": "CONTRACT_NOT_FOUND", "message": "Contract not found"})
        close = self.series.bar(self.current_index()).close
        step = self.series.funding_every_ms
        return {
            **self.gate_contract,
            "mark_price": _s(close),
            "index_price": _s(close - 1.5),
            "funding_rate": "0.0001",
            "funding_next_apply": (self.now_ms // step + 1) * step // 1000,
        }

    # ----------------------------------------------------------------- BitMEX

    def _bitmex_linear(self) -> dict[str, Any]:
        """XBTUSDT as the recorded XBTUSD instrument, made linear: USDT-quoted and settled, 1e-6 XBT a contract."""
        i = self.current_index()
        _t, base, _v = self.series.oi(i)
        close = self.series.bar(i).close
        step = self.series.funding_every_ms
        return {
            **self.bitmex_inverse,
            "symbol": BITMEX_SYMBOL,
            "quoteCurrency": "USDT",
            "positionCurrency": "XBT",
            "settlCurrency": "USDt",
            "isInverse": False,
            "multiplier": 1,
            "underlyingToPositionMultiplier": BITMEX_CONTRACTS_PER_COIN,
            "openInterest": round(base * BITMEX_CONTRACTS_PER_COIN),
            "markPrice": close,
            "indicativeSettlePrice": close - 1.5,
            "fundingRate": 0.0001,
            "fundingTimestamp": _iso((self.now_ms // step + 1) * step),
            "timestamp": _iso(self.now_ms),
        }

    def _bitmex_instrument(self, p: dict[str, str]) -> Any:
        return [inst for inst in (self._bitmex_linear(), self.bitmex_inverse) if inst["symbol"] == p.get("symbol")]

    def _bitmex_buckets(self, p: dict[str, str]) -> Any:
        if p.get("binSize") != "5m" or p.get("partial") != "false":
            raise _Reply(400, {"error": {"message": "binSize or partial", "name": "ValidationError"}})
        if p.get("symbol") != BITMEX_SYMBOL:
            return []
        count = int(p.get("count", 100))
        if not 1 <= count <= 1000:
            raise _Reply(400, {"error": {"message": "count must be at most 1000", "name": "ValidationError"}})
        lo, hi = _ms(p["startTime"]), _ms(p.get("endTime", _iso(self.now_ms)))
        bars = [
            b for b in self.series.bars_between(lo - BASE_BAR_MS, hi - BASE_BAR_MS)
            if b.open_time_ms + BASE_BAR_MS <= self.now_ms
        ][:count]  # fmt: skip
        return [
            {
                "timestamp": _iso(b.open_time_ms + BASE_BAR_MS),  # the bucket's end
                "symbol": BITMEX_SYMBOL,
                "open": b.open,
                "high": b.high,
                "low": b.low,
                "close": b.close,
                "trades": b.trades,
                "volume": round(b.volume * BITMEX_CONTRACTS_PER_COIN),
                "homeNotional": b.volume,
                "foreignNotional": b.quote_volume,
            }
            for b in bars
        ]

    def _bitmex_funding(self, p: dict[str, str]) -> Any:
        if p.get("symbol") != BITMEX_SYMBOL:
            return []
        count = int(p.get("count", 100))
        if not 1 <= count <= 500:
            raise _Reply(400, {"error": {"message": "count must be at most 500", "name": "ValidationError"}})
        lo, hi = _ms(p["startTime"]), _ms(p.get("endTime", _iso(self.now_ms)))
        rows = [f for f in self.series.funding_between(lo, hi) if f[0] <= self.now_ms][:count]
        return [
            {
                "timestamp": _iso(t),
                "symbol": BITMEX_SYMBOL,
                "fundingInterval": "2000-01-01T08:00:00.000Z",
                "fundingRate": rate,
                "fundingRateDaily": rate * 3,
            }
            for t, rate, _m in rows
        ]

    # ----------------------------------------------------------------- Deribit

    def _deribit(self, result: Any) -> dict[str, Any]:
        return {"jsonrpc": "2.0", "result": result, "usIn": self.now_ms * 1000, "usOut": self.now_ms * 1000 + 200,
                "usDiff": 200, "testnet": False}  # fmt: skip

    def _deribit_check(self, p: dict[str, str]) -> None:
        if p.get("instrument_name") != DERIBIT_SYMBOL:
            raise _Reply(
                400,
                {
                    "jsonrpc": "2.0",
                    "error": {
                        "message": "Invalid params",
                        "data": {"reason": "wrong format", "param": "instrument_name"},
                        "code": -32602,
                    },
                },
            )

    def _deribit_chart(self, p: dict[str, str]) -> Any:
        self._deribit_check(p)
        if p.get("resolution") != "5":
            raise _Reply(400, {"jsonrpc": "2.0", "error": {"message": "Invalid params", "code": -32602}})
        bars = [
            b for b in self.series.bars_between(int(p["start_timestamp"]), int(p["end_timestamp"]))
            if b.open_time_ms <= self.now_ms  # the forming bar is served too
        ]  # fmt: skip
        if not bars:
            return self._deribit({"status": "no_data", "ticks": [], "open": [], "high": [], "low": [], "close": []})
        return self._deribit(
            {
                "status": "ok",
                "ticks": [b.open_time_ms for b in bars],
                "open": [b.open for b in bars],
                "high": [b.high for b in bars],
                "low": [b.low for b in bars],
                "close": [b.close for b in bars],
                "volume": [b.volume for b in bars],
                "cost": [b.quote_volume for b in bars],
            }
        )

    def _deribit_ticker(self, p: dict[str, str]) -> Any:
        self._deribit_check(p)
        i = self.current_index()
        _t, base, _v = self.series.oi(i)
        close = self.series.bar(i).close
        return self._deribit(
            {
                "timestamp": self.now_ms,
                "state": "open",
                "instrument_name": DERIBIT_SYMBOL,
                "index_price": close - 1.5,
                "mark_price": close,
                "open_interest": base * close,  # an inverse perpetual's open interest is in USD
                "current_funding": 0.00001,
                "funding_8h": 0.00008,
            }
        )

    def _deribit_instrument(self, p: dict[str, str]) -> Any:
        found = [i for i in self.deribit_instruments if i["instrument_name"] == p.get("instrument_name")]
        if not found:
            raise _Reply(400, {"jsonrpc": "2.0", "error": {"message": "not_found", "code": 13020}})
        return self._deribit(found[0])

    def _deribit_funding(self, p: dict[str, str]) -> Any:
        self._deribit_check(p)
        lo, hi = int(p["start_timestamp"]), int(p["end_timestamp"])
        if hi - lo > 31 * 86_400_000:
            raise _Reply(400, {"jsonrpc": "2.0", "error": {"message": "Invalid params", "code": -32602}})
        rows = [f for f in self.series.funding_between(lo, hi) if f[0] <= self.now_ms]
        return self._deribit(
            [
                {"timestamp": t, "index_price": m, "prev_index_price": m, "interest_8h": rate * 8, "interest_1h": rate}
                for t, rate, m in rows
            ]
        )


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def _ms(text: str) -> int:
    return round(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1000)


def _make_handler(fake: FakeVenues) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True
        wbufsize = -1

        def _answer(self, status: int, headers: dict[str, str], body: bytes) -> None:
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                for k, v in headers.items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):
                pass

        def do_GET(self) -> None:
            url = urlsplit(self.path)
            params = dict(parse_qsl(url.query, keep_blank_values=True))
            self._answer(*fake.handle(url.path, params, dict(self.headers.items())))

        def do_POST(self) -> None:
            url = urlsplit(self.path)
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            try:
                body = json.loads(raw)
            except json.JSONDecodeError:
                self._answer(422, {}, b"Failed to deserialize the JSON body")
                return
            # Routes take flat string parameters as for a GET: nested values JSON-encoded, the rest as text.
            flat = {k: json.dumps(v) if isinstance(v, dict | list) else str(v) for k, v in body.items()}
            self._answer(*fake.handle(url.path, flat, dict(self.headers.items())))

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler
