"""schemathesis, an independent fuzzer, holds the API to its own OpenAPI document.

Every operation of GET /openapi.json is called with generated valid and invalid input, as a
signed-in development user, on the embedded parts (the sandbox's Stripe, SQLite); each answer must
be no server error, a documented status, JSON, and shaped as documented. The webhook route gets
its generated events signed with the sandbox's secret, so they reach the exactly-once path.

schemathesis' own pytest plugin does not run under pytest 9 yet, so each operation is driven
through its Python API: the operation's hypothesis strategy, and `case.call_and_validate`.
"""

import json
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import (content_type_conformance, not_a_server_error, response_headers_conformance,
                                 response_schema_conformance, status_code_conformance)
from schemathesis.generation import GenerationMode

from app.services.webhook_signature import sign_header
from config import Config
from sandbox import credentials
from sandbox.sample_events import svix_headers
from tests.conftest import sandboxed_app

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance,
          response_headers_conformance]
DOCUMENT = json.loads((Path(__file__).resolve().parents[2] / "openapi.json").read_text())
OPERATIONS = [(method.upper(), path) for path, item in DOCUMENT["paths"].items() for method in item]
EXAMPLES = 60
# Operations whose success needs what random input cannot name: a catalog id (a random one is a 404), or a
# subscription of the caller's (without one, cancel and resume are 404s). Their errors are still checked.
NEEDS_STATE = {("GET", "/stripe/products/{product_id}"), ("GET", "/stripe/prices/{price_id}"),
               ("GET", "/stripe/checkout-session/{session_id}"), ("POST", "/stripe/checkout-session"),
               ("POST", "/stripe/payment-sheet"), ("POST", "/stripe/subscription/cancel"),
               ("POST", "/stripe/subscription/resume")}


@pytest.fixture(scope="module")
def fuzzed_app(tmp_path_factory):
    folder = tmp_path_factory.mktemp("schemathesis")
    return sandboxed_app(Config.from_env({"INSTANCE_PATH": str(folder), "RATE_LIMIT_ENABLED": "false",
                                          "APP_ENV": "development"}))


@pytest.fixture(scope="module")
def api_schema(fuzzed_app):
    config = schemathesis.Config()
    config.projects.default.generation.update(modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
    return schemathesis.openapi.from_wsgi("/openapi.json", fuzzed_app, config=config)


def test_every_documented_operation_is_fuzzed(api_schema):
    found = {(result.ok().method.upper(), result.ok().path) for result in api_schema.get_all_operations()}
    assert found == set(OPERATIONS)


@pytest.mark.parametrize("method, path", OPERATIONS, ids=[f"{m} {p}" for m, p in OPERATIONS])
def test_every_operation_keeps_its_document(method, path, api_schema, fuzzed_app):
    services = fuzzed_app.extensions["tatame"]
    token = credentials.load_or_create(services.config.instance_path).token("user_fuzz")
    operation = api_schema[path][method]
    calls = []

    @given(case=operation.as_strategy())
    @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    def run(case):
        headers = {"Authorization": f"Bearer {token}"}
        if path == "/webhooks/stripe" and isinstance(case.body, dict):
            raw = json.dumps(case.body).encode()
            headers.update({"Content-Type": "application/json",
                            "Stripe-Signature": sign_header(raw, services.webhooks.secrets[0])})
            response = case.call_and_validate(headers=headers, data=raw, checks=CHECKS)
        elif path == "/webhooks/clerk" and isinstance(case.body, dict):
            raw = json.dumps(case.body).encode()
            headers.update({"Content-Type": "application/json",
                            **svix_headers(raw, services.clerk_webhooks.secrets[0])})
            response = case.call_and_validate(headers=headers, data=raw, checks=CHECKS)
        else:
            response = case.call_and_validate(headers=headers, checks=CHECKS)
        calls.append(response.status_code)

    run()
    assert calls, "no case was generated"
    if (method, path) not in NEEDS_STATE:
        assert any(status < 400 for status in calls), f"{method} {path}: no generated case succeeded: {set(calls)}"
