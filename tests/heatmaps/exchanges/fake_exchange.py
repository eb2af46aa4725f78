"""A fake Binance / Bybit / OKX REST server for tests (stdlib ``http.server`` on 127.0.0.1, ephemeral port).

One server answers all three exchanges' paths (they do not collide), so one ``base_url`` works for every
connector. Data comes from a deterministic ``Series``; paging follows the documented semantics of each
endpoint. Faults can be queued (429 + Retry-After, 418, 500, slow responses, a malformed row), and every
request is recorded::

    with FakeExchange(Series(start_ms=..., bars=2016)) as fake:
        fake.rate_limit_next(retry_after=7)
        conn = get_connector("binance", base_url=fake.base_url, now_ms=lambda: fake.now_ms, sleep=...)
        rows = conn.fetch_candles("BTCUSDT", a, b)
        assert rows == fake.series.candle_rows("binance", a, b, now_ms=fake.now_ms)
        fake.requests  # [RecordedRequest(path, params, headers, at), ...]
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from heatmaps.rows import BASE_BAR_MS, CandleRow, FundingRow, OpenInterestRow

HOUR_MS = 3_600_000
DAY_MS = 86_400_000
JAN_2024_MS = 1_704_067_200_000  # 2024-01-01T00:00:00Z

BINANCE_SYMBOL = "BTCUSDT"
BYBIT_SYMBOL = "BTCUSDT"
OKX_SYMBOL = "BTC-USDT-SWAP"


# --------------------------------------------------------------------------- deterministic data


@dataclass(frozen=True)
class Bar:
    open_time_ms: int
    open: float
    high: float
    low: float
    close: float
    volume: float
    taker_buy_volume: float
    quote_volume: float
    trades: int


@dataclass(frozen=True)
class Series:
    """``bars`` 5-minute bars from ``start_ms`` (aligned), open interest at every bar time, funding every
    ``funding_every_ms`` from the first aligned time at or after ``start_ms``."""

    start_ms: int = JAN_2024_MS
    bars: int = 2016  # 7 days
    funding_every_ms: int = 8 * HOUR_MS

    def __post_init__(self) -> None:
        if self.start_ms % BASE_BAR_MS:
            raise ValueError("start_ms must be aligned to 5 minutes")

    @property
    def end_ms(self) -> int:
        """End (exclusive) of the last bar."""
        return self.start_ms + self.bars * BASE_BAR_MS

    def bar_time(self, i: int) -> int:
        return self.start_ms + i * BASE_BAR_MS

    @staticmethod
    def _price(i: int) -> float:
        return round(30_000 + 800 * math.sin(i / 37) + 0.5 * i, 2)

    def bar(self, i: int) -> Bar:
        o, c = self._price(i), self._price(i + 1)
        v = round(10 + (i % 7) * 1.25, 3)
        return Bar(
            open_time_ms=self.bar_time(i),
            open=o,
            high=round(max(o, c) + 5 + i % 3, 2),
            low=round(min(o, c) - 5 - i % 4, 2),
            close=c,
            volume=v,
            taker_buy_volume=round(v * 0.4, 3),
            quote_volume=round(v * (o + c) / 2, 4),
            trades=100 + i % 50,
        )

    @cached_property
    def _bars(self) -> list[Bar]:
        return [self.bar(i) for i in range(self.bars)]

    @cached_property
    def _oi(self) -> list[tuple[int, float, float]]:
        return [self.oi(i) for i in range(self.bars)]

    def _index_range(self, lo: int, hi: int) -> range:
        first = max(0, -(-(lo - self.start_ms) // BASE_BAR_MS))
        last = min(self.bars - 1, (hi - self.start_ms) // BASE_BAR_MS)
        return range(first, last + 1)

    def bars_between(self, lo: int, hi: int) -> list[Bar]:
        """Bars with lo <= open_time <= hi (inclusive), oldest first."""
        r = self._index_range(lo, hi)
        return self._bars[r.start : r.stop] if r else []

    def oi(self, i: int) -> tuple[int, float, float]:
        base = round(80_000 + 25 * math.cos(i / 11) + 0.125 * i, 3)
        return self.bar_time(i), base, round(base * self.bar(i).close, 2)

    def oi_between(self, lo: int, hi: int) -> list[tuple[int, float, float]]:
        r = self._index_range(lo, hi)
        return self._oi[r.start : r.stop] if r else []

    def funding(self) -> list[tuple[int, float, float]]:
        return self._funding

    @cached_property
    def _funding(self) -> list[tuple[int, float, float]]:
        step = self.funding_every_ms
        t = -(-self.start_ms // step) * step
        out = []
        k = 0
        while t < self.end_ms:
            i = (t - self.start_ms) // BASE_BAR_MS
            out.append((t, round(0.0001 * ((k % 5) - 1), 8), self.bar(i).open))
            t += step
            k += 1
        return out

    def funding_between(self, lo: int, hi: int) -> list[tuple[int, float, float]]:
        return [f for f in self.funding() if lo <= f[0] <= hi]

    # ---- what a connector should return for [start, end) with closed bars only at ``now_ms``

    def candle_rows(self, exchange: str, start_ms: int, end_ms: int, *, now_ms: int) -> list[CandleRow]:
        out = []
        for b in self.bars_between(start_ms, end_ms - 1):
            if b.open_time_ms + BASE_BAR_MS > now_ms:
                continue
            taker = b.taker_buy_volume if exchange == "binance" else None
            out.append(CandleRow(b.open_time_ms, b.open, b.high, b.low, b.close, b.volume, taker, b.quote_volume))
        return out

    def oi_rows(self, exchange: str, start_ms: int, end_ms: int, *, now_ms: int) -> list[OpenInterestRow]:
        return [
            OpenInterestRow(t, base, None if exchange == "bybit" else value)
            for t, base, value in self.oi_between(start_ms, end_ms - 1)
            if t <= now_ms and (exchange != "binance" or t >= now_ms - 30 * DAY_MS + 2 * BASE_BAR_MS)
        ]

    def funding_rows(self, exchange: str, start_ms: int, end_ms: int) -> list[FundingRow]:
        return [
            FundingRow(t, rate, mark if exchange == "binance" else None)
            for t, rate, mark in self.funding_between(start_ms, end_ms - 1)
        ]


# --------------------------------------------------------------------------- faults and records


@dataclass
class Fault:
    """One queued fault. ``path`` None matches any request; ``times`` is how many requests it hits."""

    status: int = 500
    path: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = None  # dict/list → JSON, str/bytes → raw; None → a default error body
    malformed: bool = False  # serve the normal page with its first row corrupted
    delay_s: float = 0.0  # sleep before answering (to trigger client timeouts)
    times: int = 1


@dataclass(frozen=True)
class RecordedRequest:
    path: str
    params: dict[str, str]
    headers: dict[str, str]
    at: float
    status: int


def _s(x: float) -> str:
    """Numbers go out as strings, as the exchanges send them."""
    return repr(float(x))


class _Reply(Exception):
    def __init__(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        self.status, self.body, self.headers = status, body, headers or {}


class FakeExchange:
    """Context manager running the fake server in a thread; see the module docstring."""

    def __init__(
        self,
        series: Series | None = None,
        *,
        now_ms: int | None = None,
        binance_symbol: str = BINANCE_SYMBOL,
        bybit_symbol: str = BYBIT_SYMBOL,
        okx_symbol: str = OKX_SYMBOL,
        host: str = "127.0.0.1",
    ) -> None:
        self.series = series or Series()
        # Default "now": two minutes into the last bar, so the last bar is still forming.
        self.now_ms = now_ms if now_ms is not None else self.series.end_ms - BASE_BAR_MS + 120_000
        self.symbols = {"binance": binance_symbol, "bybit": bybit_symbol, "okx": okx_symbol}
        self.requests: list[RecordedRequest] = []
        self.used_weight_override: int | None = None
        # OKX's instrument list: the recorded answer (three swaps: BTC-USD inverse, ETH- and BTC-USDT
        # linear); a test may replace it, e.g. to list a new swap.
        self.okx_instruments: list[dict[str, Any]] = json.loads(
            (Path(__file__).parent / "fixtures" / "okx_instruments_swap.json").read_text()
        )["data"]
        self._faults: list[Fault] = []
        self._weight: dict[int, int] = {}
        self._lock = threading.Lock()
        self._host = host
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._routes: dict[str, Callable[[dict[str, str]], Any]] = {
            "/fapi/v1/klines": self._binance_klines,
            "/futures/data/openInterestHist": self._binance_oi_hist,
            "/fapi/v1/openInterest": self._binance_oi_now,
            "/fapi/v1/fundingRate": self._binance_funding,
            "/fapi/v1/premiumIndex": self._binance_premium_index,
            "/v5/market/kline": self._bybit_kline,
            "/v5/market/open-interest": self._bybit_oi,
            "/v5/market/funding/history": self._bybit_funding,
            "/api/v5/market/history-candles": self._okx_candles,
            "/api/v5/market/candles": self._okx_candles,
            "/api/v5/rubik/stat/contracts/open-interest-history": self._okx_oi,
            "/api/v5/public/funding-rate-history": self._okx_funding,
            "/api/v5/public/instruments": self._okx_instruments,
        }

    # ----------------------------------------------------------------- lifecycle

    def start(self) -> FakeExchange:
        handler = _make_handler(self)
        self._server = ThreadingHTTPServer((self._host, 0), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="fake-exchange", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FakeExchange:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        assert self._server is not None, "FakeExchange is not running"
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    # ----------------------------------------------------------------- faults

    def add_fault(self, fault: Fault) -> None:
        with self._lock:
            self._faults.append(fault)

    def fail_next(
        self,
        status: int = 500,
        *,
        path: str | None = None,
        times: int = 1,
        retry_after: float | None = None,
        body: Any = None,
        headers: dict[str, str] | None = None,
        delay_s: float = 0.0,
    ) -> None:
        h = dict(headers or {})
        if retry_after is not None:
            h["Retry-After"] = str(int(retry_after)) if float(retry_after).is_integer() else str(retry_after)
        self.add_fault(Fault(status=status, path=path, headers=h, body=body, times=times, delay_s=delay_s))

    def rate_limit_next(self, retry_after: float = 7, *, path: str | None = None, times: int = 1) -> None:
        """HTTP 429 with ``Retry-After`` and Binance's -1003 body."""
        body = {"code": -1003, "msg": "Too many requests; current limit of IP is 2400 requests per minute."}
        self.fail_next(429, path=path, times=times, retry_after=retry_after, body=body)

    def ban_next(self, retry_after: float = 180, *, path: str | None = None, status: int = 418) -> None:
        """HTTP 418 (Binance IP ban) with ``Retry-After``."""
        body = {"code": -1003, "msg": "Way too many requests; IP banned until 1700000000000."}
        self.fail_next(status, path=path, retry_after=retry_after, body=body)

    def malform_next(self, *, path: str | None = None, times: int = 1) -> None:
        self.add_fault(Fault(status=200, path=path, malformed=True, times=times))

    def slow_next(self, delay_s: float, *, path: str | None = None, times: int = 1) -> None:
        self.add_fault(Fault(status=200, path=path, delay_s=delay_s, times=times))

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def requests_to(self, path: str) -> list[RecordedRequest]:
        return [r for r in self.requests if r.path == path]

    def _take_fault(self, path: str) -> Fault | None:
        with self._lock:
            for f in self._faults:
                if f.path is None or f.path == path:
                    f.times -= 1
                    if f.times <= 0:
                        self._faults.remove(f)
                    return f
        return None

    # ----------------------------------------------------------------- dispatch

    def handle(self, path: str, params: dict[str, str], headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        fault = self._take_fault(path)
        if fault is not None and fault.delay_s:
            time.sleep(fault.delay_s)
        status, extra, body = self._respond(path, params, fault)
        with self._lock:
            self.requests.append(RecordedRequest(path, params, headers, time.time(), status))
        return status, extra, body

    def _respond(self, path: str, params: dict[str, str], fault: Fault | None) -> tuple[int, dict[str, str], bytes]:
        out_headers: dict[str, str] = {}
        if path.startswith("/fapi/") or path.startswith("/futures/"):
            out_headers["X-MBX-USED-WEIGHT-1M"] = str(self._add_weight(path, params))
        if fault is not None and not fault.malformed and fault.status != 200:
            body = fault.body if fault.body is not None else {"error": f"injected HTTP {fault.status}"}
            return fault.status, {**out_headers, **fault.headers}, _encode(body)
        route = self._routes.get(path)
        if route is None:
            return 404, out_headers, _encode({"error": f"no route {path}"})
        try:
            payload = route(params)
        except _Reply as reply:
            return reply.status, {**out_headers, **reply.headers}, _encode(reply.body)
        if fault is not None and fault.malformed:
            _corrupt(payload)
        return 200, out_headers, _encode(payload)

    def _add_weight(self, path: str, params: dict[str, str]) -> int:
        if self.used_weight_override is not None:
            return self.used_weight_override
        weight = 1
        if path == "/fapi/v1/klines":
            limit = int(params.get("limit", 500))
            weight = 1 if limit < 100 else 2 if limit < 500 else 5 if limit <= 1000 else 10
        elif path in ("/futures/data/openInterestHist", "/fapi/v1/fundingRate"):
            weight = 0
        minute = int(time.time() // 60)
        with self._lock:
            self._weight[minute] = self._weight.get(minute, 0) + weight
            return self._weight[minute]

    # ----------------------------------------------------------------- Binance

    def _binance_symbol(self, params: dict[str, str], *, required: bool = True) -> None:
        sym = params.get("symbol")
        if sym is None and not required:
            return
        if sym != self.symbols["binance"]:
            raise _Reply(400, {"code": -1121, "msg": "Invalid symbol."})

    @staticmethod
    def _binance_limit(params: dict[str, str], default: int, maximum: int) -> int:
        limit = int(params.get("limit", default))
        if not 1 <= limit <= maximum:
            raise _Reply(400, {"code": -1130, "msg": "Data sent for parameter 'limit' is not valid."})
        return limit

    def _binance_klines(self, p: dict[str, str]) -> Any:
        self._binance_symbol(p)
        if p.get("interval") != "5m":
            raise _Reply(400, {"code": -1120, "msg": "Invalid interval."})
        limit = self._binance_limit(p, 500, 1500)
        bars = self.series.bars_between(int(p.get("startTime", 0)), int(p.get("endTime", self.now_ms)))
        bars = [b for b in bars if b.open_time_ms <= self.now_ms]
        bars = bars[:limit] if "startTime" in p else bars[-limit:]
        return [
            [
                b.open_time_ms,
                _s(b.open),
                _s(b.high),
                _s(b.low),
                _s(b.close),
                _s(b.volume),
                b.open_time_ms + BASE_BAR_MS - 1,
                _s(b.quote_volume),
                b.trades,
                _s(b.taker_buy_volume),
                _s(round(b.taker_buy_volume * b.close, 4)),
                "0",
            ]
            for b in bars
        ]

    def _binance_oi_hist(self, p: dict[str, str]) -> Any:
        self._binance_symbol(p)
        if p.get("period") != "5m":
            raise _Reply(400, {"code": -1130, "msg": "Data sent for parameter 'period' is not valid."})
        limit = self._binance_limit(p, 30, 500)
        oldest = self.now_ms - 30 * DAY_MS
        lo = int(p.get("startTime", oldest))
        if lo < oldest:
            raise _Reply(400, {"code": -1130, "msg": "Data sent for parameter 'startTime' is not valid."})
        rows = [r for r in self.series.oi_between(lo, int(p.get("endTime", self.now_ms))) if r[0] <= self.now_ms]
        rows = rows[-limit:]  # the most recent ``limit`` rows of the range, oldest first
        return [
            {
                "symbol": self.symbols["binance"],
                "sumOpenInterest": f"{base:.8f}",
                "sumOpenInterestValue": f"{value:.8f}",
                "CMCCirculatingSupply": "165880.538",
                "timestamp": t,
            }
            for t, base, value in rows
        ]

    def _binance_oi_now(self, p: dict[str, str]) -> Any:
        self._binance_symbol(p)
        i = min(self.series.bars - 1, (self.now_ms - self.series.start_ms) // BASE_BAR_MS)
        _t, base, _v = self.series.oi(i)
        return {"openInterest": _s(base), "symbol": self.symbols["binance"], "time": self.now_ms}

    def _binance_funding(self, p: dict[str, str]) -> Any:
        self._binance_symbol(p, required=False)
        limit = self._binance_limit(p, 100, 1000)
        rows = self.series.funding_between(int(p.get("startTime", 0)), int(p.get("endTime", self.now_ms)))
        rows = rows[:limit] if "startTime" in p else rows[-limit:]
        return [
            {"symbol": self.symbols["binance"], "fundingRate": f"{rate:.8f}", "fundingTime": t, "markPrice": _s(mark)}
            for t, rate, mark in rows
        ]

    def _binance_premium_index(self, p: dict[str, str]) -> Any:
        self._binance_symbol(p)
        i = min(self.series.bars - 1, (self.now_ms - self.series.start_ms) // BASE_BAR_MS)
        price = self.series.bar(i).close
        step = self.series.funding_every_ms
        return {
            "symbol": self.symbols["binance"],
            "markPrice": f"{price:.8f}",
            "indexPrice": f"{price - 1.5:.8f}",
            "estimatedSettlePrice": f"{price:.8f}",
            "lastFundingRate": "0.00010000",
            "interestRate": "0.00010000",
            "nextFundingTime": (self.now_ms // step + 1) * step,
            "time": self.now_ms,
        }

    # ----------------------------------------------------------------- Bybit

    def _bybit(self, result: dict[str, Any]) -> dict[str, Any]:
        return {"retCode": 0, "retMsg": "OK", "result": result, "retExtInfo": {}, "time": self.now_ms}

    def _bybit_error(self, code: int, msg: str) -> _Reply:
        return _Reply(200, {"retCode": code, "retMsg": msg, "result": {}, "retExtInfo": {}, "time": self.now_ms})

    def _bybit_check(self, p: dict[str, str], maximum: int, default: int) -> int:
        if p.get("category") != "linear":
            raise self._bybit_error(10001, "params error: category")
        if p.get("symbol") != self.symbols["bybit"]:
            raise self._bybit_error(10001, "params error: symbol invalid")
        limit = int(p.get("limit", default))
        if not 1 <= limit <= maximum:
            raise self._bybit_error(10001, "params error: limit")
        return limit

    def _bybit_kline(self, p: dict[str, str]) -> Any:
        limit = self._bybit_check(p, 1000, 200)
        if p.get("interval") != "5":
            raise self._bybit_error(10001, "params error: interval")
        bars = self.series.bars_between(int(p.get("start", 0)), int(p.get("end", self.now_ms)))
        bars = [b for b in bars if b.open_time_ms <= self.now_ms][::-1][:limit]  # newest first
        rows = [
            [str(b.open_time_ms), _s(b.open), _s(b.high), _s(b.low), _s(b.close), _s(b.volume), _s(b.quote_volume)]
            for b in bars
        ]
        return self._bybit({"category": "linear", "symbol": self.symbols["bybit"], "list": rows})

    def _bybit_oi(self, p: dict[str, str]) -> Any:
        limit = self._bybit_check(p, 200, 50)
        if p.get("intervalTime") != "5min":
            raise self._bybit_error(10001, "params error: intervalTime")
        rows = self.series.oi_between(int(p.get("startTime", 0)), int(p.get("endTime", self.now_ms)))
        rows = [r for r in rows if r[0] <= self.now_ms][::-1]
        offset = int(p.get("cursor") or 0)
        page = rows[offset : offset + limit]
        more = offset + limit < len(rows)
        return self._bybit(
            {
                "symbol": self.symbols["bybit"],
                "category": "linear",
                "list": [{"openInterest": _s(base), "timestamp": str(t)} for t, base, _v in page],
                "nextPageCursor": str(offset + limit) if more else "",
            }
        )

    def _bybit_funding(self, p: dict[str, str]) -> Any:
        limit = self._bybit_check(p, 200, 200)
        if "startTime" in p and "endTime" not in p:
            raise self._bybit_error(10001, "params error: startTime and endTime must be passed together")
        rows = self.series.funding_between(int(p.get("startTime", 0)), int(p.get("endTime", self.now_ms)))
        rows = rows[::-1][:limit]
        return self._bybit(
            {
                "category": "linear",
                "list": [
                    {"symbol": self.symbols["bybit"], "fundingRate": f"{rate:.8f}", "fundingRateTimestamp": str(t)}
                    for t, rate, _m in rows
                ],
            }
        )

    # ----------------------------------------------------------------- OKX

    @staticmethod
    def _okx(data: list[Any]) -> dict[str, Any]:
        return {"code": "0", "msg": "", "data": data}

    def _okx_check(self, p: dict[str, str], maximum: int, default: int) -> int:
        if p.get("instId") != self.symbols["okx"]:
            raise _Reply(200, {"code": "51001", "msg": "Instrument ID does not exist", "data": []})
        limit = int(p.get("limit", default))
        if not 1 <= limit <= maximum:
            raise _Reply(200, {"code": "51000", "msg": "Parameter limit error", "data": []})
        return limit

    def _okx_candles(self, p: dict[str, str]) -> Any:
        limit = self._okx_check(p, 100, 100)
        if p.get("bar") != "5m":
            raise _Reply(200, {"code": "51000", "msg": "Parameter bar error", "data": []})
        after = int(p.get("after", 2**62))
        before = int(p.get("before", -1))
        bars = [
            b
            for b in self.series.bars_between(before + 1, after - 1)
            if b.open_time_ms <= self.now_ms and before < b.open_time_ms < after
        ]
        bars = bars[::-1][:limit]
        return self._okx(
            [
                [
                    str(b.open_time_ms),
                    _s(b.open),
                    _s(b.high),
                    _s(b.low),
                    _s(b.close),
                    _s(b.volume * 100),  # contracts (ctVal 0.01)
                    _s(b.volume),
                    _s(b.quote_volume),
                    "1" if b.open_time_ms + BASE_BAR_MS <= self.now_ms else "0",
                ]
                for b in bars
            ]
        )

    def _okx_oi(self, p: dict[str, str]) -> Any:
        limit = self._okx_check(p, 100, 100)
        if p.get("period") != "5m":
            raise _Reply(200, {"code": "51000", "msg": "Parameter period error", "data": []})
        begin = int(p.get("begin", -1))
        end = int(p.get("end", 2**62))
        rows = [r for r in self.series.oi_between(begin + 1, end - 1) if r[0] <= self.now_ms][::-1][:limit]
        return self._okx([[str(t), _s(base * 100), _s(base), _s(value)] for t, base, value in rows])

    def _okx_instruments(self, p: dict[str, str]) -> Any:
        if p.get("instType") not in ("SPOT", "MARGIN", "SWAP", "FUTURES", "OPTION"):
            raise _Reply(200, {"code": "51000", "msg": "Parameter instType error", "data": []})
        return self._okx([i for i in self.okx_instruments if i.get("instType") == p["instType"]])

    def _okx_funding(self, p: dict[str, str]) -> Any:
        limit = self._okx_check(p, 100, 100)
        after = int(p.get("after", 2**62))
        before = int(p.get("before", -1))
        rows = [f for f in self.series.funding() if before < f[0] < after][::-1][:limit]
        return self._okx(
            [
                {
                    "instType": "SWAP",
                    "instId": self.symbols["okx"],
                    "formulaType": "noRate",
                    # fundingRate is the prediction, realizedRate what was settled (the series' rate)
                    "fundingRate": f"{rate + 0.00005:.8f}",
                    "realizedRate": f"{rate:.8f}",
                    "fundingTime": str(t),
                    "method": "current_period",
                }
                for t, rate, _m in rows
            ]
        )


def _encode(body: Any) -> bytes:
    if isinstance(body, bytes):
        return body
    if isinstance(body, str):
        return body.encode()
    return json.dumps(body).encode()


def _corrupt(payload: Any) -> None:
    """Corrupt the first data row in place (a price or amount becomes a non-number, or goes missing)."""
    rows: Any = payload
    if isinstance(payload, dict):
        rows = payload.get("data")
        if rows is None and isinstance(payload.get("result"), dict):
            rows = payload["result"].get("list")
    if not isinstance(rows, list) or not rows:
        return
    first = rows[0]
    if isinstance(first, list):
        first[1] = "not-a-number"
    elif isinstance(first, dict):
        for key in ("sumOpenInterest", "openInterest", "realizedRate", "fundingRate"):
            if key in first:
                first[key] = "not-a-number"
                return
        first.clear()


def _make_handler(fake: FakeExchange) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True
        wbufsize = -1  # headers and body leave in one write

        def do_GET(self) -> None:
            url = urlsplit(self.path)
            params = dict(parse_qsl(url.query, keep_blank_values=True))
            status, headers, body = fake.handle(url.path, params, dict(self.headers.items()))
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                for k, v in headers.items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client timed out and went away

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler
