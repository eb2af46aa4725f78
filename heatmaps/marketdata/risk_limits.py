"""Model v2's maintenance margin and maximum leverage per asset, from the venues' public risk limits.

``risk_limits_refresh`` asks each of the asset's enabled venues that publishes its brackets without a key
(Bybit ``/v5/market/risk-limit``, OKX ``/api/v5/public/position-tiers``; Binance's leverage brackets need an
API key) and keeps one ``RiskLimit`` row per asset and venue. ``asset_v2_risk`` aggregates the rows:
the median first-bracket maintenance margin rate over the venues with a row, and the highest first-bracket
maximum leverage any venue offers; ``asset_v2_params`` turns that into the engine's ``ModelV2Params``
(docs/model.md, "Where v2's margin, leverage and mark prices come from").
"""

from __future__ import annotations

import logging
import statistics
from collections.abc import Callable, Collection
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from django.utils import timezone

from heatmaps.exchanges import BaseConnector, ExchangeError, TransientExchangeError
from heatmaps.exchanges.brackets import RiskLimits
from heatmaps.models import Asset, Candle, Exchange, InstrumentSpec, RiskLimit, VenueSymbol

if TYPE_CHECKING:
    from heatmaps.engine.model_v2_params import ModelV2Params

log = logging.getLogger(__name__)

# Model v1's maintenance margin rate: what v2 uses for an asset no venue has published brackets for.
DEFAULT_MMR = 0.004


# --------------------------------------------------------------------------- refresh


@dataclass
class RiskLimitRefresh:
    """What one refresh did: venues stored, venues that failed (their previous row, if any, kept), and
    venues that publish no brackets without a key."""

    stored: list[str] = field(default_factory=list)
    failed: dict[str, ExchangeError] = field(default_factory=dict)
    unpublished: list[str] = field(default_factory=list)

    @property
    def transient(self) -> bool:
        """A failure worth trying again later (timeouts, 5xx, rate limits)."""
        return any(isinstance(exc, TransientExchangeError) for exc in self.failed.values())


def publishes_risk_limits(connector: BaseConnector) -> bool:
    return callable(getattr(connector, "fetch_risk_limits", None))


def risk_limits_refresh(
    *, asset: Asset, connect: Callable[[Exchange], BaseConnector], exchanges: Collection[str] | None = None
) -> RiskLimitRefresh:
    """Fetch the brackets of ``asset`` from each of its enabled venues that publishes them (of ``exchanges``,
    codes, when given) and upsert one row per venue. ``connect`` opens a connector for a venue (the ingest
    layer's, with the shared budget).

    Idempotent: a rerun overwrites each row with the same brackets. A venue's error is logged and written
    beside its previous row (``last_error``), whose brackets stay as they were: a failed refresh never
    wipes what the last good one stored."""
    report = RiskLimitRefresh()
    venues = asset.exchanges.filter(enabled=True).order_by("code")
    if exchanges is not None:
        venues = venues.filter(code__in=list(exchanges))
    for exchange in venues:
        conn = connect(exchange)
        try:
            if not publishes_risk_limits(conn):
                report.unpublished.append(exchange.code)
                continue
            limits = _fetch(asset, exchange, conn)
        except ExchangeError as exc:
            report.failed[exchange.code] = exc
            log.warning("risk limits %s@%s: %s; the previous brackets stay", asset.symbol, exchange.code, exc)
            RiskLimit.objects.filter(asset=asset, exchange=exchange).update(
                last_error=str(exc)[:2000], last_error_at=timezone.now()
            )
            continue
        finally:
            conn.close()
        RiskLimit.objects.update_or_create(
            asset=asset,
            exchange=exchange,
            defaults={
                "instrument": limits.symbol,
                "brackets": [b.as_json() for b in limits.brackets],
                "max_leverage": limits.first.max_leverage,
                "mmr": limits.first.mmr,
                "fetched_at": timezone.now(),
                "last_error": "",
                "last_error_at": None,
            },
        )
        report.stored.append(exchange.code)
        log.info(
            "risk limits %s@%s: %d brackets, first %gx at mmr %g",
            asset.symbol, exchange.code, len(limits.brackets), limits.first.max_leverage, limits.first.mmr,
        )  # fmt: skip
    return report


