"""An asset across its exchanges: the latest figures per exchange and aggregated.

Open interest is summed over exchanges, funding is weighted by each exchange's open interest,
volume is summed. Candles for the heat map come from the asset's reference exchange only.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Sum

from heatmaps.models import Asset, Candle, FundingRate, OpenInterest


@dataclass(frozen=True)
class Snapshot:
    exchange: str  # exchange code, or "all" for the aggregate
    last_bar: datetime | None
    close: float | None  # quote currency
    oi_usd: float | None
    funding_rate: float | None  # fraction per interval
    volume_24h: float | None  # base asset, 24 h up to the exchange's newest bar


def market_snapshot(*, asset: Asset) -> list[Snapshot]:
    rows: list[Snapshot] = []
    for exchange in asset.exchanges.order_by("code"):
        candle = Candle.objects.filter(asset=asset, exchange=exchange).order_by("-open_time").first()
        oi = OpenInterest.objects.filter(asset=asset, exchange=exchange).order_by("-time").first()
        funding = FundingRate.objects.filter(asset=asset, exchange=exchange).order_by("-funding_time").first()
        volume = None
        if candle is not None:
            volume = Candle.objects.filter(
                asset=asset, exchange=exchange, open_time__gt=candle.open_time - timedelta(hours=24)
            ).aggregate(v=Sum("volume"))["v"]
        oi_usd = None
        if oi is not None:
            oi_usd = oi.oi_value
            if oi_usd is None and oi.oi_base is not None and candle is not None:
                oi_usd = oi.oi_base * candle.close  # Bybit reports base units only
        rows.append(
            Snapshot(
                exchange=exchange.code,
                last_bar=candle.open_time if candle else None,
                close=candle.close if candle else None,
                oi_usd=oi_usd,
                funding_rate=funding.rate if funding else None,
                volume_24h=volume,
            )
        )
    if rows:
        rows.append(aggregate(rows, reference=asset.reference_exchange.code))
    return rows


def aggregate(rows: list[Snapshot], *, reference: str) -> Snapshot:
    with_oi = [r for r in rows if r.oi_usd is not None]
    weighted = [r for r in with_oi if r.funding_rate is not None and r.oi_usd]
    weight = sum(r.oi_usd or 0.0 for r in weighted)
    ref = next((r for r in rows if r.exchange == reference), None)
    volumes = [r.volume_24h for r in rows if r.volume_24h is not None]
    return Snapshot(
        exchange="all",
        last_bar=ref.last_bar if ref else None,
        close=ref.close if ref else None,
        oi_usd=sum(r.oi_usd or 0.0 for r in with_oi) if with_oi else None,
        funding_rate=sum((r.funding_rate or 0.0) * (r.oi_usd or 0.0) for r in weighted) / weight if weight else None,
        volume_24h=sum(volumes) if volumes else None,
    )
