"""No accounts configured: the sandbox stands in for Stripe, Clerk and the webhook secret; its commands; the banner."""

import json
import threading

import pytest

from app import create_app
from app.banner import banner
from config import Config
from sandbox import credentials
from sandbox.compose import MODES, compose
from sandbox.sample_events import OBJECTS, sample_event
from tests.conftest import sandboxed_app


@pytest.fixture
def dev_app(tmp_path):
    config = Config.from_env({"INSTANCE_PATH": str(tmp_path), "RATE_LIMIT_ENABLED": "false"})
    return sandboxed_app(config)


def bearer(app, user="user_demo"):
    instance = app.extensions["tatame"].config.instance_path
    return {"Authorization": f"Bearer {credentials.load_or_create(instance).token(user)}"}


def test_the_quick_start_works_with_nothing_configured(dev_app):
    services = dev_app.extensions["tatame"]
    assert services.modes == {"store": "sqlite", **MODES}
    client = dev_app.test_client()
    plans = client.get("/stripe/products?limit=3", headers=bearer(dev_app))
    assert plans.status_code == 200 and plans.json["count"] == 3 and plans.json["has_more"] is True
    nxt = client.get(f"/stripe/products?limit=3&starting_after={plans.json['data'][-1]['id']}", headers=bearer(dev_app))
    assert nxt.status_code == 200 and nxt.json["data"][0]["id"] not in {p["id"] for p in plans.json["data"]}
    created = client.post("/stripe/customer", json={"email": "ana@example.com"}, headers=bearer(dev_app))
    assert created.status_code == 201 and created.json["data"]["id"].startswith("cus_demo_")
    again = client.post("/stripe/customer", headers=bearer(dev_app))
    assert again.status_code == 200 and again.json["data"]["id"] == created.json["data"]["id"]


def test_a_deleted_sandbox_customer_is_replaced_via_the_webhook(dev_app):
    from app.services.webhook_signature import sign_header

    services = dev_app.extensions["tatame"]
    client = dev_app.test_client()
    first = client.post("/stripe/customer", headers=bearer(dev_app)).json["data"]["id"]
    services.gateway.client.v1.customers.delete(first)  # as the dashboard would
    event = json.dumps(sample_event("customer.deleted", customer_id=first)).encode()
    answer = client.post("/webhooks/stripe", data=event,
                         headers={"Stripe-Signature": sign_header(event, services.webhooks.secrets[0])})
    assert answer.status_code == 200
    assert services.store.get_customer_mapping("user_demo") is None
    second = client.post("/stripe/customer", headers=bearer(dev_app))
    assert second.status_code == 201 and second.json["data"]["id"] != first


def test_dev_credentials_persist_across_restarts(tmp_path):
    config = Config.from_env({"INSTANCE_PATH": str(tmp_path)})
    first, second = sandboxed_app(config), sandboxed_app(config)
    token = bearer(first)
    assert second.test_client().post("/stripe/customer", headers=token).status_code == 201
    assert (tmp_path / "dev-clerk-key.pem").stat().st_mode & 0o777 == 0o600


def test_token_command_prints_a_token_the_api_accepts(dev_app):
    result = dev_app.test_cli_runner().invoke(args=["token", "--user", "user_cli"])
    assert result.exit_code == 0
    token = result.output.strip()
    response = dev_app.test_client().post("/stripe/customer", headers={"Authorization": f"Bearer {token}"})
    assert response.json["data"]["metadata"]["clerk_user_id"] == "user_cli"


def test_token_command_refuses_when_clerk_is_configured(config):
    result = sandboxed_app(config).test_cli_runner().invoke(args=["token"])
    assert result.exit_code != 0 and "Clerk" in result.output


def test_event_command_signs_and_posts(dev_app):
    """`flask event` against a real HTTP server running the app: processed, then duplicate."""
    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, dev_app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/webhooks/stripe"
        runner = dev_app.test_cli_runner()
        first = runner.invoke(args=["event", "--type", "invoice.payment_failed", "--id", "evt_demo_cli", "--url", url])
        second = runner.invoke(args=["event", "--type", "invoice.payment_failed", "--id", "evt_demo_cli", "--url", url])
    finally:
        server.shutdown()
    assert first.exit_code == 0 and '{"received":true}' in first.output
    assert second.exit_code == 0 and '"duplicate":true' in second.output


