from __future__ import annotations

from typing import Any

import psycopg
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = "Create the configured PostgreSQL database if it does not exist yet (no-op for SQLite)."

    def handle(self, *args: Any, **options: Any) -> None:
        db = settings.DATABASES["default"]
        if db["ENGINE"] != "django.db.backends.postgresql":
            return
        host = str(db.get("HOST") or "127.0.0.1")
        port = int(db.get("PORT") or 5432)
        try:
            with psycopg.connect(
                dbname="postgres",
                host=host,
                port=port,
                user=str(db.get("USER") or "postgres"),
                password=db.get("PASSWORD") or None,
                connect_timeout=3,
                autocommit=True,
            ) as conn:
                exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [db["NAME"]]).fetchone()
                if not exists:
                    conn.execute(f'CREATE DATABASE "{db["NAME"]}"')
                    self.stdout.write(f"created database {db['NAME']}")
        except psycopg.Error as exc:
            raise CommandError(f"PostgreSQL at {host}:{port} is not usable: {exc}") from None
