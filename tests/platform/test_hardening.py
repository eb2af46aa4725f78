"""What an outside probe of the production configuration got through: deeply nested and oversized JSON,
rate limits overshot by parallel clients, /metrics open behind a proxy, weak secret keys, personal
pages left in caches, time-zone-less token expiries and HTTP TRACE."""

from __future__ import annotations

import json
import logging
import os
import secrets
import subprocess
import sys
import threading
import urllib.error
import urllib.request
import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

import pytest
from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.test import Client, override_settings
from rest_framework.test import APIRequestFactory

from accounts.models import User
from accounts.tokens import api_token_create
from accounts.watchlists import watchlist_create
from heatmaps.models import Asset
from liqplatform.api_policy import AnonymousRateThrottle
from tests.platform.servers import production_gunicorn

NESTED = "[" * 20_000 + "]" * 20_000  # about 40 KB, far deeper than any parser's recursion allows


def _json(client: Client, method: str, url: str, body: str, **extra: Any) -> Any:
    return getattr(client, method)(url, data=body, content_type="application/json", **extra)


# ---- 1. nested and oversized JSON -----------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("method", "url"),
    [
        ("post", "/api/v1/watchlists/"),
        ("patch", "/api/v1/watchlists/{watchlist}/"),
        ("post", "/api/v1/annotations/"),
        ("post", "/api/v1/alert-rules/"),
        ("post", "/api/v1/tokens/"),
    ],
)
def test_deeply_nested_json_is_a_400_with_a_json_error(
    alice_client: Client, alice: User, btc: Asset, method: str, url: str, caplog: pytest.LogCaptureFixture
) -> None:
    watchlist = watchlist_create(user=alice, name="Majors", assets=["BTCUSDT"])
    response = _json(alice_client, method, url.format(watchlist=watchlist.pk), NESTED)
    assert response.status_code == 400, response.content[:300]
    assert "nested" in response.json()["detail"]
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


@pytest.mark.django_db
def test_nesting_is_refused_long_before_the_parser_would_recurse(alice_client: Client, btc: Asset) -> None:
    # 50 levels parse without trouble, but nothing the API takes is nested like that, and whatever
    # reads the value next (validation, the database's JSON) would recurse through it again.
    deep = json.dumps({"name": "deep", "assets": [json.loads("[" * 50 + "]" * 50)]})
    response = _json(alice_client, "post", "/api/v1/watchlists/", deep)
    assert response.status_code == 400 and "nested" in response.json()["detail"]
    # An ordinary body still goes through.
    ok = _json(alice_client, "post", "/api/v1/watchlists/", json.dumps({"name": "Majors", "assets": ["BTCUSDT"]}))
    assert ok.status_code == 201, ok.content


@pytest.mark.django_db
def test_nested_json_with_a_token_is_a_400_too(alice: User, btc: Asset) -> None:
    _, raw = api_token_create(user=alice, name="bot")
    response = _json(Client(), "post", "/api/v1/annotations/", NESTED, HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert response.status_code == 400 and "nested" in response.json()["detail"]


@pytest.mark.django_db
@pytest.mark.parametrize(
    "url", ["/watchlists/", "/annotations/new/", "/alerts/rules/new/", "/account/profile/", "/account/tokens/"]
)
def test_page_forms_given_nested_json_do_not_fail(alice_client: Client, btc: Asset, url: str) -> None:
    # The pages read forms, never JSON: a JSON body is an empty form there, refused like one.
    response = _json(alice_client, "post", url, NESTED)
    assert response.status_code < 500


@pytest.mark.django_db
def test_an_oversized_json_body_is_a_json_400(alice_client: Client, caplog: pytest.LogCaptureFixture) -> None:
    body = json.dumps({"name": "big", "assets": ["x" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 10)]})
    response = _json(alice_client, "post", "/api/v1/watchlists/", body)
    assert response.status_code == 400
    assert "too large" in response.json()["detail"]
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


@pytest.mark.django_db
@pytest.mark.parametrize("content_type", ["application/x-www-form-urlencoded", "multipart/form-data"])
def test_an_oversized_form_body_on_the_api_is_a_json_400(alice: User, content_type: str) -> None:
    _, raw = api_token_create(user=alice, name="bot")
    name = "x" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 10)
    if content_type.startswith("multipart"):
        response = Client().post("/api/v1/watchlists/", {"name": name}, HTTP_AUTHORIZATION=f"Bearer {raw}")
    else:
        response = Client().post(
            "/api/v1/watchlists/", f"name={name}", content_type=content_type, HTTP_AUTHORIZATION=f"Bearer {raw}"
        )
    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"
    assert "too large" in response.json()["detail"]


