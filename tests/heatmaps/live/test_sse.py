"""The live event stream against real Redis, through the ASGI application in a uvicorn process."""

from __future__ import annotations

import json
import time
from collections.abc import Generator, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import redis
from django.conf import settings
from django.test import Client

from accounts.models import User
from heatmaps.live import publish_event, publish_user_event
from heatmaps.live.events import asset_stream_key, user_stream_key
from heatmaps.models import Asset
from tests.heatmaps.live.server import asgi_server

pytestmark = pytest.mark.django_db(transaction=True)


@dataclass
class Event:
    id: str | None = None
    kind: str | None = None
    data: dict[str, object] = field(default_factory=dict)
    comment: str | None = None


@pytest.fixture(scope="module")
def server(django_db_setup: None, django_db_blocker: object) -> Iterator[str]:
    with asgi_server(keepalive_seconds=1) as base:
        yield base


@pytest.fixture(autouse=True)
def clean_streams() -> None:
    r = redis.Redis.from_url(settings.REDIS_URL)
    keys = list(r.scan_iter("liq:live:*"))
    if keys:
        r.delete(*keys)


class Stream:
    """One SSE connection, read line by line with a deadline (the keep-alives keep it from blocking)."""

    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        self.lines = response.iter_lines()

    def next(self, *, timeout: float = 5.0, comments: bool = False) -> Event | None:
        deadline = time.monotonic() + timeout
        event = Event()
        started = False
        while time.monotonic() < deadline:
            line = next(self.lines)
            if line == "":
                if started and (event.kind or (comments and event.comment)):
                    return event
                event, started = Event(), False
                continue
            started = True
            name, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if name == "":
                event.comment = value
            elif name == "id":
                event.id = value
            elif name == "event":
                event.kind = value
            elif name == "data":
                event.data = json.loads(value)
        return None

    def events(self, count: int, *, timeout: float = 5.0) -> list[Event]:
        out: list[Event] = []
        deadline = time.monotonic() + timeout
        while len(out) < count and time.monotonic() < deadline:
            e = self.next(timeout=deadline - time.monotonic())
            if e is None:
                break
            out.append(e)
        return out

    def silent_for(self, seconds: float) -> list[Event]:
        """Events that arrive within `seconds` (the keep-alives end each wait)."""
        out: list[Event] = []
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            e = self.next(timeout=deadline - time.monotonic())
            if e is not None:
                out.append(e)
        return out


def connect(client: httpx.Client, url: str, **headers: str) -> Generator[Stream]:
    with client.stream("GET", url, headers=headers, timeout=httpx.Timeout(10.0)) as response:
        assert response.status_code == 200, response.read()
        assert response.headers["content-type"].startswith("text/event-stream")
        assert response.headers["cache-control"] == "no-store"
        assert response.headers["x-accel-buffering"] == "no"
        stream = Stream(response)
        first = stream.next(comments=True)  # the greeting: positions are set from here on
        assert first is not None and first.comment == "connected"
        yield stream


def signed_in(user: User) -> dict[str, str]:
    django_client = Client()
    django_client.force_login(user)
    return {settings.SESSION_COOKIE_NAME: django_client.cookies[settings.SESSION_COOKIE_NAME].value}


def bar(close: float, *, closed: bool = True) -> dict[str, object]:
    t = 1_790_000_000_000 + int(close) * 60_000
    return {"time": t, "open": close, "high": close, "low": close, "close": close, "volume": 1.0}


def test_events_arrive_in_order_with_ids(server: str, btc: Asset) -> None:
    with httpx.Client() as client:
        for stream in connect(client, f"{server}/assets/btcusdt/events"):
            publish_event(symbol="BTCUSDT", kind="bar", data=bar(1))
            publish_event(symbol="BTCUSDT", kind="liquidation", data={"time": 1, "side": "long", "price": 2.0})
            publish_event(symbol="BTCUSDT", kind="map", data={"timeframe": "24h", "through": 3, "version": 4})
            got = stream.events(3)
    assert [e.kind for e in got] == ["bar", "liquidation", "map"]
    assert got[0].data["close"] == 1 and got[2].data["version"] == 4
    ids = [e.id for e in got]
    entries: Any = redis.Redis.from_url(settings.REDIS_URL).xrange(asset_stream_key("BTCUSDT"))
    assert ids == [entry_id.decode() for entry_id, _ in entries]


