"""The API docs page (Swagger UI from our own static files) in headless Chromium, under the site's CSP."""

from __future__ import annotations

from typing import Any

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_swagger_ui_renders_every_operation_without_csp_violations(live_server: Any, page: Any) -> None:
    problems: list[str] = []
    page.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: problems.append(str(error)))
    outside: list[str] = []
    page.on("request", lambda request: outside.append(request.url) if live_server.url not in request.url else None)
    response = page.goto(f"{live_server.url}/api/docs/")
    assert response.status == 200 and "script-src 'self'" in response.headers["content-security-policy"]
    page.wait_for_selector(".opblock-summary-path")
    paths = set(page.locator(".opblock-summary-path").all_inner_texts())
    assert "/api/v1/assets/{symbol}/heatmap/" in {p.replace("\u200b", "") for p in paths}
    schema = page.request.get(
        f"{live_server.url}/api/schema/", headers={"Accept": "application/vnd.oai.openapi+json"}
    ).json()
    assert len(paths) == len(schema["paths"]) >= 18  # every route of liqplatform/api_urls.py
    page.get_by_role("button", name="Authorize").first.wait_for()
    csp = [p for p in problems if "Content Security Policy" in p or "Refused" in p]
    assert not csp, csp
    assert not outside, outside  # nothing from a CDN
    # Dark like the rest of the site: the page's pixels are mostly dark.
    from io import BytesIO

    from PIL import Image, ImageStat

    shot = Image.open(BytesIO(page.screenshot())).convert("L")
    assert ImageStat.Stat(shot).mean[0] < 90
