"""The asset page's map explorer: the filters from the URL reach the map's API address, the exports,
the clusters beside the map and every link (tabs, sides, the legend's tier toggles, bands, exchanges);
values the map cannot take are ignored with a message. Real PostgreSQL and Redis, the sample data with
a second exchange's open interest."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from django.test import Client
from django.utils import timezone

from heatmaps.maps import heatmap_compute
from heatmaps.marketdata import dt_to_ms, load_sample_data
from heatmaps.models import Asset, Heatmap
from heatmaps.views import format_usd
from heatmaps.views.common import exchange_name
from tests.heatmaps.explorer_data import add_bybit_open_interest

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def sample_maps(django_db_setup: None, django_db_blocker: Any) -> Iterator[None]:
    with django_db_blocker.unblock():
        load_sample_data()
        btc = Asset.objects.get(symbol="BTCUSDT")
        add_bybit_open_interest(btc)
        heatmap_compute(asset=btc, timeframes=["24h", "1w"])
        yield
        Asset.objects.filter(symbol__in=["BTCUSDT", "ETHUSDT"]).delete()


@pytest.fixture
def btc(sample_maps: None) -> Asset:
    return Asset.objects.get(symbol="BTCUSDT")


def page(client: Client, query: str, **extra: Any) -> str:
    response = client.get(f"/assets/BTCUSDT/?{query}", **extra)
    assert response.status_code == 200
    return response.content.decode()


def query_of(href: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(html.unescape(href)).query)


def links(body: str, css_class: str) -> dict[str, str]:
    """Link text → href of the anchors carrying a class."""
    found = re.findall(rf'<a href="([^"]*)"[^>]*class="[^"]*{css_class}[^"]*"[^>]*>([^<]+)</a>', body)
    return {text: href for href, text in found}


def test_the_filter_reaches_the_map_the_exports_and_the_clusters(client: Client, btc: Asset) -> None:
    body = page(client, "tf=1w&lev=high&exchange=binance&side=long&min=1000")
    src = re.search(r'data-heatmap-src="([^"]+)"', body)
    assert src is not None
    api = query_of(src.group(1))
    assert api["lev"] == ["high"] and api["exchange"] == ["binance"] and api["side"] == ["long"]
    for kind in ("png", "csv"):
        export = re.search(rf'class="button export-{kind}" href="([^"]+)"', body)
        assert export is not None and query_of(export.group(1))["lev"] == ["high"]
    # The clusters beside the map are the filtered map's, as the API gives them.
    clusters = client.get(html.unescape(src.group(1)).replace("cells=packed", "cells=sparse")).json()["clusters"]
    top_long = next(c for c in clusters if c["side"] == "long")
    table = body.split('class="clusters"')[1].split("</table>")[0]
    assert format_usd(top_long["usd"]) in table
    assert f"high leverage (50x+100x) · {exchange_name('binance')} open interest only" in body


def test_tabs_sides_and_the_intensity_form_keep_the_filter(client: Client, btc: Asset) -> None:
    body = page(client, "tf=1w&tiers=25,50&exchange=bybit&min=1000")
    for text, href in links(body, "tab").items():
        q = query_of(href)
        if text in ("12h", "24h", "3d", "1w", "Longs", "Shorts", "Both"):
            assert q["tiers"] == ["25,50"] and q["exchange"] == ["bybit"] and q["min"] == ["1000"], text
    form = body.split('<form class="intensity"')[1].split("</form>")[0]
    assert 'name="tiers" value="25,50"' in form and 'name="exchange" value="bybit"' in form
    # an HTMX swap of the panel keeps them too
    swapped = page(client, "tf=24h&tiers=25,50&exchange=bybit", HTTP_HX_REQUEST="true")
    assert "<html" not in swapped and "tiers=25%2C50" in swapped and "exchange=bybit" in swapped


def test_the_legend_toggles_tiers_and_the_bands_and_exchanges_are_links(client: Client, btc: Asset) -> None:
    body = page(client, "tf=1w&lev=high&side=short")
    tiers = links(body, "tier ")
    assert list(tiers) == ["5×", "10×", "25×", "50×", "100×"]
    assert query_of(tiers["50×"])["tiers"] == ["100"]  # 50x out of the high band
    assert query_of(tiers["5×"])["tiers"] == ["5,50,100"]  # 5x in
    assert all(query_of(h)["side"] == ["short"] for h in tiers.values())
    assert 'aria-pressed="false" title="Show the 5x positions"' in body
    bands = links(body, "tab")
    assert "lev" not in query_of(bands["All"]) and query_of(bands["Mid"])["lev"] == ["mid"]
    exchanges = links(body, "exchange-toggle")
    binance, bybit = exchange_name("binance"), exchange_name("bybit")
    assert set(exchanges) == {binance, bybit}
    assert query_of(exchanges[binance])["exchange"] == ["bybit"]  # Binance left out
    assert query_of(exchanges[binance])["lev"] == ["high"]
    # the only tier shown, toggled off, is every tier again: no tiers parameter
    only = links(page(client, "tf=1w&tiers=25"), "tier ")
    assert "tiers" not in query_of(only["25×"])


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("tiers=20", "Ignored tiers: The model has no '20' tier"),
        ("lev=huge", "Ignored lev: Unknown leverage band 'huge'"),
        ("exchange=kraken", "Ignored exchange: BTCUSDT has no exchange 'kraken'"),
        ("at=yesterday", "Ignored at='yesterday'"),
        ("at=2020-01-01T00:00Z", "Ignored at: there is no market data of BTCUSDT up to 2020-01-01 00:00 UTC"),
    ],
)
def test_what_the_map_cannot_take_is_ignored_with_a_message(
    client: Client, btc: Asset, query: str, message: str
) -> None:
    body = page(client, f"tf=1w&{query}")
    assert message.replace("'", "&#x27;") in body
    src = re.search(r'data-heatmap-src="([^"]+)"', body)
    assert src is not None
    assert set(query_of(src.group(1))) == {"timeframe", "side", "cells"}


def test_the_moment_slider_and_its_steps_keep_the_url(client: Client, btc: Asset) -> None:
    stored = Heatmap.objects.get(asset=btc, timeframe="1w")
    now_ms = dt_to_ms(stored.data_end) + 300_000
    body = page(client, "tf=1w&lev=high&side=short")
    form = body.split('<form class="explore-moment"')[1].split("</form>")[0]
    assert f'max="{now_ms}"' in form and f'value="{now_ms}"' in form and 'step="1800000"' in form
    assert 'name="lev" value="high"' in form and 'name="side" value="short"' in form and 'name="tf" value="1w"' in form
    assert "moment-later" not in form  # nothing later than now
    earlier = query_of(re.findall(r'class="moment-step moment-earlier" href="([^"]+)"', form)[0])
    assert earlier["lev"] == ["high"] and earlier["side"] == ["short"]
    at = datetime.fromisoformat(earlier["at"][0].replace("Z", "+00:00"))
    assert dt_to_ms(at) == now_ms - 1_800_000
    # one column back: the map as of then, its steps either way, "whole map" back to now
    body = page(client, f"tf=1w&lev=high&side=short&at={earlier['at'][0]}")
    assert f"as at {at:%Y-%m-%d %H:%M} UTC" in body
    later = query_of(re.findall(r'class="moment-step moment-later" href="([^"]+)"', body)[0])
    assert "at" not in later and later["lev"] == ["high"]  # a column later is now
    src = re.search(r'data-heatmap-src="([^"]+)"', body)
    assert src is not None and query_of(src.group(1))["at"] == earlier["at"]
    clear = re.findall(r'class="explore-clear"[^>]*>', body)
    assert clear and "at=" not in re.findall(r'<a href="([^"]*)"[^>]*class="explore-clear"', body)[0]


def test_the_compare_page_shows_two_maps_on_one_scale_and_their_difference(client: Client, btc: Asset) -> None:
    body = page(client, "tf=1w&lev=high")
    compare = re.search(r'class="explore-compare" href="([^"]+)"', body)
    assert compare is not None
    q = query_of(compare.group(1))
    assert q["a"] == ["lev=high"] and q["tf"] == ["1w"] and "b" not in q  # this map against the whole map
    response = client.get(html.unescape(compare.group(1)).replace("&b=", "") + "&b=lev%3Dlow")
    assert response.status_code == 200
    text = response.content.decode()
    api = client.get("/api/v1/assets/BTCUSDT/heatmap/compare/?timeframe=1w&a=lev%3Dhigh&b=lev%3Dlow").json()
    assert f'data-testid="shared-scale">{format_usd(api["full_usd"])}<' in text
    srcs = {
        name: html.unescape(re.findall(rf'data-testid="png-{name}" src="([^"]+)"', text)[0])
        for name in ("a", "b", "diff")
    }
    fulls = {query_of(srcs[name])["full"][0] for name in ("a", "b")}
    assert len(fulls) == 1 and float(fulls.pop()) == pytest.approx(api["full_usd"], abs=0.01)  # one scale
    assert query_of(srcs["a"])["lev"] == ["high"] and query_of(srcs["b"])["lev"] == ["low"]
    for src in srcs.values():
        image = client.get(src)
        assert image.status_code == 200 and image["Content-Type"] == "image/png"
        assert image.content[:8] == b"\x89PNG\r\n\x1a\n"
    only_a = text.split('data-testid="only-a"')[1].split("</table>")[0] if api["only_a"] else ""
    for c in api["only_a"][:8]:
        assert format_usd(c["usd"]) in only_a


def test_the_compare_page_ignores_a_filter_it_cannot_take(client: Client, btc: Asset) -> None:
    text = client.get("/assets/BTCUSDT/compare/?tf=1w&a=lev%3Dhuge&b=tiers%3D20").content.decode()
    assert "Ignored a=&#x27;lev=huge&#x27;" in text and "Ignored b=&#x27;tiers=20&#x27;" in text
    assert 'data-testid="png-diff"' in text and "whole map" in text
    assert client.get("/assets/NOPEUSDT/compare/").status_code == 404


def test_each_cluster_says_when_it_formed_and_its_leverage_mix(client: Client, btc: Asset) -> None:
    stored = Heatmap.objects.get(asset=btc, timeframe="1w")
    top = stored.clusters[0]
    assert sum(top["tiers"].values()) == pytest.approx(top["usd"], rel=1e-6)
    assert dt_to_ms(stored.first_bucket) <= top["formed_ms"] <= dt_to_ms(stored.data_end)
    body = page(client, "tf=1w")
    table = body.split('class="clusters"')[1].split("</table>")[0]
    lev, usd = max(top["tiers"].items(), key=lambda kv: kv[1])
    assert "formed " in table and f"{lev}x {usd / top['usd']:.0%}".replace("%", " %") in table
    api = client.get("/api/v1/assets/BTCUSDT/heatmap/?timeframe=1w").json()
    assert api["clusters"][0]["formed_ms"] == top["formed_ms"] and api["clusters"][0]["tiers"] == top["tiers"]
    # a filtered map's clusters carry their own mix: the high band's walls hold only 50x and 100x
    high = client.get("/api/v1/assets/BTCUSDT/heatmap/?timeframe=1w&lev=high").json()["clusters"]
    assert high and all(c["tiers"]["5"] == c["tiers"]["10"] == c["tiers"]["25"] == 0 for c in high)


def test_a_past_moment_says_whether_it_is_the_map_as_published_or_rebuilt(client: Client, btc: Asset) -> None:
    stored = Heatmap.objects.get(asset=btc, timeframe="1w")
    body = page(client, f"tf=1w&at={dt_to_ms(timezone.now())}")
    assert f"as published at {stored.computed_at:%H:%M} UTC" in body
    body = page(client, f"tf=1w&at={dt_to_ms(stored.data_end) - 86_400_000}")
    assert "rebuilt from the stored bars" in body


def test_the_compare_page_shows_two_moments_named_in_utc_on_one_scale(client: Client, btc: Asset) -> None:
    from datetime import timedelta

    from heatmaps.maps import read_heatmap

    stored = read_heatmap(asset=btc, timeframe="1w")
    assert stored is not None
    then = stored.heatmap.data_end - timedelta(days=2)
    at_text = then.strftime("%Y-%m-%dT%H:%MZ")
    response = client.get(f"/assets/BTCUSDT/compare/?tf=1w&a=&b=at%3D{at_text}")
    assert response.status_code == 200
    text = response.content.decode()
    api = client.get(f"/api/v1/assets/BTCUSDT/heatmap/compare/?timeframe=1w&a=&b=at%3D{at_text}").json()
    assert api["mode"] == "moments"
    assert f'data-testid="moment-b">{then:%Y-%m-%d %H:%M} UTC<' in text
    assert f'data-testid="moment-a">{stored.heatmap.data_end:%Y-%m-%d %H:%M} UTC<' in text and "(now)" in text
    assert f'data-testid="shared-scale">{format_usd(api["full_usd"])}<' in text
    assert 'data-testid="profile-a"' in text and 'data-testid="profile-b"' in text
    diff = html.unescape(re.findall(r'data-testid="png-diff" src="([^"]+)"', text)[0])
    assert query_of(diff)["b"] == [f"at={at_text}"]
    image = client.get(diff)
    assert image.status_code == 200 and image.content[:8] == b"\x89PNG\r\n\x1a\n"
    # What B (earlier) had and A (now) has not is listed as gone since B's moment.
    gone = text.split(f"Gone since {then:%Y-%m-%d %H:%M} UTC")[1].split("</section>")[0]
    for c in api["removed"][:8]:
        assert format_usd(c["usd"]) in gone
    bad = client.get("/assets/BTCUSDT/compare/?tf=1w&a=&b=at%3Dyesterday").content.decode()
    assert "Ignored b=" in bad and "at: give a UTC time" in bad


def test_compare_from_a_past_moment_compares_it_with_the_same_map_now(client: Client, btc: Asset) -> None:
    stored = Heatmap.objects.get(asset=btc, timeframe="1w", model="v1")
    then = stored.data_end - timedelta(days=2)
    body = page(client, f"tf=1w&lev=high&at={then:%Y-%m-%dT%H:%MZ}")
    href = html.unescape(re.findall(r'class="explore-compare" href="([^"]+)"', body)[0])
    query = query_of(href)
    assert parse_qs(query["a"][0]) == {"lev": ["high"], "at": [f"{then:%Y-%m-%dT%H:%MZ}"]}
    assert query["b"] == ["lev=high"]
    compared = client.get(href)
    assert compared.status_code == 200
    assert f'data-testid="moment-a">{then:%Y-%m-%d %H:%M} UTC<' in compared.content.decode()
