"""The OpenAPI schema: generated without warnings, every /api/v1/ route documented with parameters,
enums and response shapes, and the Swagger UI page served from our own static files."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.core.management import call_command
from django.test import Client
from django.urls import URLPattern
from django.utils import timezone

from accounts.alerts.rule_store import alert_rule_create
from accounts.annotations import annotation_create
from accounts.models import AlertEvent, User
from heatmaps.models import Asset
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


def _conforms(schema: dict[str, Any], value: Any, spec: dict[str, Any], where: str) -> None:
    """A small OpenAPI 3.0 check (refs, allOf, nullable, types, enums, required, known properties):
    enough to hold the hand-built alert answers to what the schema promises."""
    if "$ref" in spec:
        spec = schema["components"]["schemas"][spec["$ref"].rsplit("/", 1)[1]]
    for part in spec.get("allOf", []):
        _conforms(schema, value, part, where)
    if value is None:
        assert spec.get("nullable"), f"{where} is null"
        return
    kind = spec.get("type")
    checks = {"integer": int, "number": int | float, "string": str, "boolean": bool, "array": list, "object": dict}
    if kind:
        assert isinstance(value, checks[kind]) and (kind == "boolean" or not isinstance(value, bool)), (where, value)
    if "enum" in spec:
        assert value in spec["enum"], (where, value, spec["enum"])
    if kind == "array":
        for i, item in enumerate(value):
            _conforms(schema, item, spec["items"], f"{where}[{i}]")
    if kind == "object" and "properties" in spec:
        assert set(spec.get("required", [])) <= set(value), (where, set(spec["required"]) - set(value))
        assert set(value) <= set(spec["properties"]), (where, set(value) - set(spec["properties"]))
        for name, item in value.items():
            _conforms(schema, item, spec["properties"][name], f"{where}.{name}")


def _answer_schema(schema: dict[str, Any], path: str, method: str, status: int) -> dict[str, Any]:
    return schema["paths"][path][method]["responses"][str(status)]["content"]["application/json"]["schema"]


def test_alert_answers_match_the_schema_for_every_condition(
    schema: dict[str, Any], alice_client: Client, alice: User, btc: Asset
) -> None:
    zone = annotation_create(user=alice, asset="BTCUSDT", kind="zone", price=80_000, price_high=81_000)
    every_condition: dict[str, dict[str, Any]] = {
        "price_crosses": {"price": 84_000, "direction": "up"},
        "price_enters_zone": {"annotation": zone.pk},
        "cluster_within": {"percent": 2, "timeframe": "1w"},  # min_usd stays null
        "cluster_forms": {"min_usd": 5e6, "percent": 3, "timeframe": "24h"},
        "cluster_swept": {"min_usd": 1e6, "timeframe": "3d"},
        "funding_above": {"rate": 0.0005},
        "funding_below": {"rate": -0.0001},
        "oi_change": {"percent": -5, "window_minutes": 60},
    }
    for condition, params in every_condition.items():
        rule, _ = alert_rule_create(
            user=alice,
            asset="BTCUSDT",
            condition=condition,
            params=params,
            expires_at=timezone.now() + timedelta(days=1),
        )
    AlertEvent.objects.create(
        rule=rule,
        user=alice,
        asset=btc,
        condition=rule.condition,
        fired_at=timezone.now(),
        bar_time=timezone.now().replace(second=0, microsecond=0),
        values={"change_pct": -5.2, "oi_then": 1.0e9, "oi_now": 9.48e8},
    )
    rules = alice_client.get("/api/v1/alert-rules/").json()
    assert {r["condition"] for r in rules} == set(every_condition)
    assert next(r for r in rules if r["condition"] == "cluster_within")["min_usd"] is None
    _conforms(schema, rules, _answer_schema(schema, "/api/v1/alert-rules/", "get", 200), "rules")
    created = alice_client.post(
        "/api/v1/alert-rules/",
        {"asset": "BTCUSDT", "condition": "price_crosses", "price": 90_000},
        content_type="application/json",
    )
    assert created.status_code == 201
    _conforms(schema, created.json(), _answer_schema(schema, "/api/v1/alert-rules/", "post", 201), "created")
    events = alice_client.get("/api/v1/alerts/").json()
    assert events["count"] == 1
    _conforms(schema, events, _answer_schema(schema, "/api/v1/alerts/", "get", 200), "events")
    # The checker itself catches what it is there for.
    with pytest.raises(AssertionError):
        _conforms(
            schema,
            {**rules[0], "trigger": "twice"},
            _answer_schema(schema, "/api/v1/alert-rules/{rule_id}/", "get", 200),
            "x",
        )
    with pytest.raises(AssertionError):
        _conforms(
            schema,
            {**rules[0], "colour": "red"},
            _answer_schema(schema, "/api/v1/alert-rules/{rule_id}/", "get", 200),
            "x",
        )


def test_marking_an_alert_read_needs_read(schema: dict[str, Any]) -> None:
    body = schema["paths"]["/api/v1/alerts/{event_id}/"]["patch"]["requestBody"]["content"]
    assert body == {"application/json": {"schema": body["application/json"]["schema"]}}
    assert body["application/json"]["schema"]["required"] == ["read"]


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
