"""Mark-price candles at rest: the idempotent upsert and the newest stored bar. The base bars read them
beside the candles (``base_bars.load_base_bars``)."""

from __future__ import annotations

from collections.abc import Sequence

from heatmaps.marketdata.rawsql import epoch_ms, fetch, ms_to_dt
from heatmaps.marketdata.upserts import upsert_rows
from heatmaps.models import Asset, Exchange, MarkCandle
from heatmaps.rows import CandleRow


def upsert_mark_candles(*, asset: Asset, exchange: Exchange, rows: Sequence[CandleRow]) -> int:
    """Insert or update mark-price bars (their volumes, which venues do not give, are ignored); returns the
    rows inserted or changed, so storing the same bars twice reports 0."""
    by_time = {r.open_time_ms: r for r in rows}  # one row per key, the last one seen
    return upsert_rows(
        MarkCandle,
        key_fields=("asset", "exchange", "open_time"),
        value_fields=("open", "high", "low", "close"),
        records=[
            (asset.pk, exchange.pk, ms_to_dt(r.open_time_ms), r.open, r.high, r.low, r.close)
            for _t, r in sorted(by_time.items())
        ],
    )


def last_mark_candle_ms(*, asset: Asset, exchange: Exchange) -> int | None:
    rows = fetch(
        f"SELECT {epoch_ms('max(open_time)')} FROM {MarkCandle._meta.db_table} WHERE asset_id = %s AND exchange_id = %s",
        [asset.pk, exchange.pk],
    )
    return None if not rows or rows[0][0] is None else int(rows[0][0])
