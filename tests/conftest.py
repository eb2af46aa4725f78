"""Shared fixtures: the cast of test users and the market objects every test starts from."""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Literal
from urllib.parse import quote

import pytest
import redis
from allauth.account.models import EmailAddress
from django.conf import settings
from django.test import Client

from accounts.models import User
from heatmaps.marketdata import dt_to_ms, insert_liquidations
from heatmaps.models import Asset, Exchange, Heatmap
from heatmaps.rows import LiquidationRow
from liqplatform.celery import app as celery_app
from tests.heatmaps.exchanges.fake_exchange import FakeExchange, Series


@pytest.fixture
def binance(db: None) -> Exchange:
    return Exchange.get_supported("binance")


@pytest.fixture
def btc(binance: Exchange) -> Asset:
    asset = Asset.objects.create(
        symbol="BTCUSDT", display_name="Bitcoin perpetual", base="BTC", quote="USDT", reference_exchange=binance
    )
    asset.exchanges.add(binance)
    return asset


def with_verified_email(user: User) -> User:
    """Like every account that finished signing up: its email is verified and primary, so the
    site's mandatory verification lets it sign in."""
    EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
    return user


@pytest.fixture
def eth(binance: Exchange) -> Asset:
    asset = Asset.objects.create(
        symbol="ETHUSDT", display_name="Ether perpetual", base="ETH", quote="USDT", reference_exchange=binance
    )
    asset.exchanges.add(binance)
    return asset


def record_liquidation(
    asset: Asset, *, hours_before_newest: float, side: Literal["long", "short"], price: float, usd: float
) -> datetime:
    """One liquidation recorded inside the 24h map's window, that long before its newest bar; returns its time."""
    when = Heatmap.objects.get(asset=asset, timeframe="24h").data_end - timedelta(hours=hours_before_newest)
    trade_id = f"test-{uuid.uuid4().hex[:12]}"
    row = LiquidationRow(asset.symbol, dt_to_ms(when), side, price, usd / price, usd, trade_id)
    insert_liquidations(asset=asset, exchange=asset.reference_exchange, rows=[row])
    return when


@pytest.fixture
def alice(db: None) -> User:
    """Alice is a trader with an ordinary account: watchlists, levels, alerts of her own."""
    return with_verified_email(User.objects.create_user("alice", "alice@example.org", "alice-password-1"))


@pytest.fixture
def bob(db: None) -> User:
    """Bob is another trader; he must never see or change anything of Alice's."""
    return with_verified_email(User.objects.create_user("bob", "bob@example.org", "bob-password-1"))


@pytest.fixture
def olga(db: None) -> User:
    """Olga operates the platform: a staff superuser who manages assets and users in the admin."""
    return with_verified_email(User.objects.create_superuser("olga", "olga@example.org", "olga-password-1"))


@pytest.fixture
def alice_client(alice: User) -> Client:
    client = Client()
    client.force_login(alice)
    return client


@pytest.fixture
def bob_client(bob: User) -> Client:
    client = Client()
    client.force_login(bob)
    return client


@pytest.fixture
def olga_client(olga: User) -> Client:
    client = Client()
    client.force_login(olga)
    return client


@pytest.fixture
def isolated_cache(settings: Any) -> None:
    """An empty local-memory cache for this test alone. allauth counts sign-ups, sign-ins and emails
    sent in the cache; in the shared Redis, counts left by an earlier test or run would leak in."""
    settings.CACHES = {
        **settings.CACHES,
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": f"test-{uuid.uuid4()}"},
    }


@pytest.fixture(scope="session")
def fake_exchange() -> Iterator[FakeExchange]:
    """One fake Binance/Bybit/OKX REST server for the session: 7 days of 5m data ending at the current
    5-minute boundary, so a worker running on the wall clock sees every bar closed and nothing after."""
    now_ms = int(time.time() * 1000)
    end_ms = now_ms - now_ms % 300_000
    with FakeExchange(Series(start_ms=end_ms - 2016 * 300_000, bars=2016)) as fake:
        yield fake


