"""One corrupt open-interest row changes a map by no more than the row itself could have.

The real case: a metrics file whose last value was cut short (79 463 USD instead of 7.95 B) made the
next day's first row book 7.9 B of "new" open interest at one price. The guard holds such a row back
where it enters the flow and where it is stored, and says so on the page, the API and data_coverage.
"""

from __future__ import annotations

import io
import json
from datetime import timedelta

import numpy as np
import pytest
from django.core.management import call_command
from django.test import Client

from heatmaps import engine
from heatmaps.maps import asset_params, heatmap_compute, load_base_bars
from heatmaps.marketdata import asset_summary_refresh, dt_to_ms, load_sample_data, ms_to_dt, upsert_open_interest
from heatmaps.marketdata.oi_flags import open_interest_flags_refresh
from heatmaps.models import Asset, Heatmap, OpenInterest
from heatmaps.rows import OpenInterestRow

pytestmark = pytest.mark.django_db
HOURS_BEFORE_END = 6


@pytest.fixture
def sample(db: None) -> Asset:
    load_sample_data()
    return Asset.objects.select_related("reference_exchange").get(symbol="BTCUSDT")


def _corrupt_row(asset: Asset, factor: float) -> OpenInterest:
    """Scale one stored snapshot behind the guard's back (as a row written before it existed would be):
    the one stamped at the last midnight UTC, the last row of a day's metrics file. It closes the last
    base bar of a day, so every timeframe's bucket ends on it and every map would book it."""
    newest = OpenInterest.objects.filter(asset=asset).order_by("-time").values_list("time", flat=True)[0]
    midnight = newest.replace(hour=0, minute=0, second=0, microsecond=0)
    row = OpenInterest.objects.get(asset=asset, time=midnight)
    assert row.oi_value is not None
    OpenInterest.objects.filter(asset=asset, time=row.time).update(oi_value=row.oi_value * factor, held_back="")
    return row


def _maps(asset: Asset) -> dict[str, engine.HeatmapGrid]:
    loaded = load_base_bars(asset=asset, since=None)
    assert loaded is not None
    return engine.compute_all_timeframes(bars=loaded.bars, params=asset_params(asset))


@pytest.mark.parametrize("factor", [1e-5, 1e5])
def test_every_timeframe_stays_within_one_percent_of_the_intact_map(sample: Asset, factor: float) -> None:
    intact = _maps(sample)
    row = _corrupt_row(sample, factor)
    loaded = load_base_bars(asset=sample, since=None)
    assert loaded is not None
    held = np.flatnonzero(loaded.oi_held_back["binance"])
    assert loaded.bars.open_time[held].tolist() == [dt_to_ms(row.time) - 300_000]
    guarded = engine.compute_all_timeframes(bars=loaded.bars, params=asset_params(sample))

    # The same corrupt row without the guard: what the map showed before.
    raw = loaded.bars.oi_value.copy()
    raw[held] = (row.oi_value or 0.0) * factor
    unguarded_bars = engine.BaseBars.from_arrays(
        open_time=loaded.bars.open_time,
        high=loaded.bars.high,
        low=loaded.bars.low,
        close=loaded.bars.close,
        volume=loaded.bars.volume,
        taker_buy=loaded.bars.taker_buy,
        oi_value=raw,
    )
    unguarded = engine.compute_all_timeframes(bars=unguarded_bars, params=asset_params(sample))
    for key, want in intact.items():
        whole_want = want.long + want.short
        for grids, within in ((guarded, True), (unguarded, False)):
            got = grids[key]
            whole_got = got.long + got.short
            # The held-back bar's flow is booked with the next bar's, one bar later: cells move a
            # little, the map's mass and its walls do not.
            changed = np.abs(whole_got - whole_want).sum() / whole_want.sum()
            total = whole_got[-1].sum() / whole_want[-1].sum() - 1
            wall = engine.find_clusters(got, limit=1)[0].usd / engine.find_clusters(want, limit=1)[0].usd - 1
            if within:
                assert changed <= 0.01 and abs(total) <= 0.01 and abs(wall) <= 0.01, key
            else:  # without the guard the row is a wall or a wipe-out: the test would catch its return
                assert changed > 0.1, key


