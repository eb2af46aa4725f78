"""``{% live_badge asset %}``: the asset page's live-updates badge, which static/heatmaps/live.js drives."""

from __future__ import annotations

from django import template
from django.conf import settings
from django.urls import reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString

from heatmaps.models import Asset

register = template.Library()

EMBEDDED_TEXT = "live updates need Redis (not in the embedded mode)"
REPLAY_TEXT = "replay of sample data"


@register.simple_tag
def live_badge(asset: Asset) -> SafeString:
    # Embedded (SQLite, no Redis): the badge says so and carries data-live-off, so live.js opens no stream.
    off = format_html(' data-live-off="{}"', EMBEDDED_TEXT) if settings.EMBEDDED else ""
    # The offline demo streams the replayed sample: "live" must not read as the market.
    note = format_html(' data-live-note="{}"', REPLAY_TEXT) if settings.LIQ_REPLAY else ""
    return format_html(
        '<span class="live-badge" data-live-src="{}" data-state="{}"{}{} role="status" aria-live="polite">'
        '<span class="live-dot" aria-hidden="true"></span><span class="live-label">{}</span></span>',
        reverse("heatmaps:asset-events", args=[asset.symbol]),
        "off" if settings.EMBEDDED else "connecting",
        off,
        note,
        EMBEDDED_TEXT if settings.EMBEDDED else "connecting…",
    )


@register.simple_tag
def measured_src(asset: Asset, timeframe: str) -> str:
    """The measured-layer API address for an asset on Hyperliquid (drawn over its liquidation map), else ""."""
    if not asset.exchanges.filter(code="hyperliquid", enabled=True).exists():
        return ""
    return f"{reverse('api:measured', args=[asset.symbol])}?timeframe={timeframe}"
