from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from heatmaps.models import (
    Asset,
    Exchange,
    Heatmap,
    HyperliquidAccount,
    MarkCandle,
    MeasuredPosition,
    RiskLimit,
    VenueSymbol,
)


@admin.register(Exchange)
class ExchangeAdmin(admin.ModelAdmin):
    list_display = ["code", "name", "enabled", "health", "last_success_at"]
    list_editable = ["enabled"]
    readonly_fields = ["degraded_since", "last_error", "last_success_at"]

    @admin.display(description="health")
    def health(self, obj: Exchange) -> str:
        return f"degraded since {obj.degraded_since:%Y-%m-%d %H:%M} UTC" if obj.degraded_since else "ok"


class VenueSymbolForm(forms.ModelForm):
    """A changed symbol is checked against the venue's instrument list before it is saved: a name the venue
    does not list (or a venue that cannot be asked just now) is an error on the form, not a failing ingest."""

    class Meta:
        model = VenueSymbol
        fields = ["asset", "exchange", "symbol"]

    def clean(self) -> dict[str, object]:
        data = super().clean() or {}
        exchange, symbol = data.get("exchange"), str(data.get("symbol") or "").strip()
        if isinstance(exchange, Exchange) and symbol and self.has_changed():
            # Imported here, not at start-up: the connectors behind it load an HTTP client (every
            # manage.py command loads the admin).
            from heatmaps.ingest.instruments import venue_symbol_problem

            problem, checked = venue_symbol_problem(exchange=exchange, symbol=symbol)
            if problem is not None:
                raise forms.ValidationError(problem)
            self.instance.checked_at = timezone.now() if checked else None
            data["symbol"] = symbol
        return data


@admin.register(VenueSymbol)
class VenueSymbolAdmin(admin.ModelAdmin):
    """One row per asset and venue: what the venue calls the asset. An asset without a row on one of its
    venues uses the venue's convention (BTCUSDT, BTC-USDT-SWAP, BTC)."""

    form = VenueSymbolForm
    list_display = ["asset", "exchange", "symbol", "checked_at"]
    list_filter = ["exchange"]
    search_fields = ["asset__symbol", "symbol"]
    readonly_fields = ["checked_at"]


@admin.register(Asset)
class AssetAdmin(admin.ModelAdmin):
    list_display = ["symbol", "display_name", "enabled", "reference_exchange", "freshness"]
    list_filter = ["enabled", "exchanges"]
    list_editable = ["enabled"]
    search_fields = ["symbol", "display_name"]
    filter_horizontal = ["exchanges"]
    readonly_fields = ["market", "coverage"]
    actions = ["enqueue_backfill", "enqueue_recompute"]
    fieldsets = [
        (None, {"fields": ["symbol", "display_name", "base", "quote", "enabled"]}),
        ("Exchanges", {"fields": ["exchanges", "reference_exchange"]}),
        ("Model v1 parameters", {"fields": ["tiers", "mmr", "bins", "pad"]}),
        ("Market, per exchange and aggregated", {"fields": ["market"]}),
        ("Data coverage", {"fields": ["coverage"]}),
    ]

    @admin.display(description="last candle")
    def freshness(self, obj: Asset) -> str:
        from heatmaps.marketdata import data_coverage  # numpy and the market modules: not at start-up

        rows = [c for c in data_coverage(assets=[obj]) if c.kind == "candles" and c.last]
        if not rows:
            return "no data"
        last = max(c.last for c in rows if c.last)
        age = timezone.now() - last
        return f"{last:%Y-%m-%d %H:%M} UTC ({_age(age.total_seconds())} ago)"

    @admin.display(description="latest figures")
    def market(self, obj: Asset) -> SafeString | str:
        if obj.pk is None:
            return "-"
        from heatmaps.marketdata import market_snapshot

        rows = market_snapshot(asset=obj)
        if not rows:
            return "no exchanges"
        body = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (
                    "aggregated" if r.exchange == "all" else r.exchange,
                    f"{r.last_bar:%Y-%m-%d %H:%M} UTC" if r.last_bar else "-",
                    f"{r.close:,.2f} {obj.quote}" if r.close is not None else "-",
                    f"{r.oi_usd:,.0f} USD" if r.oi_usd is not None else "-",
                    f"{r.funding_rate * 100:.4f} %" if r.funding_rate is not None else "-",
                    f"{r.volume_24h:,.2f} {obj.base}" if r.volume_24h is not None else "-",
                )
                for r in rows
            ),
        )
        return format_html(
            "<table><tr><th>exchange</th><th>last bar</th><th>close</th><th>open interest</th>"
            "<th>funding (OI-weighted when aggregated)</th><th>volume 24 h</th></tr>{}</table>",
            body,
        )

    @admin.display(description="stored market data")
    def coverage(self, obj: Asset) -> SafeString | str:
        if obj.pk is None:
            return "-"
        from heatmaps.marketdata import data_coverage

        rows = data_coverage(assets=[obj])
        if not rows:
            return "no market data stored"
        body = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (
                    c.exchange,
                    c.kind + (" (simulated)" if c.simulated else ""),
                    f"{c.first:%Y-%m-%d %H:%M} UTC" if c.first else "-",
                    f"{c.last:%Y-%m-%d %H:%M} UTC" if c.last else "-",
                    c.rows,
                    "-" if c.missing_bars is None else c.missing_bars,
                )
                for c in rows
            ),
        )
        return format_html(
            "<table><tr><th>exchange</th><th>kind</th><th>first</th><th>last</th><th>rows</th>"
            "<th>missing 5m bars</th></tr>{}</table>",
            body,
        )

    @admin.action(description="Backfill market data (last 30 days) for the selected assets")
    def enqueue_backfill(self, request: HttpRequest, queryset: QuerySet[Asset]) -> None:
        from heatmaps import tasks  # the Celery app and every task module: not at start-up

        ids = list(queryset.values_list("pk", flat=True))
        tasks.enqueue_backfill(asset_ids=ids, days=30)
        self.message_user(request, f"Backfill queued for {len(ids)} asset(s).", messages.SUCCESS)

    @admin.action(description="Recompute heat maps for the selected assets")
    def enqueue_recompute(self, request: HttpRequest, queryset: QuerySet[Asset]) -> None:
        from heatmaps import tasks

        ids = list(queryset.values_list("pk", flat=True))
        tasks.enqueue_recompute(asset_ids=ids)
        self.message_user(request, f"Heat-map recompute queued for {len(ids)} asset(s).", messages.SUCCESS)


