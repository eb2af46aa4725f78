"""The sample assets prepared for a replay: their history shifted to end now, the rest left to the tape.

``replay_prepare`` stores every sample bar but the last ``catchup_bars`` at shifted times (what the
replay then streams, at LIQ_REPLAY_SPEED, until it has caught up with the wall clock). It replaces
only the sample's own rows: an asset holding real market data is refused, never overwritten.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from django.db import transaction
from django.db.models import Max, Min

from heatmaps.marketdata import SAMPLE_ASSETS, dt_to_ms, ensure_sample_assets, upsert_candles, upsert_funding
from heatmaps.marketdata.sample import SAMPLE_DIR
from heatmaps.marketdata.store import upsert_open_interest
from heatmaps.marketdata.summary import asset_summary_refresh
from heatmaps.models import Asset, Candle, FundingRate, HeldBackCandle, Liquidation, OpenInterest, Ticker
from heatmaps.replay.tape import BAR_MS, Tape, funding_times, origin_ending_at
from heatmaps.rows import CandleRow, FundingRow, OpenInterestRow

SAMPLE_SYMBOLS = [symbol for symbol, _, _ in SAMPLE_ASSETS]


class ReplayRefused(Exception):
    """The replay would overwrite market data that is not the sample's."""


def sample_tape(symbol: str, *, origin_ms: int, directory: Path = SAMPLE_DIR) -> Tape:
    """The bundled files of one sample asset as a tape starting at ``origin_ms``."""
    bars = np.loadtxt(directory / f"{symbol}-5m.csv", delimiter=",", skiprows=1, usecols=(0, 2, 3, 4, 5, 6))
    open_time = bars[:, 0].astype(np.int64)
    oi_base = np.full(open_time.shape[0], np.nan)
    oi_value = np.full(open_time.shape[0], np.nan)
    with (directory / f"{symbol}-metrics-5m-SIMULATED.csv").open(newline="") as fh:
        for row in csv.DictReader(fh):
            closed = datetime.strptime(row["create_time"], "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)
            at = int(np.searchsorted(open_time, int(closed.timestamp() * 1000) - BAR_MS))
            if at < open_time.shape[0] and open_time[at] == int(closed.timestamp() * 1000) - BAR_MS:
                oi_base[at] = float(row["sum_open_interest"])
                oi_value[at] = float(row["sum_open_interest_value"])
    # A bar without a snapshot carries the previous one (the sample has none missing; a copy might).
    for column in (oi_base, oi_value):
        for k in range(1, column.shape[0]):
            if np.isnan(column[k]):
                column[k] = column[k - 1]
    funding = np.loadtxt(directory / f"{symbol}-funding-8h.csv", delimiter=",", skiprows=1, usecols=(2,), ndmin=1)
    return Tape(
        open=bars[:, 1], high=bars[:, 2], low=bars[:, 3], close=bars[:, 4], volume=bars[:, 5],
        oi_base=oi_base, oi_value=oi_value, funding=funding, origin_ms=origin_ms,
    )  # fmt: skip


@dataclass(frozen=True)
class ReplayStart:
    origin_ms: int  # tape bar 0 opens here
    resume_ms: int  # the first bar the replay streams opens here


def _refuse_real_data(assets: list[Asset]) -> None:
    for asset in assets:
        real_oi = OpenInterest.objects.filter(asset=asset, simulated=False).values_list("exchange__code", flat=True)
        other = Candle.objects.filter(asset=asset).exclude(exchange=asset.reference_exchange)
        source = real_oi.first() or other.values_list("exchange__code", flat=True).first()
        if source:
            raise ReplayRefused(
                f"{asset.symbol} holds market data from {source} that is not the sample's; the replay would replace "
                "it, so the sample is not replayed (LIQ_REPLAY=off stops trying)"
            )


def replay_prepare(*, now_ms: int, catchup_bars: int) -> ReplayStart:
    """Replace the sample assets' market rows with the sample shifted so that its last bar is the last
    closed bar before ``now_ms``, keeping back its last ``catchup_bars`` for the replay to stream."""
    with transaction.atomic():
        assets = ensure_sample_assets()
        _refuse_real_data(assets)
        for asset in assets:
            for model in (Candle, OpenInterest, FundingRate, HeldBackCandle, Liquidation, Ticker):
                model.objects.filter(asset=asset).delete()
        start: ReplayStart | None = None
        for asset in assets:
            read = sample_tape(asset.symbol, origin_ms=0)  # the files once; the origin depends on their length
            last_closed = now_ms // BAR_MS * BAR_MS - BAR_MS
            tape = replace(read, origin_ms=origin_ending_at(length=read.length, last_open_ms=last_closed))
            stored = max(2, tape.length - catchup_bars)
            start = ReplayStart(tape.origin_ms, tape.origin_ms + stored * BAR_MS)
            _store_history(asset, tape, stored)
    for asset in assets:
        asset_summary_refresh(asset=asset)
    assert start is not None
    return start


def _store_history(asset: Asset, tape: Tape, bars: int) -> None:
    exchange = asset.reference_exchange
    candles, oi = [], []
    for i in range(bars):
        b = tape.bar(i)
        candles.append(CandleRow(b.open_time_ms, b.open, b.high, b.low, b.close, b.volume))
        base, usd = tape.open_interest(i)
        oi.append(OpenInterestRow(b.open_time_ms + BAR_MS, base, usd))
    upsert_candles(asset=asset, exchange=exchange, rows=candles)
    upsert_open_interest(asset=asset, exchange=exchange, rows=oi, simulated=True)
    end = tape.origin_ms + bars * BAR_MS
    upsert_funding(
        asset=asset,
        exchange=exchange,
        rows=[FundingRow(t, tape.funding_rate(t), None) for t in funding_times(tape.origin_ms, end)],
    )


def replay_resume(symbol: str) -> ReplayStart | None:
    """Where a (re)started replay of a prepared asset carries on: after its newest stored bar."""
    asset = Asset.objects.filter(symbol=symbol).select_related("reference_exchange").first()
    if asset is None:
        return None
    span = Candle.objects.filter(asset=asset, exchange=asset.reference_exchange).aggregate(
        first=Min("open_time"), last=Max("open_time")
    )
    if span["first"] is None:
        return None
    return ReplayStart(dt_to_ms(span["first"]), dt_to_ms(span["last"]) + BAR_MS)
