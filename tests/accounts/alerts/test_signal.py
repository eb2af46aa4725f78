"""heatmaps announces new market data after commit without naming accounts; accounts listens and
only queues a (debounced) evaluation."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from heatmaps.events import market_data_updated
from heatmaps.models import Asset
from heatmaps.tasks import recompute_asset
from tests.accounts.alerts.db import FIRST, load_bars, load_open_interest

pytestmark = pytest.mark.django_db


def test_a_recompute_announces_the_asset_after_commit(
    btc: Asset, django_capture_on_commit_callbacks: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    scheduled: list[int] = []
    monkeypatch.setattr("accounts.tasks.schedule_evaluation", scheduled.append)
    heard: list[int] = []

    def listen(sender: object, asset_id: int, **kwargs: object) -> None:
        heard.append(asset_id)

    market_data_updated.connect(listen)
    try:
        load_bars(btc, FIRST + 700)
        load_open_interest(btc, FIRST + 700)
        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            assert recompute_asset(btc.pk, ["12h"]) == 1
        assert heard == [] and scheduled == []  # nothing before the commit
        for callback in callbacks:
            callback()
        assert heard == [btc.pk] and scheduled == [btc.pk]
    finally:
        market_data_updated.disconnect(listen)
