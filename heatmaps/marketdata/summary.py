"""The overview's row per asset, kept current as data lands and maps are recomputed.

The overview lists every enabled asset with its price, OI, funding, volume and nearest big clusters.
Reading those live would mean a dozen queries per asset per request; instead each asset's figures are
written here (a handful of indexed queries) when its data changes, and the overview reads one table.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db.models import F, FloatField, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone

from heatmaps.marketdata.aggregation import market_snapshot
from heatmaps.models import Asset, AssetSummary, Candle, FundingRate, Heatmap, HeldBackCandle, OpenInterest, Ticker

# Which map's clusters the overview shows: the first that exists, the site's default timeframe first.
SUMMARY_TIMEFRAMES = ("24h", "12h", "3d", "1w", "2w", "1m", "3m", "6m", "1y")
DAY = timedelta(hours=24)


def _pct_change(now: float | None, before: float | None) -> float | None:
    if now is None or before is None or not before:
        return None
    return (now - before) / before * 100


def _oi_usd_at(asset: Asset, exchange_id: int, at: datetime, price: float | None) -> float | None:
    """One exchange's open interest in USD at or before `at` (Bybit's base units valued at `price`)."""
    row = (
        OpenInterest.objects.filter(asset=asset, exchange_id=exchange_id, time__lte=at)
        .order_by("-time")
        .values_list("oi_value", "oi_base", "simulated")
        .first()
    )
    if row is None:
        return None
    value, base, _ = row
    if value is None and base is not None and price is not None:
        value = base * price
    return value


def _held_back_last_day(asset: Asset, last_bar: datetime) -> int:
    """Rows left out as implausible over the day to the newest bar, all exchanges: open-interest
    snapshots flagged where stored and candles held back at ingest."""
    since = last_bar - DAY
    flagged_oi = OpenInterest.objects.filter(asset=asset, time__gt=since).exclude(held_back="").count()
    return flagged_oi + HeldBackCandle.objects.filter(asset=asset, open_time__gt=since).count()


def _next_funding(asset: Asset) -> tuple[datetime | None, bool]:
    """The exchange's announced next settlement, else the newest settlement plus its interval (estimated)."""
    ticker = (
        Ticker.objects.filter(asset=asset, next_funding_time__isnull=False)
        .order_by("-time")
        .values_list("next_funding_time", flat=True)
        .first()
    )
    if ticker is not None:
        return ticker, False
    latest = list(
        FundingRate.objects.filter(asset=asset, exchange=asset.reference_exchange)
        .order_by("-funding_time")
        .values_list("funding_time", flat=True)[:2]
    )
    if len(latest) < 2:
        return None, False
    return latest[0] + (latest[0] - latest[1]), True


def asset_summary_refresh(*, asset: Asset, now: datetime | None = None) -> AssetSummary:
    """Recompute and store the asset's overview row (replaced whole)."""
    ref_candles = Candle.objects.filter(asset=asset, exchange_id=asset.reference_exchange_id)
    newest = ref_candles.order_by("-open_time").values_list("open_time", "close").first()
    last_bar, price = newest if newest else (None, None)
    values: dict[str, object] = {"updated_at": now or timezone.now(), "last_bar": last_bar, "price": price}
    if last_bar is not None:
        before = (
            ref_candles.filter(open_time__lte=last_bar - DAY).order_by("-open_time").values_list("close", flat=True)
        )
        values["change_24h_pct"] = _pct_change(price, before.first())

    snapshot = next((r for r in market_snapshot(asset=asset) if r.exchange == "all"), None)
    values["oi_usd"] = snapshot.oi_usd if snapshot else None
    values["funding_rate"] = snapshot.funding_rate if snapshot else None
    exchange_ids = list(asset.exchanges.filter(enabled=True).values_list("pk", flat=True))
    if last_bar is not None and exchange_ids:
        # OI change over the exchanges that report at both ends, so one exchange joining is not "growth".
        now_sum = before_sum = 0.0
        paired = False
        for exchange_id in exchange_ids:
            current = _oi_usd_at(asset, exchange_id, last_bar + timedelta(minutes=5), price)
            earlier = _oi_usd_at(asset, exchange_id, last_bar + timedelta(minutes=5) - DAY, price)
            if current is not None and earlier is not None:
                now_sum, before_sum, paired = now_sum + current, before_sum + earlier, True
        values["oi_change_24h_pct"] = _pct_change(now_sum, before_sum) if paired else None
        volume = (
            Candle.objects.filter(asset=asset, exchange_id__in=exchange_ids, open_time__gt=last_bar - DAY)
            .aggregate(
                usd=Sum(Coalesce(F("quote_volume"), F("volume") * F("close"), output_field=FloatField())),
            )
            .get("usd")
        )
        values["volume_24h_usd"] = volume
    values["oi_simulated"] = OpenInterest.objects.filter(asset=asset, simulated=True).exists()
    values["held_back_rows"] = _held_back_last_day(asset, last_bar) if last_bar is not None else 0
    values["next_funding_time"], values["next_funding_estimated"] = _next_funding(asset)

    maps = {
        m.timeframe: m
        # The overview speaks for model v1, the default: v2's stored maps sit beside them.
        for m in Heatmap.objects.filter(asset=asset, timeframe__in=SUMMARY_TIMEFRAMES, model="v1").only(
            "timeframe", "clusters"
        )
    }
    chosen = next((maps[tf] for tf in SUMMARY_TIMEFRAMES if tf in maps), None)
    values["cluster_timeframe"] = chosen.timeframe if chosen else ""
    above = below = None
    for cluster in chosen.clusters if chosen else []:  # largest USD first
        if cluster["side"] == "short" and above is None:
            above = cluster
        elif cluster["side"] == "long" and below is None:
            below = cluster
    values["cluster_above_usd"] = above["usd"] if above else None
    values["cluster_above_pct"] = above.get("distance_pct") if above else None
    values["cluster_below_usd"] = below["usd"] if below else None
    values["cluster_below_pct"] = below.get("distance_pct") if below else None
    summary, _ = AssetSummary.objects.update_or_create(asset=asset, defaults=values)
    return summary