def test_ticks_are_throttled_to_one_per_second(server: str, btc: Asset) -> None:
    with httpx.Client() as client:
        for stream in connect(client, f"{server}/assets/BTCUSDT/events"):
            for price in (100.0, 101.0, 102.0):
                publish_event(symbol="BTCUSDT", kind="tick", data={"time": 1, "price": price, "mark": None})
            time.sleep(1.05)
            publish_event(symbol="BTCUSDT", kind="tick", data={"time": 2, "price": 103.0, "mark": 103.5})
            got = stream.events(2)
    assert [e.data["price"] for e in got] == [100.0, 103.0]


def test_last_event_id_resumes_after_it(server: str, btc: Asset) -> None:
    for close in (1, 2, 3, 4):
        publish_event(symbol="BTCUSDT", kind="bar", data=bar(close))
    entries: Any = redis.Redis.from_url(settings.REDIS_URL).xrange(asset_stream_key("BTCUSDT"))
    second = entries[1][0].decode()
    with httpx.Client() as client:
        for stream in connect(client, f"{server}/assets/BTCUSDT/events", **{"Last-Event-ID": second}):
            got = stream.events(2)
            publish_event(symbol="BTCUSDT", kind="bar", data=bar(5))
            got += stream.events(1)
    assert [e.data["close"] for e in got] == [3, 4, 5]


def test_without_last_event_id_only_new_events(server: str, btc: Asset) -> None:
    publish_event(symbol="BTCUSDT", kind="bar", data=bar(1))
    with httpx.Client() as client:
        for stream in connect(client, f"{server}/assets/BTCUSDT/events"):
            publish_event(symbol="BTCUSDT", kind="bar", data=bar(2))
            got = stream.events(1)
    assert [e.data["close"] for e in got] == [2]


def test_alerts_reach_only_their_owner(server: str, btc: Asset, alice: User, bob: User) -> None:
    url = f"{server}/assets/BTCUSDT/events"
    with (
        httpx.Client(cookies=signed_in(alice)) as as_alice,
        httpx.Client(cookies=signed_in(bob)) as as_bob,
        httpx.Client() as anonymous,
    ):
        for alice_stream in connect(as_alice, url):
            for bob_stream in connect(as_bob, url):
                for anon_stream in connect(anonymous, url):
                    alert = {"id": 7, "rule": "BTC below 60k", "text": "BTCUSDT crossed 60,000", "time": 1}
                    publish_user_event(user_id=alice.pk, symbol="BTCUSDT", kind="alert", data=alert)
                    publish_event(symbol="BTCUSDT", kind="bar", data=bar(9))
                    alice_got = alice_stream.events(2)
                    # The bar was published after the alert: once it arrives, the alert would have too.
                    bob_got = bob_stream.events(1) + bob_stream.silent_for(1.5)
                    anon_got = anon_stream.events(1) + anon_stream.silent_for(0.5)
    assert [e.kind for e in alice_got] == ["alert", "bar"]
    assert alice_got[0].data["text"] == "BTCUSDT crossed 60,000"
    # Alice's ids carry both positions; the asset part is what everyone else sees for the same bar.
    assert alice_got[1].id is not None and "," in alice_got[1].id
    assert [e.kind for e in bob_got] == ["bar"]
    assert [e.kind for e in anon_got] == ["bar"]
    assert bob_got[0].id is not None and anon_got[0].id is not None
    assert alice_got[1].id.split(",")[0] == bob_got[0].id.split(",")[0] == anon_got[0].id
    assert redis.Redis.from_url(settings.REDIS_URL).xlen(user_stream_key(bob.pk)) == 0


def test_alert_resumes_from_last_event_id(server: str, btc: Asset, alice: User) -> None:
    url = f"{server}/assets/BTCUSDT/events"
    with httpx.Client(cookies=signed_in(alice)) as as_alice:
        for stream in connect(as_alice, url):
            publish_event(symbol="BTCUSDT", kind="bar", data=bar(1))
            seen = stream.events(1)[0]
        for n in (1, 2):
            publish_user_event(user_id=alice.pk, symbol="BTCUSDT", kind="alert", data={"id": n, "text": "x"})
        assert seen.id is not None
        for stream in connect(as_alice, url, **{"Last-Event-ID": seen.id}):
            got = stream.events(2)
    assert [(e.kind, e.data["id"]) for e in got] == [("alert", 1), ("alert", 2)]


