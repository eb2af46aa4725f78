"""What a manage.py command imports before it does anything, and that Celery still finds its tasks.

Every command sets Django up; the heavy modules (Celery and its broker client, the task modules, the
exchange connectors with their HTTP client, numpy, the backtest) are imported where they are used,
not at start-up. Each check runs in a fresh process, as an operator runs a command.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

from django.conf import settings

HEAVY = ["celery", "kombu", "httpx", "numpy", "heatmaps.tasks", "heatmaps.exchanges", "heatmaps.engine.backtest"]


def fresh(code: str) -> str:
    env = {**os.environ, "LIQ_TESTING": "1", "DJANGO_SETTINGS_MODULE": "liqplatform.settings"}
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=settings.BASE_DIR, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip().splitlines()[-1]


def test_manage_py_help_imports_none_of_the_heavy_modules() -> None:
    loaded = fresh(
        "import io, json, sys, contextlib\n"
        "from django.core.management import execute_from_command_line\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    execute_from_command_line(['manage.py', 'help'])\n"
        f"print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))\n"
    )
    assert json.loads(loaded) == []


def test_sending_a_task_uses_the_configured_app() -> None:
    # A process that never imported liqplatform.celery itself: the task module brings the app along.
    app = fresh(
        "import django; django.setup()\n"
        "import heatmaps.tasks\n"
        "from celery import current_app\n"
        "print(current_app.main, current_app.conf.broker_url == __import__('django.conf').conf.settings.CELERY_BROKER_URL)\n"
    )
    assert app == "liqplatform True"


def test_a_worker_finds_the_app_and_every_task() -> None:
    found = fresh(
        "import json\n"
        "from celery.app.utils import find_app\n"
        "app = find_app('liqplatform')\n"
        "app.loader.import_default_modules()\n"
        "print(json.dumps([app.main, sorted(t for t in app.tasks if not t.startswith('celery.'))]))\n"
    )
    main, tasks = json.loads(found)
    assert main == "liqplatform"
    for name in ("heatmaps.recompute_asset", "heatmaps.maintain_partitions", "accounts.deliver_events"):
        assert name in tasks
    assert len(tasks) >= 19