def _age(seconds: float) -> str:
    if seconds < 3600:
        return f"{int(seconds // 60)} min"
    if seconds < 86400 * 2:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.0f} days"


@admin.register(Heatmap)
class HeatmapAdmin(admin.ModelAdmin):
    """Read-only: maps are written by the recompute task only."""

    list_display = ["asset", "timeframe", "model", "computed_at", "data_span", "sources", "stored_kib", "version"]
    list_filter = ["timeframe", "asset", "oi_simulated"]
    ordering = ["asset__symbol", "computed_at"]
    exclude = ["long_grid", "short_grid"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Heatmap | None = None) -> bool:
        return False

    @admin.display(description="data (UTC)")
    def data_span(self, obj: Heatmap) -> str:
        return f"{obj.data_start:%Y-%m-%d %H:%M} → {obj.data_end:%Y-%m-%d %H:%M}"

    @admin.display(description="from")
    def sources(self, obj: Heatmap) -> str:
        oi = "+".join(obj.oi_exchanges) or "no"
        return f"{obj.candle_exchange} candles, {oi} OI" + (" (simulated)" if obj.oi_simulated else "")

    @admin.display(description="stored KiB")
    def stored_kib(self, obj: Heatmap) -> str:
        return f"{(len(obj.long_grid) + len(obj.short_grid)) / 1024:.1f}"


class MeasuredPositionInline(admin.TabularInline):
    model = MeasuredPosition
    extra = 0
    can_delete = False
    fields = ["coin", "side", "size", "notional_usd", "entry_price", "liquidation_price", "leverage", "swept_at"]
    readonly_fields = [
        "coin",
        "side",
        "size",
        "notional_usd",
        "entry_price",
        "liquidation_price",
        "leverage",
        "swept_at",
    ]

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(HyperliquidAccount)
class HyperliquidAccountAdmin(admin.ModelAdmin):
    """The accounts the measured layer follows: add an address here to have it swept; its positions are read
    only, replaced at every sweep."""

    list_display = [
        "address",
        "source",
        "enabled",
        "hot",
        "open_positions",
        "without_liquidation_price",
        "last_swept_at",
    ]
    list_filter = ["source", "enabled", "hot"]
    list_editable = ["enabled"]
    search_fields = ["address"]
    fields = ["address", "source", "enabled", "hot", "open_positions", "without_liquidation_price", "last_swept_at"]
    readonly_fields = ["hot", "open_positions", "without_liquidation_price", "last_swept_at"]
    inlines = [MeasuredPositionInline]

    def save_model(self, request: HttpRequest, obj: HyperliquidAccount, form: forms.ModelForm, change: bool) -> None:
        if not change:
            obj.added_at = timezone.now()
        super().save_model(request, obj, form, change)


@admin.register(RiskLimit)
class RiskLimitAdmin(admin.ModelAdmin):
    """Read-only: written by the daily risk-limit refresh (heatmaps/marketdata/risk_limits.py). A row whose
    last refresh failed still holds the brackets of the last success."""

    list_display = ["asset", "exchange", "instrument", "max_leverage", "mmr", "fetched_at", "last_error_at"]
    list_filter = ["exchange"]
    search_fields = ["asset__symbol", "instrument"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: RiskLimit | None = None) -> bool:
        return False


@admin.register(MarkCandle)
class MarkCandleAdmin(admin.ModelAdmin):
    """Read-only: mark-price candles are written by the candle fetches."""

    list_display = ["asset", "exchange", "open_time", "open", "high", "low", "close"]
    list_filter = ["exchange", "asset"]
    ordering = ["-open_time"]
    show_full_result_count = False

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: MarkCandle | None = None) -> bool:
        return False
