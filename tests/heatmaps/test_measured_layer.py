"""The measured Hyperliquid layer on the page, in the API (``layer=``) and against the model on /model/.

The sample's BTCUSDT gets Hyperliquid open interest (a tenth of Binance's, so the model has a map of
Hyperliquid alone) and three swept accounts stored by the sweep's own store function.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pytest
from django.test import Client

from heatmaps.exchanges.hyperliquid_accounts import AccountPosition
from heatmaps.ingest.hyperliquid_sweep import _store_account, track_accounts
from heatmaps.maps import heatmap_compute
from heatmaps.marketdata import dt_to_ms, load_sample_data
from heatmaps.models import Asset, Exchange, OpenInterest

LONG_USD, SHORT_USD, UNPLACED_USD = 100_000.0, 50_000.0, 20_000.0
VENUE_OI_USD = 1_000_000.0
ACCOUNTS = ["0x" + c * 40 for c in "abc"]


def hyperliquid_btc() -> dict[str, Any]:
    """BTCUSDT on Hyperliquid with its 24h map; a long liquidated at the centre of the model's largest long bin,
    a short at the centre of its largest short bin, and a long without a liquidation price; Hyperliquid's
    newest open interest 1 M USD."""
    load_sample_data()
    btc = Asset.objects.select_related("reference_exchange").get(symbol="BTCUSDT")
    hyper = Exchange.get_supported("hyperliquid")
    btc.exchanges.add(hyper)
    rows = list(OpenInterest.objects.filter(asset=btc, exchange=btc.reference_exchange).order_by("-time")[:600])
    OpenInterest.objects.bulk_create(
        OpenInterest(asset=btc, exchange=hyper, time=r.time, oi_base=(r.oi_base or 0) / 10,
                     oi_value=(r.oi_value or 0) / 10, simulated=True)
        for r in rows
    )  # fmt: skip
    newest = OpenInterest.objects.filter(asset=btc, exchange=hyper).latest("time")
    heatmap_compute(asset=btc, timeframes=["24h"])
    newest.oi_value = VENUE_OI_USD
    newest.save()
    m = btc.heatmaps.get(timeframe="24h")
    price = m.current_price
    assert price is not None
    edges = np.linspace(m.price_lo, m.price_hi, m.bins + 1)
    centres = (edges[:-1] + edges[1:]) / 2
    lmap = m.liquidation_map
    long_bin = int(np.argmax(np.where(centres < price, np.sum(lmap["tier_long"], axis=0), -1)))
    short_bin = int(np.argmax(np.where(centres > price, np.sum(lmap["tier_short"], axis=0), -1)))
    track_accounts(ACCOUNTS, source="operator")
    now_ms = dt_to_ms(m.data_end)
    for address, side, usd, liq in (
        (ACCOUNTS[0], "long", LONG_USD, float(centres[long_bin])),
        (ACCOUNTS[1], "short", SHORT_USD, float(centres[short_bin])),
        (ACCOUNTS[2], "long", UNPLACED_USD, None),
    ):
        position = AccountPosition(address, "BTC", side, 1.0, price, usd, liq, 5.0)  # type: ignore[arg-type]
        _store_account(address, [position], marks={"BTC": price}, now_ms=now_ms)
    return {
        "asset": btc,
        "map": m,
        "long_bin": long_bin,
        "short_bin": short_bin,
        # how far from the price each measured position lies, % (its bin's centre)
        "long_pct": abs(centres[long_bin] - price) / price * 100,
        "short_pct": abs(centres[short_bin] - price) / price * 100,
    }


def liquidation_map_usd(client: Client, query: str) -> tuple[np.ndarray, np.ndarray]:
    """The public map API's liquidation map, all tiers summed, per side."""
    body = client.get(f"/api/v1/assets/BTCUSDT/heatmap/?timeframe=24h{query}").json()
    lm = body["liquidation_map"]
    return np.sum(lm["tier_long"], axis=0), np.sum(lm["tier_short"], axis=0)