def test_the_stored_maps_say_what_was_held_back(sample: Asset) -> None:
    _corrupt_row(sample, 1e-5)
    heatmap_compute(asset=sample)
    for m in Heatmap.objects.filter(asset=sample):
        assert m.held_back == {"binance": {"open_interest": 1}}, m.timeframe
    body = Client().get("/api/v1/assets/BTCUSDT/heatmap/?timeframe=24h").json()
    assert body["provenance"]["held_back"] == {"binance": {"open_interest": 1}}
    page = Client().get("/assets/BTCUSDT/?tf=24h").content.decode()
    assert "held back as implausible in this window: Binance USDS-M: 1 open-interest snapshot" in page


def test_ingest_flags_the_row_with_its_provenance_and_clears_a_corrected_one(sample: Asset) -> None:
    binance = sample.reference_exchange
    newest = OpenInterest.objects.filter(asset=sample).order_by("-time").first()
    assert newest is not None
    at = newest.time - timedelta(hours=HOURS_BEFORE_END)
    good = OpenInterest.objects.get(asset=sample, time=at)
    cut_short = OpenInterestRow(dt_to_ms(at), None, 79_463.0)  # the truncated value of the real case
    upsert_open_interest(asset=sample, exchange=binance, rows=[cut_short], simulated=True)
    span = {"start_ms": dt_to_ms(at), "end_ms": dt_to_ms(at)}
    assert open_interest_flags_refresh(asset=sample, exchange=binance, **span) == 1
    flagged = OpenInterest.objects.get(asset=sample, time=at)
    assert (flagged.held_back, flagged.simulated, flagged.oi_value) == ("spike", True, 79_463.0)
    assert open_interest_flags_refresh(asset=sample, exchange=binance, **span) == 1  # idempotent
    assert OpenInterest.objects.exclude(held_back="").count() == 1

    asset_summary_refresh(asset=sample)
    overview = Client().get("/").content.decode()
    assert "1 held back" in overview

    out = io.StringIO()
    call_command("data_coverage", "--asset", "BTCUSDT", stdout=out)
    text = out.getvalue()
    assert "held back" in text and f"{at:%Y-%m-%d %H:%M} UTC  spike: 79,463 USD" in text
    out = io.StringIO()
    call_command("data_coverage", "--json", stdout=out)
    report = {(r["asset"], r["exchange"], r["kind"]): r for r in json.loads(out.getvalue())}
    assert report[("BTCUSDT", "binance", "open_interest")]["held_back"] == 1

    # The correct value arrives again (a re-fetch, a repaired file): the flag goes.
    upsert_open_interest(
        asset=sample,
        exchange=binance,
        rows=[OpenInterestRow(dt_to_ms(at), good.oi_base, good.oi_value)],
        simulated=True,
    )
    assert open_interest_flags_refresh(asset=sample, exchange=binance, **span) == 0
    assert not OpenInterest.objects.exclude(held_back="").exists()


def test_the_newest_snapshot_is_judged_by_the_volume_traded(sample: Asset) -> None:
    """At ingest the glitch's return has not arrived yet: the volume bound alone holds it back."""
    binance = sample.reference_exchange
    newest = OpenInterest.objects.filter(asset=sample).order_by("-time").first()
    assert newest is not None and newest.oi_value is not None
    upsert_open_interest(
        asset=sample,
        exchange=binance,
        rows=[OpenInterestRow(dt_to_ms(newest.time), None, newest.oi_value * 1e5)],
        simulated=True,
    )
    end = dt_to_ms(newest.time)
    assert open_interest_flags_refresh(asset=sample, exchange=binance, start_ms=end, end_ms=end) == 1
    assert OpenInterest.objects.get(asset=sample, time=ms_to_dt(end)).held_back == "exceeds_volume"


def test_rest_ingest_flags_what_it_stores(sample: Asset) -> None:
    """The path every poll and backfill takes: rows stored, then judged against their neighbours."""
    from heatmaps.ingest.fetch import _store

    binance = sample.reference_exchange
    newest = OpenInterest.objects.filter(asset=sample).order_by("-time").first()
    assert newest is not None and newest.oi_value is not None
    at = newest.time - timedelta(hours=HOURS_BEFORE_END)
    glitch = OpenInterestRow(dt_to_ms(at), None, newest.oi_value * 1e-5)
    assert _store("open_interest", sample, binance, [glitch]) == 1
    assert OpenInterest.objects.get(asset=sample, time=at).held_back == "spike"
