"""The plan published to Clerk: staged in the outbox by whatever writes a membership, sent to (the sandbox's)
Clerk in stamp order, retried with backoff; a dead Clerk never touches a webhook."""

import threading
import time

import jwt
import pytest

from app import create_app
from app.metrics import scrape
from app.stores.sqlite import SQLiteStore
from sandbox.clerk import SandboxClerk
from tests.api.test_billing import MONTHLY, billing_config, buy, deliver_all  # noqa: F401 - the fixture
from tests.conftest import sandboxed_app, with_config
from tests.stores_contract import _subscription

UNLIMITED = ["all_classes", "open_mat", "private_lessons"]


class Clock:
    def __init__(self):
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clerk():
    return SandboxClerk()


@pytest.fixture
def app(billing_config, sandbox_stripe, clerk):
    return create_app(billing_config, clerk=clerk.client(), publish_in_background=False)


def publisher(app):
    return app.extensions["tatame"].publisher


def subscription_of(client, auth) -> str:
    return client.get("/stripe/subscription", headers=auth).json["data"]["subscription"]["id"]


def test_a_purchase_and_a_cancellation_reach_clerk(client, app, auth_headers, sandbox_stripe, signed_webhook, clerk):
    auth = auth_headers("user_publish")
    buy(client, auth, sandbox_stripe, signed_webhook, price=MONTHLY)
    assert clerk.requests == []  # the webhooks only staged it
    assert publisher(app).send_due() == 1
    billing = clerk.public_metadata("user_publish")["billing"]
    period_end = client.get("/stripe/subscription", headers=auth).json["data"]["subscription"]["current_period_end"]
    assert billing == {"status": "active", "access": True, "plan": "prod_demo_unlimited", "features": UNLIMITED,
                       "current_period_end": period_end}

    sandbox_stripe.delete_subscription(subscription_of(client, auth))
    deliver_all(client, signed_webhook, sandbox_stripe.events()[-2:])
    publisher(app).send_due()
    billing = clerk.public_metadata("user_publish")["billing"]
    assert (billing["status"], billing["access"], billing["features"]) == ("canceled", False, [])
    assert publisher(app).send_due() == 0 and app.extensions["tatame"].store.count_outbox_pending() == 0


def test_clerk_down_never_slows_a_webhook_and_the_state_is_retried_with_backoff(
        billing_config, sandbox_stripe, auth_headers, signed_webhook, clerk):
    clock = Clock()
    app = create_app(billing_config, clerk=clerk.client(), publish_in_background=False)
    sender = publisher(app)
    sender.clock = clock
    client, auth = app.test_client(), auth_headers("user_clerk_down")
    clerk.down = True
    started = time.perf_counter()
    buy(client, auth, sandbox_stripe, signed_webhook)  # every delivery answered 200 (asserted inside)
    assert time.perf_counter() - started < 5 and clerk.requests == []

    assert sender.send_due() == 0
    entry = app.extensions["tatame"].store.get_outbox("user_clerk_down")
    assert (entry.attempts, entry.pending, entry.last_error) == (1, True, "Clerk answered 503")
    assert entry.next_attempt_at == pytest.approx(clock.now + sender.backoff_seconds)
    assert sender.send_due() == 0 and len(clerk.requests) == 1  # waiting out its backoff: not tried again
    clock.now += sender.backoff_seconds
    assert sender.send_due() == 0 and len(clerk.requests) == 2
    assert app.extensions["tatame"].store.get_outbox("user_clerk_down").next_attempt_at == pytest.approx(
        clock.now + 2 * sender.backoff_seconds)  # doubled

    clerk.down = False
    clock.now += 2 * sender.backoff_seconds
    assert sender.send_due() == 1
    assert clerk.public_metadata("user_clerk_down")["billing"]["features"] == UNLIMITED
    assert b"tatame_clerk_publish_lag_seconds_count" in scrape()[0]


def test_sync_sends_every_pending_plan_even_one_waiting_out_its_backoff(billing_config, sandbox_stripe, auth_headers,
                                                                       signed_webhook, clerk):
    app = create_app(billing_config, clerk=clerk.client(), publish_in_background=False)
    client, auth = app.test_client(), auth_headers("user_sync")
    clerk.down = True
    buy(client, auth, sandbox_stripe, signed_webhook)
    publisher(app).send_due()  # fails: next try in a while
    clerk.down = False
    result = app.test_cli_runner().invoke(args=["stripe", "sync"])
    assert result.exit_code == 0, result.output
    assert "published to Clerk: 1, still pending: 0" in result.output
    assert clerk.public_metadata("user_sync")["billing"]["status"] == "active"


class HeldFirstStaging:
    """The SQLite store, but the first outbox write waits (its state already read) until the test says so."""

    def __init__(self, store):
        self.store, self.read_done, self.release, self.calls = store, threading.Event(), threading.Event(), 0

    def __getattr__(self, name):
        return getattr(self.store, name)

    def save_outbox(self, *args):
        self.calls += 1
        if self.calls == 1:
            self.read_done.set()
            self.release.wait(10)
        return self.store.save_outbox(*args)