@pytest.mark.django_db
def test_the_api_merges_the_measured_layer_into_the_model_and_names_a_bad_layer() -> None:
    world = hyperliquid_btc()
    client = Client()
    body = client.get("/api/v1/assets/BTCUSDT/measured/?timeframe=24h&layer=merged").json()
    long_cov, short_cov = (LONG_USD + UNPLACED_USD) / VENUE_OI_USD, SHORT_USD / VENUE_OI_USD
    assert body["layer"] == "merged"
    assert (body["long_coverage"], body["short_coverage"]) == (pytest.approx(long_cov), pytest.approx(short_cov))
    merged = body["merged"]
    assert merged is not None
    assert (merged["long_coverage"], merged["short_coverage"]) == (pytest.approx(long_cov), pytest.approx(short_cov))
    # Every venue's modelled map and Hyperliquid's alone, as the public map API gives them.
    all_long, all_short = liquidation_map_usd(client, "")
    hl_long, hl_short = liquidation_map_usd(client, "&exchange=hyperliquid")
    assert hl_long.sum() > 0 and hl_long.sum() < all_long.sum()
    measured_long = np.zeros(len(all_long))
    measured_long[world["long_bin"]] = LONG_USD
    measured_short = np.zeros(len(all_short))
    measured_short[world["short_bin"]] = SHORT_USD
    expected_long = np.maximum(all_long - long_cov * hl_long, 0) + measured_long
    expected_short = np.maximum(all_short - short_cov * hl_short, 0) + measured_short
    assert merged["long_usd"] == pytest.approx(expected_long.tolist(), rel=1e-4, abs=0.05)
    assert merged["short_usd"] == pytest.approx(expected_short.tolist(), rel=1e-4, abs=0.05)
    k = world["long_bin"]
    assert merged["long_measured_share"][k] == pytest.approx(LONG_USD / merged["long_usd"][k], abs=1e-4)
    shares = merged["long_measured_share"] + merged["short_measured_share"]
    assert all(0 <= s <= 1 for s in shares)
    assert sum(1 for s in merged["long_measured_share"] if s > 0) == 1  # only where measured
    # The comparison carries USD within the bands too.
    for side, usd in (("long", LONG_USD), ("short", SHORT_USD)):
        for band in (1, 5):
            expected = usd if world[f"{side}_pct"] <= band else 0.0
            assert body["model_comparison"][side]["measured_usd_within"][str(band)] == pytest.approx(expected)

    plain = client.get("/api/v1/assets/BTCUSDT/measured/?timeframe=24h").json()
    assert plain["layer"] == "measured" and plain["merged"] is None
    bad = client.get("/api/v1/assets/BTCUSDT/measured/?layer=heat")
    assert bad.status_code == 400 and "layer" in bad.json()
    eth = client.get("/api/v1/assets/ETHUSDT/measured/?layer=measured")
    assert eth.status_code == 400 and "not on Hyperliquid" in str(eth.json()["layer"])
    assert client.get("/api/v1/assets/ETHUSDT/measured/").status_code == 404


def _layer_links(html: str) -> dict[str, str]:
    return dict(
        (key, href.replace("&amp;", "&"))
        for href, key in re.findall(r'<a href="([^"]*)"[^>]*class="tab layer-(\w+)"', html)
    )