def test_clerk_event_command_changes_the_email_at_the_sandboxs_stripe_then_erases(dev_app):
    """`make event SOURCE=clerk`: a signed user.updated reaches the stand-in; a user.deleted leaves nothing."""
    from werkzeug.serving import make_server

    client, token = dev_app.test_client(), bearer(dev_app, "user_clerk_cli")
    customer = client.post("/stripe/customer", headers=token).json["data"]["id"]
    server = make_server("127.0.0.1", 0, dev_app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url, runner = f"http://127.0.0.1:{server.server_port}/webhooks/clerk", dev_app.test_cli_runner()
        updated = runner.invoke(args=["event", "--source", "clerk", "--type", "user.updated", "--user",
                                      "user_clerk_cli", "--email", "ana.new@example.com", "--url", url])
        assert updated.exit_code == 0 and '{"received":true}' in updated.output, updated.output
        services = dev_app.extensions["tatame"]
        assert services.gateway.get_customer(customer)["email"] == "ana.new@example.com"
        deleted = runner.invoke(args=["event", "--source", "clerk", "--type", "user.deleted", "--user",
                                      "user_clerk_cli", "--url", url])
        assert deleted.exit_code == 0, deleted.output
    finally:
        server.shutdown()
    assert services.gateway.get_customer(customer) is None
    assert services.store.get_customer_mapping("user_clerk_cli") is None


def test_a_stripe_type_is_not_a_clerk_sample(dev_app):
    result = dev_app.test_cli_runner().invoke(args=["event", "--source", "clerk", "--type", "invoice.paid"])
    assert result.exit_code != 0 and "user.updated" in result.output


def test_event_command_says_when_the_server_is_not_running(dev_app):
    result = dev_app.test_cli_runner().invoke(args=["event", "--url", "http://127.0.0.1:9/webhooks/stripe"])
    assert result.exit_code != 0 and "make serve" in result.output


@pytest.mark.parametrize("event_type", sorted(OBJECTS))
def test_every_sample_event_is_accepted(dev_app, event_type):
    from app.services.webhook_signature import sign_header

    services = dev_app.extensions["tatame"]
    body = json.dumps(sample_event(event_type)).encode()
    response = dev_app.test_client().post(
        "/webhooks/stripe", data=body, headers={"Stripe-Signature": sign_header(body, services.webhooks.secrets[0])})
    assert response.status_code == 200 and response.json == {"received": True}


def test_banner_says_what_is_embedded_and_how_to_switch(dev_app, config):
    text = banner(dev_app.extensions["tatame"])
    for needle in ("embedded SQLite", "SUPABASE_URL", "the sandbox's Stripe", "STRIPE_SECRET_KEY", "make token",
                   "CLERK_PUBLISHABLE_KEY", "make event", "STRIPE_WEBHOOK_SECRET", "make event SOURCE=clerk",
                   "CLERK_WEBHOOK_SECRET"):
        assert needle in text
    real = banner(create_app(config).extensions["tatame"])
    assert "Stripe API" in real and "Clerk session tokens" in real and "sandbox" not in real
    for secret in config.secrets():
        assert secret not in real


def test_production_never_falls_back(tmp_path, config):
    from dataclasses import replace

    from app.stores.sqlite import SQLiteStore

    store = SQLiteStore(str(tmp_path / "p.sqlite3"))
    with pytest.raises(RuntimeError, match="STRIPE_SECRET_KEY"):
        create_app(replace(config, app_env="production", stripe_secret_key=None), store=store)
    with pytest.raises(RuntimeError, match="SUPABASE"):
        create_app(replace(config, app_env="production"))
    app = create_app(replace(config, app_env="production", stripe_webhook_secrets=()), store=store)
    assert app.extensions["tatame"].webhooks.secrets == ()
    with pytest.raises(RuntimeError, match="never runs in production"):
        compose(replace(config, app_env="production"))
    assert not (tmp_path / "dev-clerk-key.pem").exists()
