"""Production path: deploy checks, liveness and readiness, metrics, request ids, one beat at a time."""

from __future__ import annotations

import os
import re
import secrets
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import redis
from django.conf import settings
from django.test import Client, override_settings
from django.utils import timezone

from heatmaps.health import BEAT_KEY, WORKER_KEY, record_heartbeat
from heatmaps.models import Asset, Candle, Exchange
from tests.conftest import wait_for


def _manage(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_check_deploy_is_clean_with_debug_off_and_https() -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("LIQ_TESTING", "DEBUG")}
    env.update(
        DEBUG="0",
        SECRET_KEY=secrets.token_urlsafe(50),
        SITE_URL="https://liq.example.org",
        ALLOWED_HOSTS="liq.example.org",
    )
    result = _manage(["check", "--deploy", "--fail-level", "WARNING"], env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_debug_off_without_secret_key_refuses_to_start() -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("LIQ_TESTING", "DEBUG", "SECRET_KEY")}
    env["DEBUG"] = "0"
    result = _manage(["check"], env)
    assert result.returncode != 0
    assert "SECRET_KEY must be set when DEBUG is off" in result.stderr


def test_healthz_answers_without_touching_anything(client: Client) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


@pytest.fixture
def heartbeats() -> Any:
    client = redis.Redis.from_url(settings.REDIS_URL)
    client.delete(BEAT_KEY, WORKER_KEY)
    yield client
    client.delete(BEAT_KEY, WORKER_KEY)


def _fresh_candle(asset: Asset, exchange: Exchange, *, age: timedelta) -> None:
    open_time = timezone.now() - age - timedelta(minutes=5)  # closed `age` ago (not bar-aligned: exact ages)
    Candle.objects.create(asset=asset, exchange=exchange, open_time=open_time, open=1, high=1, low=1, close=1, volume=1)


@pytest.mark.django_db
def test_readyz_names_what_is_not_ready_then_turns_ready(
    client: Client, btc: Asset, binance: Exchange, heartbeats: redis.Redis
) -> None:
    response = client.get("/readyz")
    assert response.status_code == 503
    checks = {c["name"]: c for c in response.json()["checks"]}
    assert checks["database"]["ok"] and checks["redis"]["ok"]
    assert not checks["beat"]["ok"] and not checks["worker"]["ok"]
    assert not checks["market_data"]["ok"] and "BTCUSDT: no bars" in checks["market_data"]["detail"]

    record_heartbeat(BEAT_KEY)
    record_heartbeat(WORKER_KEY)
    _fresh_candle(btc, binance, age=timedelta(minutes=40))
    response = client.get("/readyz")
    assert response.status_code == 503
    assert "BTCUSDT: 40 min old" in {c["name"]: c for c in response.json()["checks"]}["market_data"]["detail"]

    _fresh_candle(btc, binance, age=timedelta(minutes=2))
    response = client.get("/readyz")
    assert response.status_code == 200, response.json()
    assert response.json()["status"] == "ready"
    assert response["Cache-Control"] == "no-store"


@pytest.mark.django_db
def test_readyz_says_when_a_heartbeat_is_too_old(client: Client, heartbeats: redis.Redis) -> None:
    heartbeats.set(BEAT_KEY, f"{time.time() - settings.LIQ_HEARTBEAT_MAX_AGE_SECONDS - 5:.3f}")
    record_heartbeat(WORKER_KEY)
    checks = {c["name"]: c for c in client.get("/readyz").json()["checks"]}
    assert not checks["beat"]["ok"] and "s ago (limit" in checks["beat"]["detail"]
    assert checks["worker"]["ok"]


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_heartbeat_task_on_a_real_worker_and_publish_marks_beat(
    celery_worker_process: Any, heartbeats: redis.Redis
) -> None:
    from heatmaps.tasks import heartbeat

    heartbeat.delay()  # publishing it is what beat does: the publish hook records beat's heartbeat
    assert heartbeats.get(BEAT_KEY) is not None
    wait_for(lambda: heartbeats.get(WORKER_KEY), timeout=30)


@pytest.mark.django_db
def test_metrics_internal_only_or_with_token(btc: Asset, binance: Exchange) -> None:
    _fresh_candle(btc, binance, age=timedelta(minutes=3))
    internal = Client(REMOTE_ADDR="10.1.2.3")
    body = internal.get("/metrics").content.decode()
    lag = re.search(r'liq_ingest_lag_seconds\{asset="BTCUSDT",exchange="binance"\} ([0-9.e+]+)', body)
    assert lag is not None and 170 <= float(lag.group(1)) <= 240
    assert "liq_http_request_duration_seconds" in body
    assert Client(REMOTE_ADDR="8.8.8.8").get("/metrics").status_code == 403
    with override_settings(LIQ_METRICS_TOKEN="s3cret-token"):
        assert internal.get("/metrics").status_code == 401
        assert internal.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 401
        ok = Client(REMOTE_ADDR="8.8.8.8").get("/metrics", HTTP_AUTHORIZATION="Bearer s3cret-token")
        assert ok.status_code == 200 and b"liq_ingest_lag_seconds" in ok.content


def test_request_id_echoed_when_sane_else_made(client: Client) -> None:
    assert client.get("/healthz", HTTP_X_REQUEST_ID="abc-123.x").headers["X-Request-ID"] == "abc-123.x"
    made = client.get("/healthz", HTTP_X_REQUEST_ID="bad id\nwith newline").headers["X-Request-ID"]
    assert re.fullmatch(r"[0-9a-f]{32}", made)


def _beat(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "liqplatform", "beat", "--loglevel=INFO"],
        cwd=settings.BASE_DIR,
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )


def _sends(log: Path) -> int:
    return log.read_text(errors="replace").count("Sending due task heartbeat")


def test_a_second_beat_waits_for_the_lock_and_takes_over_when_the_first_dies(tmp_path: Path) -> None:
    prefix = f"liq:test-beat:{os.getpid()}:"
    env = {
        **os.environ,
        "LIQ_TESTING": "1",
        "LIQ_HEARTBEAT_SECONDS": "1",
        "LIQ_BEAT_KEY_PREFIX": prefix,
        "LIQ_BEAT_LOCK_TIMEOUT": "10",
    }
    first_log, second_log = tmp_path / "beat1.log", tmp_path / "beat2.log"
    first = _beat(env, first_log)
    second: subprocess.Popen[bytes] | None = None
    try:
        wait_for(lambda: _sends(first_log) >= 1, timeout=30)
        second = _beat(env, second_log)
        time.sleep(6)
        sent_first = _sends(first_log)
        assert sent_first >= 4  # the first keeps its one-second schedule...
        assert _sends(second_log) == 0  # ...and the second publishes nothing while the lock is held
        first.send_signal(signal.SIGKILL)  # dies without releasing the lock
        first.wait(timeout=10)
        wait_for(lambda: _sends(second_log) >= 2, timeout=40)  # takes over once the lock expires
    finally:
        for proc in (first, second):
            if proc is not None and proc.poll() is None:
                proc.terminate()
                proc.wait(timeout=20)
        client = redis.Redis.from_url(settings.REDIS_URL)
        for key in client.scan_iter(f"{prefix}*"):
            client.delete(key)
