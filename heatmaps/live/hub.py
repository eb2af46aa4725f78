"""One Redis reader per process for every live stream its connections follow.

A thousand open pages on one asset used to be a thousand ``XREAD BLOCK`` calls, each woken by every
event: a thousand Redis replies and wake-ups per tick. The hub holds one blocked ``XREAD`` over the
union of the streams its subscribers follow and hands each entry to every subscriber's queue, in stream
id order. A stream new to the hub joins at once: the subscriber adds an entry to the hub's own wake
stream, which ends the blocked read so the next one includes it.

Positions: a subscriber starts after the stream's newest entry at the time it subscribes (read before
it is registered, so nothing published after that point can be missed), or, resuming from a
``Last-Event-ID``, reads the entries after that id itself before the hub's. Entries at or before a
subscriber's position are never given to it twice.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import weakref
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import redis.asyncio as aioredis
from django.conf import settings
from redis.exceptions import RedisError

logger = logging.getLogger(__name__)

BLOCK_MS = 15_000  # the longest a read waits; a wake entry ends it early
QUEUE_LIMIT = 2_000  # a connection this far behind is closed; its browser resumes from its last id
Entry = tuple[str, str, dict[bytes, bytes]]  # (stream key, entry id, fields)


def entry_order(entry_id: str) -> tuple[int, int]:
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)


class StreamClosed(Exception):
    """The hub stopped feeding this subscriber: Redis went away, or it fell too far behind."""


@dataclass(eq=False)
class Subscription:
    keys: tuple[str, ...]
    # Per key, where this subscriber starts: the stream's newest entry when it subscribed (read after it
    # was registered, so no later entry can slip past). Entries at or before it are skipped.
    start: dict[str, str] = field(default_factory=dict)
    queue: asyncio.Queue[Entry | BaseException] = field(default_factory=lambda: asyncio.Queue(QUEUE_LIMIT))

    def offer(self, entry: Entry) -> bool:
        """Queue an entry; False when the queue is full. The hub reads each stream forward only, so no
        entry is offered twice."""
        try:
            self.queue.put_nowait(entry)
        except asyncio.QueueFull:
            return False
        return True

    async def get(self, timeout: float) -> Entry | None:
        """The next entry after this subscriber's start, or None after `timeout` seconds without one."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            left = deadline - asyncio.get_running_loop().time()
            try:
                item = await asyncio.wait_for(self.queue.get(), max(left, 0))
            except TimeoutError:
                return None
            if isinstance(item, BaseException):
                raise StreamClosed(str(item)) from item
            if entry_order(item[1]) > entry_order(self.start.get(item[0], "0-0")):
                return item


class Hub:
    def __init__(self) -> None:
        self.subscribers: dict[str, set[Subscription]] = {}
        self.positions: dict[str, str] = {}
        self.wake_key = f"liq:live:wake:{os.getpid()}:{secrets.token_hex(4)}"
        self.client = aioredis.Redis.from_url(
            settings.REDIS_URL, socket_connect_timeout=2, socket_timeout=BLOCK_MS / 1000 + 10
        )
        self.reader: asyncio.Task[None] | None = None

    async def newest_id(self, key: str) -> str:
        newest: Any = await self.client.xrevrange(key, count=1)
        return str(newest[0][0].decode()) if newest else "0-0"

    async def backlog(self, key: str, after: str, until: str) -> list[Entry]:
        """The entries of `key` after `after` up to `until` (a resuming connection's missed events)."""
        rows: Any = await self.client.xrange(key, min=f"({after}", max=until)
        return [(key, entry_id.decode(), fields) for entry_id, fields in rows]

    async def subscribe(self, keys: Iterable[str]) -> Subscription:
        sub = Subscription(tuple(keys))
        for key in sub.keys:
            self.subscribers.setdefault(key, set()).add(sub)
        joined = False
        for key in sub.keys:
            sub.start[key] = await self.newest_id(key)
            if key not in self.positions:  # new to the hub: read from this subscriber's start on
                self.positions[key] = sub.start[key]
                joined = True
        if self.reader is None or self.reader.done():
            self.reader = asyncio.create_task(self._read())
        elif joined:
            async with self.client.pipeline(transaction=False) as pipe:  # the blocked read takes the new keys
                pipe.xadd(self.wake_key, {"k": "1"}, maxlen=10)
                pipe.expire(self.wake_key, 3600)
                await pipe.execute()
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        for key in sub.keys:
            subs = self.subscribers.get(key)
            if subs is not None:
                subs.discard(sub)
                if not subs:
                    del self.subscribers[key]
                    self.positions.pop(key, None)

    async def _read(self) -> None:
        try:
            wake_pos = await self.newest_id(self.wake_key)
            while self.subscribers:
                known = {k: self.positions[k] for k in self.subscribers if k in self.positions}
                streams = {self.wake_key: wake_pos, **known}
                reply: Any = await self.client.xread(streams, block=BLOCK_MS, count=500)  # type: ignore[arg-type]
                entries: list[Entry] = []
                for raw_key, rows in reply or []:
                    key = raw_key.decode()
                    for raw_id, fields in rows:
                        entry_id = raw_id.decode()
                        if key == self.wake_key:
                            wake_pos = entry_id
                        elif key in self.positions:
                            self.positions[key] = entry_id
                            entries.append((key, entry_id, fields))
                entries.sort(key=lambda e: entry_order(e[1]))
                for entry in entries:
                    for sub in list(self.subscribers.get(entry[0], ())):
                        if not sub.offer(entry):
                            self._drop(sub, RuntimeError("the connection fell too far behind"))
        except (RedisError, OSError) as exc:
            logger.warning("live streams: Redis unavailable (%s); connections end and browsers reconnect", exc)
            for sub in {s for subs in self.subscribers.values() for s in subs}:
                self._drop(sub, exc)

    def _drop(self, sub: Subscription, reason: BaseException) -> None:
        self.unsubscribe(sub)
        while True:
            try:
                sub.queue.put_nowait(reason)
                return
            except asyncio.QueueFull:
                sub.queue.get_nowait()  # make room for the reason: what is queued is resumed anyway


_hubs: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Hub] = weakref.WeakKeyDictionary()


def hub() -> Hub:
    """The running event loop's hub (uvicorn runs one loop per worker process)."""
    loop = asyncio.get_running_loop()
    found = _hubs.get(loop)
    if found is None:
        found = _hubs[loop] = Hub()
    return found