def test_unknown_symbol_is_404(server: str, btc: Asset) -> None:
    assert httpx.get(f"{server}/assets/NOSUCHUSDT/events", timeout=5).status_code == 404


def test_idle_stream_sends_keepalive_comments(server: str, btc: Asset) -> None:
    with httpx.Client() as client:
        for stream in connect(client, f"{server}/assets/BTCUSDT/events"):
            started = time.monotonic()
            comment = stream.next(timeout=3, comments=True)
            waited = time.monotonic() - started
    assert comment is not None and comment.kind is None and comment.comment == "keep-alive"
    assert 0.5 < waited < 2.5  # LIQ_LIVE_KEEPALIVE_SECONDS=1 in this server


def test_publishing_survives_a_redis_outage(settings: object, btc: Asset, caplog: pytest.LogCaptureFixture) -> None:
    from heatmaps.live import events

    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # type: ignore[attr-defined]
    events._client = None
    try:
        publish_event(symbol="BTCUSDT", kind="bar", data=bar(1))  # does not raise
        publish_user_event(user_id=1, symbol="BTCUSDT", kind="alert", data={"id": 1})
    finally:
        events._client = None
    assert "Redis unavailable" in caplog.text


def test_embedded_mode_publishes_nothing(settings: object, btc: Asset) -> None:
    settings.EMBEDDED = True  # type: ignore[attr-defined]
    publish_event(symbol="BTCUSDT", kind="bar", data=bar(1))
    assert redis.Redis.from_url(settings.REDIS_URL).xlen(asset_stream_key("BTCUSDT")) == 0  # type: ignore[attr-defined]


def test_the_markets_stream_carries_every_assets_ticks_and_bars_tagged_with_the_symbol(server: str, btc: Asset) -> None:
    with httpx.Client() as client:
        for stream in connect(client, f"{server}/markets/events"):
            publish_event(symbol="BTCUSDT", kind="tick", data={"time": 5, "price": 91_000.5, "mark": None})
            publish_event(symbol="BTCUSDT", kind="liquidation", data={"time": 6, "side": "long", "price": 2.0})
            publish_event(symbol="BTCUSDT", kind="map", data={"timeframe": "24h", "through": 3, "version": 4})
            publish_event(symbol="BTCUSDT", kind="bar", data=bar(7))
            got = stream.events(2)
            assert stream.silent_for(1.5) == []  # the liquidation and the map are the asset page's only
    assert [(e.kind, e.data["symbol"]) for e in got] == [("tick", "BTCUSDT"), ("bar", "BTCUSDT")]
    assert got[0].data["price"] == 91_000.5 and got[1].data["close"] == 7


def _redis_clients() -> int:
    db = redis.Redis.from_url(settings.REDIS_URL)
    number = db.connection_pool.connection_kwargs.get("db", 0)
    return sum(1 for c in db.client_list() if int(c.get("db", -1)) == number)


def test_many_streams_share_one_redis_reader(server: str, btc: Asset) -> None:
    with httpx.Client() as warm:  # the hub's own connections exist once a stream has been served
        for stream in connect(warm, f"{server}/assets/BTCUSDT/events"):
            publish_event(symbol="BTCUSDT", kind="bar", data=bar(1))
            assert stream.events(1)
    before = _redis_clients()
    clients = [httpx.Client() for _ in range(20)]
    contexts = [connect(c, f"{server}/assets/BTCUSDT/events") for c in clients]
    try:
        streams = [next(ctx) for ctx in contexts]
        assert _redis_clients() - before <= 2  # not one per stream
        publish_event(symbol="BTCUSDT", kind="bar", data=bar(2))
        got = [s.events(1) for s in streams]
    finally:
        for ctx in contexts:
            ctx.close()
        for c in clients:
            c.close()
    assert all(len(g) == 1 and g[0].data["close"] == 2 for g in got)
