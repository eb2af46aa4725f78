"""Schemathesis against the live /api/schema/: a server on 127.0.0.1 over the test database with the
sample data and maps, fuzzed anonymously and with the token of a user who owns data. Checks that no
request gets a server error and every documented answer matches its schema; prints the counts."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings

from accounts.alerts.rule_store import alert_rule_create
from accounts.models import AlertEvent, Annotation, User
from accounts.tokens import api_token_create
from accounts.watchlists import watchlist_create
from heatmaps.maps import heatmap_compute
from heatmaps.marketdata import load_sample_data
from heatmaps.models import Asset
from tests.platform.servers import production_gunicorn

pytestmark = pytest.mark.django_db(transaction=True)

CHECKS = "not_a_server_error,response_schema_conformance"
EXAMPLES_PER_OPERATION = 8


def schemathesis(schema_url: str, *extra: str, seconds: int) -> str:
    command = [
        str(Path(sys.executable).with_name("schemathesis")),
        "run",
        schema_url,
        "--checks",
        CHECKS,
        "--max-examples",
        str(EXAMPLES_PER_OPERATION),
        "--phases",
        "examples,coverage,fuzzing",
        "--max-time",
        str(seconds),
        "--workers",
        "1",
        "--seed",
        "20260129",
        "--request-timeout",
        "20",
        "--no-color",
        "--warnings",
        "off",
        *extra,
    ]
    run = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60, cwd=settings.BASE_DIR)
    output = run.stdout + run.stderr
    assert run.returncode == 0, output[-6000:]
    return output


def counts(output: str) -> str:
    match = re.search(r"Test cases:\s*\n\s*(.+)", output)
    assert match, output[-3000:]
    return match.group(1).strip()


@pytest.fixture
def api_server(transactional_db: None) -> Iterator[str]:
    """gunicorn, as in production, on a free port over the test database. (Django's live_server drops
    the connection when a view answers 401 without reading a request body, which the fuzzer reports
    as a network error.) Limits are tested on their own; here they would only turn the fuzzer's
    bursts into 429s."""
    with production_gunicorn("test-api-server.log", LIQ_API_ANON_RATE="off", LIQ_API_USER_RATE="off") as url:
        yield url


def test_schemathesis_finds_no_server_error_and_no_schema_mismatch(api_server: str) -> None:
    load_sample_data()
    btc = Asset.objects.get(symbol="BTCUSDT")
    heatmap_compute(asset=btc, timeframes=["24h", "1w"])
    trader = User.objects.create_user("fuzzer", "fuzzer@example.org", "fuzzer-password-1")
    watchlist_create(user=trader, name="Majors", assets=["BTCUSDT", "ETHUSDT"])
    Annotation.objects.create(user=trader, asset=btc, kind="level", price=84_000, label="support")
    # Rules and an alert of their own, so the listings the fuzzer checks against the schema are not empty.
    zone = Annotation.objects.create(user=trader, asset=btc, kind="zone", price=80_000, price_high=81_000)
    alert_rule_create(user=trader, asset="BTCUSDT", condition="price_enters_zone", params={"annotation": zone.pk})
    alert_rule_create(
        user=trader, asset="BTCUSDT", condition="cluster_within", params={"percent": 2, "timeframe": "1w"}
    )
    rule, _ = alert_rule_create(user=trader, asset="BTCUSDT", condition="price_crosses", params={"price": 84_000})
    AlertEvent.objects.create(
        rule=rule,
        user=trader,
        asset=btc,
        condition=rule.condition,
        fired_at=rule.created_at,
        bar_time=rule.created_at.replace(second=0, microsecond=0),
        values={"close": 84_010.5, "prev_close": 83_990.0, "up": True},
    )
    _, raw = api_token_create(user=trader, name="fuzzing")
    schema = f"{api_server}/api/schema/"

    anonymous = schemathesis(schema, seconds=35)
    # The token must survive the run: revoking it is covered by the token tests.
    with_token = schemathesis(
        schema,
        "--header",
        f"Authorization: Bearer {raw}",
        "--exclude-path",
        "/api/v1/tokens/{token_id}/",
        "--exclude-method",
        "DELETE",
        seconds=45,
    )
    print(f"\nschemathesis, anonymous: {counts(anonymous)}; with a token: {counts(with_token)}")
