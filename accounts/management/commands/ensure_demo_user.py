from __future__ import annotations

import os
from typing import Any

from django.core.management.base import BaseCommand
from django.db import transaction

from accounts.annotations import annotation_create
from accounts.models import Annotation, User, Watchlist
from accounts.services import demo_account_ensure
from accounts.watchlists import watchlist_create
from heatmaps.models import Asset, Candle

DEFAULT_PASSWORD = "liqplatform-demo-trader"
SAMPLE_SYMBOLS = ["BTCUSDT", "ETHUSDT"]


class Command(BaseCommand):
    help = (
        "Create the demo trader 'demo' if missing (password from LIQ_DEMO_PASSWORD, or a fixed development "
        "default) with a 'Majors' watchlist and two annotations on BTCUSDT. Safe to run again."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        password = os.environ.get("LIQ_DEMO_PASSWORD", DEFAULT_PASSWORD)
        with transaction.atomic():
            email = os.environ.get("LIQ_DEMO_EMAIL", "demo@localhost")
            user, created = demo_account_ensure(username="demo", password=password, email=email, staff=False)
            self._watchlist(user)
            self._annotations(user)
        if created:
            self.stdout.write(f"Demo trader created: user 'demo', password {password!r}")
        else:
            self.stdout.write(
                f"Demo trader: user 'demo' (already existed; its password was left as it was — "
                f"{password!r} unless changed since)"
            )

    def _watchlist(self, user: User) -> None:
        if Watchlist.objects.filter(user=user, name__iexact="Majors").exists():
            return
        symbols = list(Asset.objects.filter(symbol__in=SAMPLE_SYMBOLS, enabled=True).values_list("symbol", flat=True))
        symbols.sort(key=SAMPLE_SYMBOLS.index)
        watchlist_create(user=user, name="Majors", assets=symbols)

    def _annotations(self, user: User) -> None:
        btc = Asset.objects.filter(symbol="BTCUSDT", enabled=True).first()
        if btc is None or Annotation.objects.filter(user=user, asset=btc).exists():
            return
        last = (
            Candle.objects.filter(asset=btc, exchange=btc.reference_exchange_id)
            .order_by("-open_time")
            .values_list("close", flat=True)
            .first()
        )
        if last is None:
            return
        # A round-number level just under the last close, and a zone a few percent above it.
        level = round(last * 0.98, -2) or last * 0.98
        annotation_create(user=user, asset="BTCUSDT", kind="level", price=level, label="support", color="#3fb950")
        annotation_create(
            user=user,
            asset="BTCUSDT",
            kind="zone",
            price=round(last * 1.03, 1),
            price_high=round(last * 1.05, 1),
            label="take-profit zone",
            color="#d29922",
        )
