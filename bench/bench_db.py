"""Shared set-up of the database benchmarks: Django on the separate liqplatform_bench database."""

from __future__ import annotations

import os
import sys
from pathlib import Path


def setup() -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "liqplatform.settings")
    os.environ["DATABASE_URL"] = os.environ.get(
        "LIQ_BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/liqplatform_bench"
    )
    os.environ.setdefault("LIQ_TESTING", "1")
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    call_command("ensure_database")
    connection.close()
    call_command("migrate", verbosity=0)