@pytest.fixture
def fake(fake_exchange: FakeExchange) -> Iterator[FakeExchange]:
    fake_exchange.clear_faults()
    fake_exchange.requests.clear()
    yield fake_exchange
    fake_exchange.clear_faults()


@pytest.fixture(scope="session")
def celery_worker_process(
    django_db_setup: None, django_db_blocker: Any, fake_exchange: FakeExchange
) -> Iterator[subprocess.Popen[bytes]]:
    """A real Celery worker process consuming every queue, against the test database, the test Redis
    and the fake exchange server.

    Tests using it must be transactional (`django_db(transaction=True)`) so the worker sees their rows.
    """
    db = settings.DATABASES["default"]
    env = {
        **os.environ,
        "LIQ_TESTING": "1",
        "DATABASE_URL": _database_url(db),
        "REDIS_URL": settings.REDIS_URL,
        "LIQ_BINANCE_FAPI_URL": fake_exchange.base_url,
        "LIQ_BYBIT_URL": fake_exchange.base_url,
        "LIQ_OKX_URL": fake_exchange.base_url,
    }
    redis.Redis.from_url(settings.REDIS_URL).flushdb()
    log_path = Path(settings.BASE_DIR) / "var" / "test-worker.log"
    log_path.parent.mkdir(exist_ok=True)
    log = log_path.open("wb")
    node = f"test-{os.getpid()}@{socket.gethostname()}"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "liqplatform",
            "worker",
            "--pool=solo",
            "--loglevel=INFO",
            "-Q",
            "ingest,compute,notify",
            "-n",
            node,
            "--without-heartbeat",
            "--without-gossip",
            "--without-mingle",
        ],
        cwd=settings.BASE_DIR,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        preexec_fn=_die_with_parent,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"Celery worker exited with {proc.returncode}; see {log_path}")
            if celery_app.control.ping(destination=[node], timeout=0.5):  # this worker, not any other
                break
        else:
            raise RuntimeError(f"Celery worker did not answer a ping within 60 s; see {log_path}")
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def wait_for_worker_quiet(timeout: float = 120.0) -> None:
    """Until the test worker has nothing queued, prefetched or running: a compute's low-priority
    follow-up (long maps, model v2, the overview's row) may still be writing when a test has seen what it
    checks, and emptying the tables under it deadlocks with its writes."""
    from liqplatform.celery import app

    client = redis.Redis.from_url(settings.REDIS_URL)

    def quiet() -> bool:
        queued = sum(int(client.llen(k)) for q in ("ingest", "compute", "notify") for k in client.scan_iter(f"{q}*"))
        # A worker busy computing may not answer within the timeout: no answer is not "idle"; and a task
        # it has taken off the queue but not started yet (prefetched) is neither queued nor active.
        inspect = app.control.inspect(timeout=1)
        active, reserved = inspect.active(), inspect.reserved()
        if queued or active is None or reserved is None:
            return False
        return not any(active.values()) and not any(reserved.values())

    wait_for(quiet, timeout=timeout, interval=0.3)


@pytest.fixture(autouse=True)
def _worker_quiet_before_the_tables_are_emptied(request: pytest.FixtureRequest) -> Iterator[None]:
    """Every test with the real worker ends when the worker is idle, before its tables are emptied."""
    yield
    if "celery_worker_process" in request.fixturenames:
        wait_for_worker_quiet()


def _database_url(db: dict[str, Any]) -> str:
    """The test database as a URL for the worker process, credentials included."""
    user = quote(str(db.get("USER") or ""))
    password = f":{quote(str(db['PASSWORD']))}" if db.get("PASSWORD") else ""
    return f"postgres://{user}{password}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def _die_with_parent() -> None:
    """Linux: the worker gets SIGTERM when pytest dies, so no stale worker keeps consuming the test queues."""
    with contextlib.suppress(OSError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def wait_for(predicate: Callable[[], Any], *, timeout: float = 30.0, interval: float = 0.1) -> Any:
    """Poll until predicate() is truthy; return its value, or fail the test after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout} s")