def test_an_older_state_staged_last_never_replaces_the_newer_one(billing_config, sandbox_stripe, auth_headers,
                                                                  signed_webhook, clerk):
    buyer = create_app(billing_config).test_client()  # publishing off: nothing staged while buying
    auth = auth_headers("user_race")
    buy(buyer, auth, sandbox_stripe, signed_webhook)
    held = HeldFirstStaging(SQLiteStore(billing_config.sqlite_path))
    app = create_app(billing_config, store=held, clerk=clerk.client(), publish_in_background=False)
    sender = publisher(app)
    older = threading.Thread(target=sender.stage, args=("user_race",))
    older.start()  # reads "active" and is held before its write
    assert held.read_done.wait(10)
    sandbox_stripe.delete_subscription(subscription_of(buyer, auth))
    deliver_all(app.test_client(), signed_webhook, sandbox_stripe.events()[-2:])  # stages "canceled"
    held.release.set()
    older.join(10)
    assert held.get_outbox("user_race").state["status"] == "canceled"  # the older write was refused
    sender.send_due()
    assert clerk.public_metadata("user_race")["billing"]["status"] == "canceled"


def test_states_are_sent_in_stamp_order(billing_config, sandbox_stripe, clerk):
    app = create_app(billing_config, clerk=clerk.client(), publish_in_background=False)
    store, sender = app.extensions["tatame"].store, publisher(app)
    users = [f"user_order_{i}" for i in range(5)]
    for user in users:
        sender.stage(user)
    store.save_outbox(users[0], {"status": "none"}, store.next_stamp(), time.time())  # now the newest
    sender.send_due()
    assert [path.split("/")[3] for _, path in clerk.requests] == users[1:] + users[:1]


def test_without_a_clerk_secret_key_publishing_is_off_and_the_banner_says_so(billing_config, sandbox_stripe):
    from app.banner import banner

    app = create_app(billing_config)
    services = app.extensions["tatame"]
    assert services.publisher is None and services.subscriptions.on_change("user_x") is None
    assert "publishing off: the plan is not published to Clerk  (real: CLERK_SECRET_KEY)" in banner(services)
    configured = create_app(with_config(billing_config, clerk_secret_key="sk_test_fake_clerk_key"))
    assert configured.extensions["tatame"].publisher is not None
    assert "publishing each member's plan to Clerk" in banner(configured.extensions["tatame"])


def test_make_token_carries_the_published_plan(config, sandbox_stripe):
    offline = with_config(config, clerk_jwt_key=None, stripe_secret_key=None, stripe_webhook_secrets=())
    app = sandboxed_app(offline, publish_in_background=False)
    runner = app.test_cli_runner()
    plain = jwt.decode(runner.invoke(args=["token", "--user", "user_tok"]).output.strip(),
                       options={"verify_signature": False})
    assert "billing" not in plain
    services = app.extensions["tatame"]
    assert services.modes["publishing"].startswith("each member's plan to the sandbox's Clerk")
    services.store.save_outbox("user_tok", {"status": "active", "access": True, "plan": "prod_demo_kids",
                                            "features": ["kids_classes"], "current_period_end": 1},
                               services.store.next_stamp(), time.time())
    assert services.publisher.send_due() == 1
    claims = jwt.decode(runner.invoke(args=["token", "--user", "user_tok"]).output.strip(),
                        options={"verify_signature": False})
    assert claims["billing"]["features"] == ["kids_classes"] and claims["sub"] == "user_tok"



def test_a_deletion_stripe_no_longer_answers_for_is_staged_for_clerk_too(app):
    services = app.extensions["tatame"]
    stored = _subscription("sub_gone_at_stripe", "cus_gone_at_stripe", "user_gone", services.store.next_stamp())
    assert services.store.save_subscription(stored)  # a row the sandbox's Stripe does not know
    ended = {"id": "sub_gone_at_stripe", "object": "subscription", "customer": "cus_gone_at_stripe"}
    assert services.subscriptions.refresh("sub_gone_at_stripe", ended=ended).status == "canceled"
    entry = services.store.get_outbox("user_gone")  # what customer.subscription.deleted's handler does first
    assert entry.pending and entry.state["status"] == "canceled" and entry.state["access"] is False


def test_the_sender_runs_only_where_it_was_started_and_ends_with_its_app(billing_config, sandbox_stripe, clerk,
                                                                         auth_headers):
    """Staging never spawns a thread (a request, a command, a test); a worker's sender ends with its app, so no
    thread is left behind to hold a lock across a fork."""
    import gc
    import threading
    import time

    def senders():
        return [t for t in threading.enumerate() if t.name == "clerk-outbox"]

    before = len(senders())
    app = create_app(billing_config, clerk=clerk.client())
    client, auth = app.test_client(), auth_headers("user_sender")
    sub = client.post("/stripe/payment-sheet", json={"price_id": MONTHLY}, headers=auth).json["data"]["subscription"]
    sandbox_stripe.pay_invoice(sub)
    app.extensions["tatame"].subscriptions.refresh(sub)  # a membership change: staged
    assert len(senders()) == before
    publisher(app).start()  # what wsgi.post_worker_init does in each worker
    assert len(senders()) == before + 1
    deadline = time.monotonic() + 5
    while "billing" not in clerk.public_metadata("user_sender") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert clerk.public_metadata("user_sender")["billing"]["status"] == "active"  # sent by the started sender
    wake = publisher(app)._wake
    del app, client
    gc.collect()
    wake.set()
    deadline = time.monotonic() + 5
    while len(senders()) > before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(senders()) == before