def _fetch(asset: Asset, exchange: Exchange, conn: BaseConnector) -> RiskLimits:
    mapped = VenueSymbol.objects.filter(asset=asset, exchange=exchange).values_list("symbol", flat=True).first()
    symbol = mapped or conn.instrument(asset.base, asset.quote)
    fetch: Any = conn.fetch_risk_limits  # type: ignore[attr-defined]
    if exchange.code != "okx":
        return fetch(symbol)
    # OKX caps positions in contracts: its stored contract size (asked of the venue when none is) and the
    # newest close of the asset on that venue, else on its reference venue, give the caps in USD.
    size = InstrumentSpec.objects.filter(exchange=exchange, instrument=symbol).values_list("contract_size", flat=True)
    return fetch(symbol, contract_size=size.first(), price=_last_close(asset, exchange))


def _last_close(asset: Asset, exchange: Exchange) -> float | None:
    for exchange_id in (exchange.pk, asset.reference_exchange_id):
        close = (
            Candle.objects.filter(asset=asset, exchange_id=exchange_id)
            .order_by("-open_time")
            .values_list("close", flat=True)
            .first()
        )
        if close is not None:
            return float(close)
    return None


# --------------------------------------------------------------------------- aggregation


@dataclass(frozen=True)
class V2Risk:
    """The margin and leverage model v2 runs an asset with, and where they came from."""

    mmr: float
    max_leverage: float | None  # None: no venue's brackets known, no tier dropped
    venues: tuple[str, ...]  # the venues whose rows fed it, by code
    mmr_default: bool  # True when no venue had a row and the documented default applies

    def provenance(self) -> dict[str, Any]:
        return {
            "mmr": self.mmr,
            "max_leverage": self.max_leverage,
            "risk_limit_venues": list(self.venues),
            "mmr_source": "default" if self.mmr_default else "venues",
        }


def asset_v2_risk(asset: Asset) -> V2Risk:
    """The median first-bracket maintenance margin rate over the asset's enabled venues with a RiskLimit row
    (``DEFAULT_MMR`` when none has one), and the highest first-bracket maximum leverage any of them offers."""
    rows = list(
        RiskLimit.objects.filter(asset=asset, exchange__enabled=True, exchange__in=asset.exchanges.all())
        .order_by("exchange__code")
        .values_list("exchange__code", "mmr", "max_leverage")
    )
    if not rows:
        return V2Risk(mmr=DEFAULT_MMR, max_leverage=None, venues=(), mmr_default=True)
    return V2Risk(
        mmr=float(statistics.median(r[1] for r in rows)),
        max_leverage=float(max(r[2] for r in rows)),
        venues=tuple(r[0] for r in rows),
        mmr_default=False,
    )


def asset_v2_params(asset: Asset, *, risk: V2Risk | None = None) -> ModelV2Params:
    """Model v2's defaults for ``asset`` with its venues' margin and leverage: ``DEFAULT_V2_TIERS`` with
    ``max_leverage`` the highest any venue offers (the engine drops the tiers above it, so a tier goes only
    when no venue offers it, and scales the rest back to a sum of 1), ``mmr`` the venues' median. ``risk``
    (from ``asset_v2_risk``, which also says which venues fed it) saves the query when the caller has it.

    Kept inside the engine's bounds: the margin at most ``MAX_MMR``, the leverage at most ``MAX_LEVERAGE``,
    and no tier at a leverage whose initial margin is at or below the maintenance margin (opened
    liquidated). Where no default tier is left, one tier at the highest leverage possible, with the
    lowest tier's half-life."""
    from heatmaps.engine.model_v2_params import (  # the engine's v2 is loaded on use
        DEFAULT_V2_TIERS,
        MAX_LEVERAGE,
        MAX_MMR,
        ModelV2Params,
    )

    risk = risk if risk is not None else asset_v2_risk(asset)
    tiers = tuple(DEFAULT_V2_TIERS)
    mmr = min(risk.mmr, MAX_MMR)
    cap = None if risk.max_leverage is None else min(risk.max_leverage, MAX_LEVERAGE)
    allowed = [t for t in tiers if t.leverage * mmr < 1 and (cap is None or t.leverage <= cap)]
    if not allowed:
        lowest = min(tiers, key=lambda t: t.leverage)
        ceiling = min(cap if cap is not None else lowest.leverage, 0.999 / mmr if mmr > 0 else MAX_LEVERAGE)
        tiers = (replace(lowest, leverage=ceiling, weight=1.0),)
        return ModelV2Params(tiers=tiers, mmr=mmr, max_leverage=None, n_bins=asset.bins, pad=asset.pad)
    if len(allowed) < len(tiers) and (cap is None or any(t.leverage <= cap and t not in allowed for t in tiers)):
        cap = max(t.leverage for t in allowed)
    return ModelV2Params(tiers=tiers, mmr=mmr, max_leverage=cap, n_bins=asset.bins, pad=asset.pad)
