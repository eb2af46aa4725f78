"""A Binance stand-in on 127.0.0.1 that plays tapes as a live market (no Django).

One port answers both sides, in Binance's documented formats, so the platform's own connectors, stream
process and ingest tasks run unchanged against it:
- REST (``/fapi/v1/klines``, ``/futures/data/openInterestHist``, ``/fapi/v1/openInterest``,
  ``/fapi/v1/fundingRate``, ``/fapi/v1/premiumIndex``, ``/fapi/v1/ping``, ``/fapi/v1/exchangeInfo``):
  only what the replay clock has closed;
- websockets (``/market/stream?streams=…`` and SUBSCRIBE messages): ``<symbol>@kline_5m`` every second
  with the forming bar, then the closed bar (``"x": true``) once the clock passes its end, and
  ``<symbol>@markPrice@1s``. Any other path (the liquidation stream) is accepted and stays quiet.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from heatmaps.replay.tape import BAR_MS, FUNDING_MS, Bar, ReplayClock, Tape, funding_times


def wall_ms() -> int:
    return int(time.time() * 1000)


def _num(x: float) -> str:
    return f"{x:.8f}".rstrip("0").rstrip(".")


class ReplayMarket:
    """The tapes of the replayed symbols and the clock they play to."""

    def __init__(self, tapes: dict[str, Tape], clock: ReplayClock, *, now_ms: Callable[[], int] = wall_ms) -> None:
        self.tapes = tapes
        self.clock = clock
        self.now_ms = now_ms

    def market_ms(self) -> int:
        return self.clock.market_ms(self.now_ms())

    # ----------------------------------------------------------------- REST

    def rest(self, path: str, params: dict[str, str]) -> tuple[int, Any]:
        if path == "/fapi/v1/ping":
            return 200, {}
        if path == "/fapi/v1/exchangeInfo":
            return 200, {"symbols": [_symbol_info(s) for s in self.tapes]}
        handlers = {
            "/fapi/v1/klines": self._klines,
            "/futures/data/openInterestHist": self._oi_hist,
            "/fapi/v1/openInterest": self._oi_now,
            "/fapi/v1/fundingRate": self._funding,
            "/fapi/v1/premiumIndex": self._premium_index,
        }
        handler = handlers.get(path)
        if handler is None:
            return 404, {"code": -5000, "msg": f"Path {path}, Method GET is invalid"}
        tape = self.tapes.get(params.get("symbol", "").upper())
        if tape is None:
            return 400, {"code": -1121, "msg": "Invalid symbol."}
        try:
            return 200, handler(tape, params, self.market_ms())
        except (KeyError, ValueError) as exc:
            return 400, {"code": -1102, "msg": f"Mandatory parameter was not sent, was empty/null, or malformed: {exc}"}

    @staticmethod
    def _closed_range(tape: Tape, params: dict[str, str], market: int, limit_max: int) -> range:
        """Indices of the closed bars with open time in [startTime, endTime], at most ``limit``."""
        limit = min(int(params.get("limit", 500)), limit_max)
        last_closed = tape.index_at(market) - 1
        lo = max(0, tape.index_at(int(params.get("startTime", 0)) + BAR_MS - 1))
        hi = min(last_closed, tape.index_at(int(params.get("endTime", market))))
        if "startTime" not in params:
            lo = max(0, hi - limit + 1)
        return range(lo, min(hi + 1, lo + limit))

    def _klines(self, tape: Tape, params: dict[str, str], market: int) -> list[list[Any]]:
        if params.get("interval") != "5m":
            raise ValueError("interval: the replay plays 5m bars")
        out = []
        for i in self._closed_range(tape, params, market, 1500):
            b = tape.bar(i)
            quote = b.volume * (b.open + b.close) / 2
            out.append([
                b.open_time_ms, _num(b.open), _num(b.high), _num(b.low), _num(b.close), _num(b.volume),
                b.open_time_ms + BAR_MS - 1, _num(quote), 0, _num(b.volume / 2), _num(quote / 2), "0",
            ])  # fmt: skip
        return out

    def _oi_hist(self, tape: Tape, params: dict[str, str], market: int) -> list[dict[str, Any]]:
        if params.get("period") != "5m":
            raise ValueError("period: the replay plays 5m bars")
        symbol = params["symbol"].upper()
        # Stamped at each bar's close: the bars whose close lies in [startTime, endTime].
        shifted = {**params}
        for key in ("startTime", "endTime"):
            if key in params:
                shifted[key] = str(int(params[key]) - BAR_MS)
        out = []
        for i in self._closed_range(tape, shifted, market, 500):
            base, usd = tape.open_interest(i)
            out.append({
                "symbol": symbol, "sumOpenInterest": _num(base), "sumOpenInterestValue": _num(usd),
                "timestamp": tape.bar(i).open_time_ms + BAR_MS,
            })  # fmt: skip
        return out

    def _oi_now(self, tape: Tape, params: dict[str, str], market: int) -> dict[str, Any]:
        return {"openInterest": _num(tape.open_interest_at(market)), "symbol": params["symbol"].upper(), "time": market}

    def _funding(self, tape: Tape, params: dict[str, str], market: int) -> list[dict[str, Any]]:
        limit = min(int(params.get("limit", 100)), 1000)
        end = min(int(params.get("endTime", market)) + 1, market + 1)
        if "startTime" in params:  # the oldest `limit` from startTime on, else the newest `limit` before endTime
            times = funding_times(max(int(params["startTime"]), tape.origin_ms), end)[:limit]
        else:
            times = funding_times(max(end - limit * FUNDING_MS, tape.origin_ms), end)[-limit:]
        symbol = params["symbol"].upper()
        return [
            {"symbol": symbol, "fundingTime": t, "fundingRate": _num(tape.funding_rate(t)), "markPrice": ""}
            for t in times
        ]

    def _premium_index(self, tape: Tape, params: dict[str, str], market: int) -> dict[str, Any]:
        price = tape.price(market)
        next_funding = funding_times(market + 1, market + FUNDING_MS + 1)[0]
        return {
            "symbol": params["symbol"].upper(), "markPrice": _num(price), "indexPrice": _num(price),
            "estimatedSettlePrice": _num(price), "lastFundingRate": _num(tape.funding_rate(next_funding)),
            "interestRate": "0.00010000", "nextFundingTime": next_funding, "time": market,
        }  # fmt: skip

    # ----------------------------------------------------------------- websocket frames

    def kline_frame(self, symbol: str, bar: Bar, *, closed: bool, event_ms: int) -> str:
        quote = bar.volume * (bar.open + bar.close) / 2
        k = {
            "t": bar.open_time_ms, "T": bar.open_time_ms + BAR_MS - 1, "s": symbol, "i": "5m", "f": 0, "L": 0,
            "o": _num(bar.open), "c": _num(bar.close), "h": _num(bar.high), "l": _num(bar.low),
            "v": _num(bar.volume), "n": 0, "x": closed, "q": _num(quote), "V": _num(bar.volume / 2),
            "Q": _num(quote / 2), "B": "0",
        }  # fmt: skip
        data = {"e": "kline", "E": event_ms, "s": symbol, "k": k}
        return json.dumps({"stream": f"{symbol.lower()}@kline_5m", "data": data})

    def mark_frame(self, symbol: str, event_ms: int) -> str:
        tape = self.tapes[symbol]
        price = tape.price(event_ms)
        next_funding = funding_times(event_ms + 1, event_ms + FUNDING_MS + 1)[0]
        data = {
            "e": "markPriceUpdate", "E": event_ms, "s": symbol, "p": _num(price), "i": _num(price),
            "P": _num(price), "r": _num(tape.funding_rate(next_funding)), "T": next_funding,
        }  # fmt: skip
        return json.dumps({"stream": f"{symbol.lower()}@markPrice@1s", "data": data})

    def frames(self, topics: set[str], closed_through: dict[str, int]) -> list[str]:
        """One second's frames for ``topics``: the bars closed since the last call (``closed_through``
        holds, per symbol, the last closed bar sent, and is advanced), the forming bar, the mark price."""
        market = self.market_ms()
        wanted = {t.lower() for t in topics}
        out = []
        for symbol, tape in self.tapes.items():
            low = symbol.lower()
            forming = tape.index_at(market)
            if f"{low}@kline_5m" in wanted:
                sent = closed_through.get(symbol, forming - 1)
                for i in range(sent + 1, forming):
                    b = tape.bar(i)
                    out.append(self.kline_frame(symbol, b, closed=True, event_ms=b.open_time_ms + BAR_MS))
                closed_through[symbol] = forming - 1
                out.append(self.kline_frame(symbol, tape.forming(market), closed=False, event_ms=market))
            if f"{low}@markprice@1s" in wanted:
                out.append(self.mark_frame(symbol, market))
        return out


def _symbol_info(symbol: str) -> dict[str, Any]:
    return {"symbol": symbol, "status": "TRADING", "contractType": "PERPETUAL", "baseAsset": symbol[:-4],
            "quoteAsset": symbol[-4:], "marginAsset": symbol[-4:]}  # fmt: skip


async def _serve_connection(market: ReplayMarket, ws: ServerConnection, interval_s: float) -> None:
    query = dict(parse_qsl(urlsplit(ws.request.path if ws.request else "").query))
    topics = {t for t in query.get("streams", "").split("/") if t}
    closed_through: dict[str, int] = {}

    async def read() -> None:
        async for message in ws:
            with contextlib.suppress(ValueError, TypeError, AttributeError):
                msg = json.loads(message)
                params = set(msg.get("params") or [])
                if msg.get("method") == "SUBSCRIBE":
                    topics.update(params)
                elif msg.get("method") == "UNSUBSCRIBE":
                    topics.difference_update(params)
                await ws.send(json.dumps({"result": None, "id": msg.get("id")}))

    reader = asyncio.create_task(read())
    try:
        while not reader.done():
            for frame in market.frames(topics, closed_through):
                await ws.send(frame)
            await asyncio.wait({reader}, timeout=interval_s)
    except ConnectionClosed:
        pass
    finally:
        reader.cancel()


def _http_response(ws: ServerConnection, request: Request, market: ReplayMarket) -> Response | None:
    if "upgrade" in request.headers.get("Connection", "").lower():
        return None  # a websocket: handshake as usual
    parts = urlsplit(request.path)
    status, body = market.rest(parts.path, dict(parse_qsl(parts.query)))
    response = ws.respond(HTTPStatus(status), json.dumps(body))
    # One request per connection: the websocket server closes it after answering, so say so.
    response.headers = Headers(
        {"Content-Type": "application/json", "Content-Length": str(len(response.body)), "Connection": "close"}
    )
    return response


async def replay_serve(market: ReplayMarket, *, host: str, port: int, interval_s: float = 1.0) -> Server:
    """Start serving ``market``; the caller awaits ``server.serve_forever()`` or closes it."""
    return await serve(
        lambda ws: _serve_connection(market, ws, interval_s),
        host,
        port,
        process_request=lambda ws, request: _http_response(ws, request, market),
        compression=None,
    )
