"""The embedded fallback: no PostgreSQL, no Redis — SQLite in var/, Celery tasks in-process."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from django.conf import settings


def run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_sample_data_and_maps_on_sqlite_with_in_process_tasks(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "LIQ_TESTING")}
    # Redis and PostgreSQL URLs point nowhere: embedded mode must not need them.
    env.update(LIQ_EMBEDDED="1", DEBUG="1", LIQ_VAR_DIR=str(tmp_path), REDIS_URL="redis://127.0.0.1:1/0")
    assert run(["migrate", "-v", "0"], env).returncode == 0
    loaded = run(["load_sample_data"], env)
    assert loaded.returncode == 0, loaded.stderr
    assert "BTCUSDT: heat maps computed for 12h, 24h, 3d, 1w, 2w, 1m, 3m, 6m, 1y (models v1 and v2)" in loaded.stdout
    assert (tmp_path / "liqplatform.sqlite3").exists()
    again = run(["load_sample_data", "--no-compute"], env)
    assert "9727 rows, 0 new or changed" in again.stdout
    # The admin action's task path runs in-process (CELERY_TASK_ALWAYS_EAGER) without a broker.
    code = (
        "import django; django.setup();"
        "from django.db import transaction;"
        "from heatmaps.models import Asset, Heatmap; from heatmaps.tasks import enqueue_recompute;"
        "a = Asset.objects.get(symbol='ETHUSDT'); before = Heatmap.objects.get(asset=a, timeframe='1w', model='v1').version;"
        "Asset.objects.filter(pk=a.pk).update(bins=200);"
        "\nwith transaction.atomic(): enqueue_recompute(asset_ids=[a.pk], timeframes=['1w'])\n"
        "m = Heatmap.objects.get(asset=a, timeframe='1w', model='v1'); print('version', before, m.version, 'bins', m.bins)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=settings.BASE_DIR, env={**env, "DJANGO_SETTINGS_MODULE": "liqplatform.settings"},
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "version 1 2 bins 200" in result.stdout  # recomputed in-process with the new parameters
    coverage = run(["data_coverage"], env)
    assert "ETHUSDT    binance  candles" in coverage.stdout and "(simulated)" in coverage.stdout

    # Accounts on SQLite and the local-memory cache: the demo admin signs in to the admin and to the
    # site, and repeated wrong passwords are locked out (axes keeps its counts in SQLite).
    env.update(LIQ_ADMIN_USER="demo", LIQ_ADMIN_PASSWORD="demo-password-77")
    demo = run(["ensure_demo_admin"], env)
    assert demo.returncode == 0, demo.stderr
    code = (
        "import django; django.setup(); from django.test.utils import setup_test_environment; setup_test_environment();"
        "from django.test import Client; from axes.models import AccessAttempt;"
        "creds = {'username': 'demo', 'password': 'demo-password-77', 'next': '/admin/'};"
        "print('admin', Client().post('/admin/login/', creds)['Location']);"
        "print('site', Client().post('/accounts/login/', {'login': 'demo', 'password': 'demo-password-77'})['Location']);"
        "c = Client(); codes = [c.post('/accounts/login/', {'login': 'demo', 'password': 'wrong'}).status_code for _ in range(5)];"
        "print('lockout', codes, AccessAttempt.objects.get().failures_since_start)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=settings.BASE_DIR, env={**env, "DJANGO_SETTINGS_MODULE": "liqplatform.settings"},
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "admin /admin/\n" in result.stdout
    assert "site /\n" in result.stdout
    assert "lockout [200, 200, 200, 200, 429] 5" in result.stdout
