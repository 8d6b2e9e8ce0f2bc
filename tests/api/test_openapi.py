"""GET /openapi.json: generated from the routes, public, complete, and the committed copy is current."""

import json
from pathlib import Path

from app.openapi import build_openapi, dumps

COMMITTED = Path(__file__).resolve().parents[2] / "openapi.json"


def test_the_document_is_public_and_openapi_3(client):
    response = client.get("/openapi.json")
    assert response.status_code == 200 and response.mimetype == "application/json"
    assert response.json["openapi"].startswith("3.")
    assert set(response.json["components"]["securitySchemes"]) == {"clerk", "stripeSignature", "svixSignature"}


def test_the_committed_copy_is_current(app):
    assert COMMITTED.read_text() == dumps(build_openapi(app)), "openapi.json is out of date: run `make openapi`"


def test_every_declared_route_is_described_with_its_auth_and_errors(app):
    document = build_openapi(app)
    described = {(path, method) for path, item in document["paths"].items() for method in item}
    declared = set()
    for rule in app.url_map.iter_rules():
        spec = getattr(app.view_functions[rule.endpoint], "endpoint", None)
        if spec is None:
            continue
        path = rule.rule.replace("<raw_id:", "{").replace(">", "}")
        declared.add((path, spec.method.lower()))
        operation = document["paths"][path][spec.method.lower()]
        auth = app.blueprints[rule.endpoint.split(".")[0]].auth
        if auth == "clerk":
            assert operation["security"] == [{"clerk": []}]
            assert {"401", "429"} <= set(operation["responses"]), path
        if auth == "stripe-signature":
            assert operation["security"] == [{"stripeSignature": []}]
        if auth == "svix-signature":
            assert operation["security"] == [{"svixSignature": []}]
        for status, answer in operation["responses"].items():
            if int(status) >= 400:
                assert answer["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/ErrorEnvelope"}
    assert declared == described and len(declared) >= 8


def test_catalog_objects_allow_stripes_other_fields(app):
    schemas = build_openapi(app)["components"]["schemas"]
    assert schemas["Product"].get("additionalProperties", True) is True
    assert schemas["CustomerBody"]["additionalProperties"] is False  # an unknown field is a 400, and says so


def test_the_error_envelope_lists_every_code(app):
    codes = build_openapi(app)["components"]["schemas"]["ErrorBody"]["properties"]["code"]["enum"]
    for code in ("VALIDATION_ERROR", "UNAUTHORIZED", "NOT_FOUND", "RATE_LIMITED", "SERVICE_ERROR", "INTERNAL_ERROR",
                 "EVENT_IN_PROGRESS", "PAYLOAD_TOO_LARGE"):
        assert code in codes


def test_the_document_is_valid_json_on_disk():
    assert json.loads(COMMITTED.read_text())["info"]["title"] == "Tatame payments API"
