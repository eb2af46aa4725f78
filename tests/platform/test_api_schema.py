"""The OpenAPI schema: generated without warnings, every /api/v1/ route documented with parameters,
enums and response shapes, and the Swagger UI page served from our own static files."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.management import call_command
from django.test import Client
from django.urls import URLPattern

from liqplatform import api_urls

pytestmark = pytest.mark.django_db


@pytest.fixture
def schema(client: Client) -> dict[str, Any]:
    response = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    return response.json()


def test_schema_generates_without_warnings_or_errors(tmp_path: Any) -> None:
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "schema.yml"))


def test_every_v1_route_is_documented(schema: dict[str, Any]) -> None:
    documented = set(schema["paths"])
    routes = {
        "/api/v1/" + str(p.pattern).replace("<str:", "{").replace("<int:", "{").replace(">", "}")
        for p in api_urls.urlpatterns
        if isinstance(p, URLPattern)
    }
    assert routes == documented
    assert not any(path.startswith("/api/assets/") for path in documented)  # the pages' own endpoints stay private
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            if method == "parameters":
                continue
            assert operation.get("responses"), (path, method)
            for status, answer in operation["responses"].items():
                for media in answer.get("content", {}).values():
                    assert media.get("schema"), (path, method, status)


def test_heatmap_parameters_are_enums_and_bounded(schema: dict[str, Any]) -> None:
    operation = schema["paths"]["/api/v1/assets/{symbol}/heatmap/"]["get"]
    params = {p["name"]: p["schema"] for p in operation["parameters"]}
    assert params["side"]["enum"] == ["both", "long", "short"]
    assert params["cells"]["enum"] == ["sparse", "dense", "packed"]
    assert params["format"]["enum"] == ["json", "csv", "png"]
    assert params["width"]["maximum"] == 4000 and params["height"]["minimum"] == 100
    assert set(operation["responses"]["200"]["content"]) == {"application/json", "text/csv", "image/png"}
    assert "304" in operation["responses"] and "429" in operation["responses"]
    assert {"bearerToken": []} in operation["security"]
    assert schema["components"]["securitySchemes"]["bearerToken"] == {
        "type": "http",
        "scheme": "bearer",
        "description": schema["components"]["securitySchemes"]["bearerToken"]["description"],
    }


def test_swagger_ui_loads_only_our_own_files(client: Client) -> None:
    response = client.get("/api/docs/")
    body = response.content.decode()
    assert response.status_code == 200
    assert "script-src 'self'" in response["Content-Security-Policy"]
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in body
    assert "<script>" not in body and "https://" not in body  # no inline script, no CDN
    script = client.get("/api/docs/?script=")
    assert script.status_code == 200 and script["Content-Type"].startswith("application/javascript")
    assert "/api/schema/" in script.content.decode()