@pytest.mark.django_db
def test_the_page_switches_layers_and_keeps_the_layer_in_its_links() -> None:
    hyperliquid_btc()
    client = Client()
    page = client.get("/assets/BTCUSDT/?tf=24h").content.decode()
    links = _layer_links(page)
    assert set(links) == {"model", "measured", "merged"}
    assert "layer=" not in links["model"] and "layer=merged" in links["merged"]
    # 170 000 USD observed of 2 × 1 M USD of positions; three accounts hold BTC
    assert "measured now, 3 accounts, coverage 8.5 % of Hyperliquid OI" in page
    assert 'data-layer="model"' in page

    for layer in ("measured", "merged"):
        response = client.get(f"/assets/BTCUSDT/?tf=24h&layer={layer}&side=long")
        html = response.content.decode()
        assert response.status_code == 200
        assert f'data-layer="{layer}"' in html
        assert re.search(rf'class="tab layer-{layer}"[^>]*aria-current="page"', html)
        assert f'<input type="hidden" name="layer" value="{layer}">' in html
        # the timeframe tabs and side links keep the layer; the switch keeps the side
        tabs = re.findall(r'<a href="(\?tf=[^"]*)"[^>]*class="tab(?: not-computed)?"', html)
        assert tabs and all(f"layer={layer}" in t for t in tabs)
        assert "side=long" in _layer_links(html)["model"]
        assert f"layer={'merged' if layer == 'merged' else 'measured'}" in html  # the API the script reads
    merged = client.get("/assets/BTCUSDT/?tf=24h&layer=merged").content.decode()
    assert "Hover for each cell's measured share" in merged

    swapped = client.get("/assets/BTCUSDT/?tf=24h&layer=measured", HTTP_HX_REQUEST="true").content.decode()
    assert 'id="heatmap-panel"' in swapped and 'data-layer="measured"' in swapped

    unknown = client.get("/assets/BTCUSDT/?tf=24h&layer=heat").content.decode()
    assert "Ignored layer=&#x27;heat&#x27;" in unknown and 'data-layer="model"' in unknown
    filtered = client.get("/assets/BTCUSDT/?tf=24h&layer=merged&exchange=binance").content.decode()
    assert "Ignored layer=merged" in filtered and 'data-layer="model"' in filtered
    other_model = client.get("/assets/BTCUSDT/?tf=24h&layer=measured&model=v2").content.decode()
    assert "Ignored layer=measured: the measured layer goes with model v1" in other_model


@pytest.mark.django_db
def test_an_asset_without_hyperliquid_has_no_switch_and_says_why() -> None:
    load_sample_data()
    eth = Asset.objects.select_related("reference_exchange").get(symbol="ETHUSDT")
    heatmap_compute(asset=eth, timeframes=["24h"])
    client = Client()
    plain = client.get("/assets/ETHUSDT/?tf=24h").content.decode()
    assert "measured-layer" not in plain and "layer-measured" not in plain
    response = client.get("/assets/ETHUSDT/?tf=24h&layer=measured")
    html = response.content.decode()
    assert response.status_code == 200
    assert "Ignored layer=measured: ETHUSDT is not on Hyperliquid" in html
    assert "layer=measured" not in "".join(re.findall(r'href="([^"]*)"', html))


@pytest.mark.django_db
def test_the_model_page_measures_the_model_against_hyperliquids_positions() -> None:
    world = hyperliquid_btc()
    client = Client()
    html = client.get("/model/").content.decode()
    assert "Measured against the model (Hyperliquid)" in html
    section = html[html.index('data-asset="BTCUSDT"') :]
    assert "3 accounts, 3 positions" in section
    assert "coverage 0.085" in section  # (120 000 + 50 000) ÷ (2 × 1 000 000)
    assert re.search(r"Hyperliquid's figure,\s+not the market's", html) and "3–7×" in html
    assert world["map"].data_end.strftime("%Y-%m-%d %H:%M") + " UTC" in section  # measured at, UTC
    assert re.search(r'class="corr-long">(-?[01]\.\d\d|–)<', section)
    # Each measured position counts in the bands its distance from the price falls in.
    rows = re.findall(r"<tr><td>(longs|shorts)</td><td>±(\d) %</td>(.*?)</tr>", section, re.S)
    measured = {(side, band): re.findall(r'class="num">([^<]*)<', cells)[2] for side, band, cells in rows}
    assert len(measured) == 4
    for side, usd, pct in (("longs", "100000", world["long_pct"]), ("shorts", "50000", world["short_pct"])):
        for band in ("1", "5"):
            assert measured[(side, band)].replace(",", "") == (usd if pct <= int(band) else "0")
    # narrowed to an asset without measured positions: no section
    assert "Measured against the model" not in client.get("/model/?asset=ETHUSDT").content.decode()
