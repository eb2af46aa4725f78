from __future__ import annotations

from typing import Any

import pytest

from heatmaps.marketdata import load_sample_data
from heatmaps.models import Asset, Exchange

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_operator_logs_in_and_reads_coverage(live_server: Any, page: Any, olga: Any) -> None:
    load_sample_data()
    btc = Asset.objects.get(symbol="BTCUSDT")
    page.goto(f"{live_server.url}/admin/")
    page.fill("#id_username", "olga")
    page.fill("#id_password", "olga-password-1")
    page.click("input[type=submit]")
    page.goto(f"{live_server.url}/admin/heatmaps/asset/")
    assert page.locator("#result_list").inner_text().count("USDT") >= 2
    page.click(f"a[href='/admin/heatmaps/asset/{btc.pk}/change/']")
    coverage = page.locator(".field-coverage").inner_text()
    assert "open_interest (simulated)" in coverage
    assert "2025-12-26 22:35 UTC" in coverage and "9727" in coverage

    # Disable the asset from the change list and see it stick.
    page.goto(f"{live_server.url}/admin/heatmaps/asset/")
    page.uncheck("#id_form-0-enabled")
    page.click("input[name=_save]")
    assert not Asset.objects.get(symbol="BTCUSDT").enabled
    assert Exchange.objects.filter(code="binance").exists()
