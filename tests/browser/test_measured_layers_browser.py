"""The asset page's layer switch: the modelled map merged with Hyperliquid's measured positions, then the measured
positions alone, each cell's measured share read off the tooltip at the right-edge band."""

from __future__ import annotations

from typing import Any

import pytest

from tests.heatmaps.test_measured_layer import LONG_USD, hyperliquid_btc

STATE = "document.querySelector('canvas.heatmap').__heatmap"


def hover_cell(page: Any, *, column: int, price_bin: int) -> dict[str, str]:
    """Move the mouse onto one stored cell (nudged a bin at a time until the tooltip names it: a bin is a few
    pixels high) and return the tooltip's data and text."""
    x, y, bin_px = page.evaluate(
        """([column, bin]) => {
            const s = document.querySelector('canvas.heatmap').__heatmap, d = s.data;
            const col = column < 0 ? d.width + column : column;
            const t = d.times[col] + d.bar_seconds * 500;
            const w = (d.price_hi - d.price_lo) / d.bins, p = d.price_lo + (bin + 0.5) * w;
            const r = s.canvas.getBoundingClientRect();
            return [r.left + s.layout.x(t), r.top + s.layout.y(p), s.layout.y(p - w / 2) - s.layout.y(p + w / 2)];
        }""",
        [column, price_bin],
    )
    tip: dict[str, str] = {}
    for attempt in range(12):
        page.mouse.move(x, y)
        page.wait_for_function("() => !document.querySelector('.map-tooltip').hidden")
        tip = page.evaluate(
            "() => { const t = document.querySelector('.map-tooltip'); return {...t.dataset, text: t.innerText}; }"
        )
        off = int(tip["bin"]) - price_bin
        if off == 0:
            break
        # Higher bins are higher prices, drawn further up. A bin is about a pixel high, so the pointer's
        # rounding can land beside it: after the first jump, creep half a pixel at a time.
        y += off * bin_px if attempt == 0 else (0.5 if off > 0 else -0.5)
    assert int(tip["bin"]) == price_bin
    return tip


@pytest.mark.django_db(transaction=True)
def test_switching_layers_and_reading_the_measured_share(live_server: Any, page: Any) -> None:
    world = hyperliquid_btc()
    page.set_viewport_size({"width": 1400, "height": 900})
    page.goto(f"{live_server.url}/assets/BTCUSDT/?tf=24h")
    page.wait_for_function(f"() => {STATE} && {STATE}.drawn")
    chip = page.locator("[data-testid=measured-coverage]")
    assert "measured now, 3 accounts, coverage 8.5 % of Hyperliquid OI" in chip.inner_text()

    # Model + measured, through the switch (an htmx swap that keeps the URL in step).
    page.locator("#measured-layer a", has_text="Model + measured").click()
    page.wait_for_url("**layer=merged**")
    page.wait_for_function(f"() => {STATE} && {STATE}.layer && {STATE}.canvas.dataset.layer === 'merged'")
    api = page.evaluate(
        "() => fetch('/api/v1/assets/BTCUSDT/measured/?timeframe=24h&layer=merged').then(r => r.json())"
    )
    share = api["merged"]["long_measured_share"][world["long_bin"]]
    assert 0 < share < 1  # the measured long beside what stays modelled in its bin
    tip = hover_cell(page, column=-1, price_bin=world["long_bin"])
    assert float(tip["measuredShare"]) == pytest.approx(share, abs=2e-3), (tip, world["long_bin"])
    assert f"measured share {share * 100:.0f} %" in tip["text"]
    older = hover_cell(page, column=0, price_bin=world["long_bin"])
    assert older["measuredShare"] == "" and "measured only at the right-edge band" in older["text"]

    # The measured positions alone: the band holds only them, so the cell is all measured.
    page.locator("#measured-layer a", has_text="Measured (Hyperliquid)").click()
    page.wait_for_url("**layer=measured**")
    page.wait_for_function(f"() => {STATE} && {STATE}.layer && {STATE}.canvas.dataset.layer === 'measured'")
    tip = hover_cell(page, column=-1, price_bin=world["long_bin"])
    assert tip["measuredShare"] == "1.0000" and "measured share 100 %" in tip["text"]
    assert float(tip["long"]) == pytest.approx(LONG_USD)
    assert page.evaluate(f"() => {STATE}.data.liquidation_map.total_long") == pytest.approx(LONG_USD)

    # Back to the model: no layer, and the timeframe tabs carry none.
    page.locator("#measured-layer a", has_text="Model").first.click()
    page.wait_for_function(f"() => {STATE} && {STATE}.drawn && !{STATE}.layer")
    assert "layer=" not in page.url
