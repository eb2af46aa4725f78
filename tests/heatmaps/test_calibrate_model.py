"""calibrate_model: refused on simulated open interest or too few recorded liquidations; a fit otherwise."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from django.core.management import CommandError, call_command

from heatmaps.engine.calibration import LOOKBACK_MS, MIN_EVENTS
from heatmaps.maps import load_base_bars
from heatmaps.marketdata import insert_liquidations, load_sample_data
from heatmaps.models import Asset, Exchange, OpenInterest
from heatmaps.rows import LiquidationRow

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def sample(django_db_setup: None, django_db_blocker: Any) -> Iterator[None]:
    with django_db_blocker.unblock():
        load_sample_data()
        yield
        Asset.objects.filter(symbol__in=["BTCUSDT", "ETHUSDT"]).delete()


def test_refused_on_simulated_open_interest_then_on_too_few_liquidations_then_fitted(sample: None) -> None:
    with pytest.raises(CommandError, match="open interest is simulated"):
        call_command("calibrate_model", "--asset", "BTCUSDT")
    asset = Asset.objects.get(symbol="BTCUSDT")
    OpenInterest.objects.filter(asset=asset).update(simulated=False)  # as if it had been real
    with pytest.raises(CommandError, match=f"0 recorded liquidations .* at least {MIN_EVENTS}"):
        call_command("calibrate_model", "--asset", "BTCUSDT")
    # Longs liquidated at the 25x and 50x prices from the trailing three-day high, after the first week.
    loaded = load_base_bars(asset=asset, since=None)
    assert loaded is not None
    bars = loaded.bars
    rng = np.random.default_rng(1)
    times = np.sort(rng.integers(int(bars.open_time[0]) + 7 * 86_400_000, int(bars.open_time[-1]), 400))
    rows = []
    for n, t in enumerate(times.tolist()):
        window = (bars.open_time >= t - LOOKBACK_MS) & (bars.open_time + 300_000 <= t)
        high = float(bars.high[window].max())
        lev = 25.0 if n % 2 else 50.0
        price = high * (1 - 1 / lev) / (1 - 0.004)
        rows.append(LiquidationRow("BTCUSDT", t, "long", price, 10_000.0 / price, 10_000.0, f"c{n}"))
    insert_liquidations(asset=asset, exchange=Exchange.get_supported("binance"), rows=rows)
    out = io.StringIO()
    call_command("calibrate_model", "--asset", "BTCUSDT", "--json", stdout=out)
    report = json.loads(out.getvalue())
    fit = report["fit"]
    assert report["liquidation_feeds"] == {"binance": 400}
    assert fit["events"] == 400 and fit["fit_events"] + fit["scored_events"] == 400
    liquidated = dict(zip(fit["leverages"], fit["liquidated_mix"], strict=True))
    assert liquidated[25.0] == pytest.approx(0.5) and liquidated[50.0] == pytest.approx(0.5)
    assert fit["adopt"]  # the defaults put 45 % of the weight on other tiers
    words = io.StringIO()
    call_command("calibrate_model", "--asset", "BTCUSDT", stdout=words)
    assert "sampled" in words.getvalue() and "adopt the fit" in words.getvalue()
