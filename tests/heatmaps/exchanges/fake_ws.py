"""A fake liquidation websocket server (websockets.asyncio.server on 127.0.0.1, ephemeral port).

It pushes a fixed list of frames through one shared cursor, so a reconnecting client continues where
it left off. ``drops=[3, 4]`` drops the first connection after 3 frames (abruptly: TCP abort, no close
frame) and the second after 4 (a clean close 1001), then the third connection gets the rest. With
``replay=1`` the frame before each drop is sent again after the reconnect (the client must dedupe).
It answers Bybit ``{"op":"ping"}`` and OKX ``"ping"`` and records every message it receives.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Sequence
from typing import Any

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed

T0 = 1_704_067_200_000


def binance_frames(n: int) -> list[str]:
    """``!forceOrder@arr`` events; even i: SELL (long liquidated), odd i: BUY (short liquidated)."""
    out = []
    for i in range(n):
        q, p = f"{0.001 * (i + 1):.3f}", f"{42000 + i * 10:.2f}"
        t = T0 + i * 1000
        out.append(
            json.dumps(
                {
                    "e": "forceOrder",
                    "E": t + 5,
                    "o": {
                        "s": "BTCUSDT",
                        "S": "SELL" if i % 2 == 0 else "BUY",
                        "o": "LIMIT",
                        "f": "IOC",
                        "q": q,
                        "p": p,
                        "ap": p,
                        "X": "FILLED",
                        "l": q,
                        "z": q,
                        "T": t,
                    },
                }
            )
        )
    return out


def bybit_frames(n: int) -> list[str]:
    """``allLiquidation.BTCUSDT``; even i: Buy (long liquidated), odd i: Sell."""
    return [
        json.dumps(
            {
                "topic": "allLiquidation.BTCUSDT",
                "type": "snapshot",
                "ts": T0 + i * 500 + 100,
                "data": [
                    {
                        "T": T0 + i * 500,
                        "s": "BTCUSDT",
                        "S": "Buy" if i % 2 == 0 else "Sell",
                        "v": f"{0.002 * (i + 1):.3f}",
                        "p": f"{41000 + i:.1f}",
                    }
                ],
            }
        )
        for i in range(n)
    ]


def okx_frames(n: int) -> list[str]:
    """``liquidation-orders``; even i: side sell / posSide long (long liquidated), odd i: buy / short."""
    return [
        json.dumps(
            {
                "arg": {"channel": "liquidation-orders", "instType": "SWAP"},
                "data": [
                    {
                        "details": [
                            {
                                "bkLoss": "0",
                                "bkPx": f"{40000 + i * 5:.1f}",
                                "ccy": "",
                                "posSide": "long" if i % 2 == 0 else "short",
                                "side": "sell" if i % 2 == 0 else "buy",
                                "sz": str(i + 1),
                                "ts": str(T0 + i * 1000),
                            }
                        ],
                        "instFamily": "BTC-USDT",
                        "instId": "BTC-USDT-SWAP",
                        "instType": "SWAP",
                        "uly": "BTC-USDT",
                    }
                ],
            }
        )
        for i in range(n)
    ]


BYBIT_ACK = json.dumps({"success": True, "ret_msg": "", "conn_id": "fake", "req_id": "", "op": "subscribe"})
OKX_ACK = json.dumps(
    {"event": "subscribe", "arg": {"channel": "liquidation-orders", "instType": "SWAP"}, "connId": "x"}
)


class FakeWsServer:
    """``async with FakeWsServer(frames, drops=[3, 4], expect_subscribe=True) as srv: srv.url``."""

    def __init__(
        self,
        frames: Sequence[str],
        *,
        drops: Sequence[int] = (),
        replay: int = 0,
        expect_subscribe: bool = True,
        ack: str | None = None,
        interval: float = 0.002,
    ) -> None:
        self.frames = list(frames)
        self.drops = list(drops)
        self.replay = replay
        self.expect_subscribe = expect_subscribe
        self.ack = ack
        self.interval = interval
        self.pos = 0
        self.connections = 0
        self.received: list[tuple[int, str]] = []  # (connection number, message)
        self._server: Server | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        port = self._server.sockets[0].getsockname()[1]
        return f"ws://127.0.0.1:{port}/ws"

    def subscribes(self) -> list[int]:
        """Connection numbers that sent a subscribe message."""
        return [n for n, m in self.received if '"subscribe"' in m]

    def pings(self) -> list[str]:
        return [m for _n, m in self.received if m == "ping" or '"ping"' in m]

    async def __aenter__(self) -> FakeWsServer:
        self._server = await serve(self._handler, "127.0.0.1", 0, ping_interval=None)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    async def _handler(self, ws: ServerConnection) -> None:
        self.connections += 1
        number = self.connections
        if self.expect_subscribe:
            first = await ws.recv()
            self.received.append((number, str(first)))
            if self.ack:
                await ws.send(self.ack)
        reader = asyncio.create_task(self._reader(ws, number))
        try:
            if number > 1 and self.replay:
                for frame in self.frames[max(0, self.pos - self.replay) : self.pos]:
                    await ws.send(frame)
            drop_after = self.drops[number - 1] if number - 1 < len(self.drops) else None
            sent = 0
            while self.pos < len(self.frames):
                if drop_after is not None and sent >= drop_after:
                    # Make sure the client really has what was sent, then drop.
                    pong = await ws.ping()
                    await pong
                    if number % 2 == 1:
                        ws.transport.abort()  # abrupt: no close frame
                    else:
                        await ws.close(1001, "going away")
                    return
                await ws.send(self.frames[self.pos])
                self.pos += 1
                sent += 1
                await asyncio.sleep(self.interval)
            await ws.wait_closed()  # all sent: stay open until the client leaves
        except ConnectionClosed:
            pass
        finally:
            reader.cancel()
            with contextlib.suppress(BaseException):
                await reader

    async def _reader(self, ws: ServerConnection, number: int) -> None:
        with contextlib.suppress(ConnectionClosed):
            async for message in ws:
                text = message if isinstance(message, str) else message.decode()
                self.received.append((number, text))
                if text == "ping":
                    await ws.send("pong")
                elif '"ping"' in text:
                    reply: dict[str, Any] = {"success": True, "ret_msg": "pong", "op": "ping"}
                    await ws.send(json.dumps(reply))


DROP = None  # in a MarketWsServer script: drop the connection here (TCP abort, no close frame)


class MarketWsServer:
    """A scripted market-data websocket server: connection n is sent ``scripts[n-1]`` (a ``DROP`` entry
    aborts it there); once its script is done a connection stays open, answering pings, so only the
    client or the end of the test closes it. ``on_connection(n)`` runs before connection n's script (a
    test advances its REST stand-in's clock there). Records request paths and every message received.

    With ``expect_subscribe`` the script starts after the client's first message (Bybit, OKX); Binance's
    combined stream names its topics in the URL instead.
    """

    def __init__(
        self,
        scripts: Sequence[Sequence[str | None]],
        *,
        expect_subscribe: bool = True,
        on_connection: Any = None,
        interval: float = 0.01,
    ) -> None:
        self.scripts = [list(s) for s in scripts]
        self.expect_subscribe = expect_subscribe
        self.on_connection = on_connection
        self.interval = interval
        self.connections = 0
        self.paths: list[str] = []
        self.received: list[tuple[int, str]] = []
        self.sent: list[tuple[int, str]] = []
        self._server: Server | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        port = self._server.sockets[0].getsockname()[1]
        return f"ws://127.0.0.1:{port}/ws"

    def messages(self) -> list[str]:
        return [m for _n, m in self.received]

    async def __aenter__(self) -> MarketWsServer:
        self._server = await serve(self._handler, "127.0.0.1", 0, ping_interval=None)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    async def _handler(self, ws: ServerConnection) -> None:
        self.connections += 1
        number = self.connections
        self.paths.append(ws.request.path if ws.request is not None else "")
        if self.on_connection is not None:
            self.on_connection(number)
        try:
            if self.expect_subscribe:
                first = await ws.recv()
                self.received.append((number, first if isinstance(first, str) else first.decode()))
            reader = asyncio.create_task(self._reader(ws, number))
            try:
                script = self.scripts[number - 1] if number - 1 < len(self.scripts) else []
                for frame in script:
                    if frame is DROP:
                        pong = await ws.ping()
                        await pong  # the client has everything sent so far
                        ws.transport.abort()
                        return
                    await ws.send(frame)
                    self.sent.append((number, frame))
                    await asyncio.sleep(self.interval)
                await ws.wait_closed()
            finally:
                reader.cancel()
                with contextlib.suppress(BaseException):
                    await reader
        except ConnectionClosed:
            pass

    async def _reader(self, ws: ServerConnection, number: int) -> None:
        with contextlib.suppress(ConnectionClosed):
            async for message in ws:
                text = message if isinstance(message, str) else message.decode()
                self.received.append((number, text))
                if text == "ping":
                    await ws.send("pong")
                elif '"ping"' in text:
                    await ws.send(json.dumps({"success": True, "ret_msg": "pong", "conn_id": "fake", "op": "ping"}))