# ---- 2. rate limits counted atomically -------------------------------------------------------------


@contextmanager
def _gunicorn(**env_overrides: str) -> Iterator[str]:
    with production_gunicorn("test-hardening-server.log", LIQ_WEB_THREADS="4", **env_overrides) as url:
        yield url


def _fire(url: str, count: int, *, headers: dict[str, str] | None = None) -> tuple[Counter[int], list[str]]:
    """`count` GETs from 24 threads at once; the status codes and the 429s' Retry-After values."""
    start = threading.Barrier(24)
    retry_after: list[str] = []

    def one(i: int) -> int:
        if i < 24:
            start.wait()  # every thread's first request leaves at the same moment
        request = urllib.request.Request(url, headers=headers or {})
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return int(response.status)
        except urllib.error.HTTPError as exc:
            if exc.code == 429:
                retry_after.append(exc.headers.get("Retry-After", ""))
            return int(exc.code)

    with ThreadPoolExecutor(max_workers=24) as pool:
        codes = Counter(pool.map(one, range(count)))
    return codes, retry_after


@pytest.mark.django_db(transaction=True)
def test_parallel_requests_get_exactly_the_limit_through(alice: User) -> None:
    _, raw = api_token_create(user=alice, name="bench")
    with _gunicorn(
        LIQ_API_ANON_RATE="120/min", LIQ_API_USER_RATE="150/min", LIQ_CACHE_PREFIX=f"hd-{uuid.uuid4().hex[:8]}"
    ) as base:
        anonymous, anon_waits = _fire(f"{base}/api/v1/assets/", 300)
        token, token_waits = _fire(f"{base}/api/v1/me/", 300, headers={"Authorization": f"Bearer {raw}"})
    print(f"anonymous 120/min: {dict(anonymous)}; token 150/min: {dict(token)}")
    assert anonymous == Counter({200: 120, 429: 180})
    assert token == Counter({200: 150, 429: 150})
    assert all(0 < int(wait) <= 60 for wait in anon_waits + token_waits)


def _throttle_in_threads(limit: int, attempts: int) -> int:
    factory = APIRequestFactory()
    address = f"198.51.100.{secrets.randbelow(250) + 1}"
    start = threading.Barrier(16)

    def one(_: int) -> bool:
        request = factory.get("/api/v1/assets/", REMOTE_ADDR=address)
        request.user = AnonymousUser()
        start.wait()
        return AnonymousRateThrottle().allow_request(request, None)  # type: ignore[arg-type]

    with override_settings(LIQ_API_ANON_RATE=f"{limit}/min"), ThreadPoolExecutor(max_workers=16) as pool:
        return sum(pool.map(one, range(attempts)))


def test_the_throttle_counts_exactly_in_redis() -> None:
    assert _throttle_in_threads(40, 160) == 40


@pytest.mark.django_db
def test_the_throttle_counts_exactly_without_redis(isolated_cache: None) -> None:
    # Embedded mode: the local-memory cache, one process; its count must be exact among threads too.
    assert _throttle_in_threads(40, 160) == 40


def test_the_throttle_tells_when_to_come_back(settings: Any) -> None:
    settings.LIQ_API_ANON_RATE = "2/min"
    request = APIRequestFactory().get("/", REMOTE_ADDR=f"198.51.100.{secrets.randbelow(250) + 1}")
    request.user = AnonymousUser()
    throttle = AnonymousRateThrottle()
    assert [throttle.allow_request(request, None) for _ in range(3)] == [True, True, False]  # type: ignore[arg-type]
    wait = throttle.wait()
    assert wait is not None and 55 < wait <= 60


def test_a_lost_redis_lets_requests_through(settings: Any) -> None:
    # The cache degrades to a miss when Redis is away (liqplatform/cache.py); so does the limit.
    settings.CACHES = {
        "default": {**settings.CACHES["default"], "LOCATION": "redis://127.0.0.1:1/0", "KEY_PREFIX": "gone"}
    }
    settings.LIQ_API_ANON_RATE = "1/min"
    request = APIRequestFactory().get("/", REMOTE_ADDR="198.51.100.3")
    request.user = AnonymousUser()
    assert all(AnonymousRateThrottle().allow_request(request, None) for _ in range(3))  # type: ignore[arg-type]


# ---- 3. /metrics behind a proxy -------------------------------------------------------------------


@pytest.mark.django_db
def test_metrics_behind_a_proxy_need_the_token(caplog: pytest.LogCaptureFixture) -> None:
    # Every request arrives from the proxy's own (private) address: the address says nothing.
    behind = Client(REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="203.0.113.9")
    with override_settings(BEHIND_PROXY=True, LIQ_METRICS_TOKEN=""), caplog.at_level(logging.WARNING):
        refused = behind.get("/metrics")
    assert refused.status_code == 403
    assert any("LIQ_METRICS_TOKEN" in r.getMessage() for r in caplog.records)
    with override_settings(BEHIND_PROXY=True, LIQ_METRICS_TOKEN="scrape-token"):
        assert behind.get("/metrics").status_code == 401
        assert behind.get("/metrics", HTTP_AUTHORIZATION="Bearer scrape-token").status_code == 200
    with override_settings(BEHIND_PROXY=False, LIQ_METRICS_TOKEN=""):  # no proxy: the address is the client's
        assert behind.get("/metrics").status_code == 200


# ---- 4. secret keys, caches, token expiries, TRACE ------------------------------------------------


@pytest.mark.parametrize(
    "key",
    [
        "short-but-random-" + secrets.token_hex(8),
        "django-insecure-" + secrets.token_urlsafe(50),
        "insecure-development-key-do-not-use-in-production",
        "changeme",
    ],
    ids=["short", "django-insecure", "dev-default", "changeme"],
)
def test_a_weak_secret_key_refuses_to_start_with_debug_off(key: str) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("LIQ_TESTING", "DEBUG")}
    env.update(DEBUG="0", SECRET_KEY=key)
    result = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        cwd=settings.BASE_DIR,
        env={**env, "DJANGO_SETTINGS_MODULE": "liqplatform.settings"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr and "SECRET_KEY" in result.stderr, result.stderr[-2000:]
    assert key not in result.stderr  # the message never repeats the key itself


def test_a_strong_secret_key_starts() -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("LIQ_TESTING", "DEBUG")}
    env.update(DEBUG="0", SECRET_KEY=secrets.token_urlsafe(50), DJANGO_SETTINGS_MODULE="liqplatform.settings")
    result = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr[-2000:]


@pytest.mark.django_db
@pytest.mark.parametrize(
    "url",
    [
        "/account/profile/",
        "/watchlists/",
        "/watchlists/{watchlist}/",
        "/annotations/new/?asset=BTCUSDT",
        "/alerts/",
        "/alerts/rules/",
        "/api/v1/me/",
        "/api/v1/tokens/",
        "/api/v1/watchlists/",
        "/api/v1/annotations/",
        "/api/v1/alert-rules/",
        "/api/v1/alerts/",
    ],
)
def test_personal_pages_are_never_stored(alice_client: Client, alice: User, btc: Asset, url: str) -> None:
    watchlist = watchlist_create(user=alice, name="Majors", assets=["BTCUSDT"])
    response = alice_client.get(url.format(watchlist=watchlist.pk))
    assert response.status_code == 200, response.status_code
    assert "no-store" in response.get("Cache-Control", ""), response.get("Cache-Control")


@pytest.mark.django_db
def test_the_page_showing_a_new_token_is_never_stored(alice_client: Client, isolated_cache: None) -> None:
    page = alice_client.post("/account/tokens/", {"name": "grafana"})
    assert page.status_code == 200 and "liq_" in page.content.decode()
    assert "no-store" in page["Cache-Control"]
    created = _json(alice_client, "post", "/api/v1/tokens/", json.dumps({"name": "api"}))
    assert created.status_code == 201 and "no-store" in created["Cache-Control"]


@pytest.mark.django_db
def test_public_market_answers_keep_their_own_caching(client: Client, btc: Asset) -> None:
    assert "no-store" not in client.get("/api/v1/assets/").get("Cache-Control", "")


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("expires_at", "status"),
    [("2030-01-01T00:00:00", 400), ("2030-01-01", 400), ("2030-01-01T00:00:00Z", 201), ("2030-01-01T02:00+02:00", 201)],
)
def test_a_token_expiry_needs_a_time_zone(alice_client: Client, expires_at: str, status: int) -> None:
    response = _json(alice_client, "post", "/api/v1/tokens/", json.dumps({"name": "ci", "expires_at": expires_at}))
    assert response.status_code == status, response.content
    if status == 400:
        assert "time zone" in " ".join(response.json()["expires_at"])


@pytest.mark.django_db
@pytest.mark.parametrize(
    "url", ["/", "/assets/BTCUSDT/", "/api/v1/assets/", "/api/v1/me/", "/account/profile/", "/healthz", "/metrics"]
)
def test_trace_is_a_405_everywhere(client: Client, btc: Asset, url: str, caplog: pytest.LogCaptureFixture) -> None:
    response = client.generic("TRACE", url, HTTP_X_SECRET="echo-me")
    assert response.status_code == 405
    assert b"echo-me" not in response.content
    assert "TRACE" not in response.get("Allow", "TRACE")
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
