"""GET /stripe/invoices: the member's invoices and one-time payments, kept by webhooks, read from the store only.

Stripe is the sandbox's, at the network edge (StripeGateway + SDK + `responses`); webhooks are signed and
delivered through the test client, duplicated and shuffled where order matters.
"""

import random

import pytest

from app import create_app
from tests.conftest import make_event, with_config

MONTHLY, ENROLMENT = "price_demo_unlimited_monthly", "price_demo_enrolment"
DAY = 86400


@pytest.fixture
def app(config, sandbox_stripe):
    return create_app(with_config(config, stripe_publishable_key="pk_test_fake_publishable_key"))


def deliver(client, signed_webhook, events):
    for event in events:
        body, headers = signed_webhook(event)
        answer = client.post("/webhooks/stripe", data=body, headers=headers)
        assert answer.status_code == 200, answer.json


def checkout(client, auth, sandbox_stripe, signed_webhook, price):
    session = client.post("/stripe/checkout-session", json={"price_id": price}, headers=auth).json["data"]
    done = sandbox_stripe.complete_checkout_session(session["id"])
    deliver(client, signed_webhook, sandbox_stripe.events())  # earlier ones again too: duplicates
    return done


def invoices(client, auth, **query):
    answer = client.get("/stripe/invoices", query_string=query, headers=auth)
    assert answer.status_code == 200, answer.json
    return answer.json


def product_name(sandbox_stripe, price_id):
    price = sandbox_stripe.fake.catalog.get("price", price_id)
    return sandbox_stripe.fake.catalog.get("product", price["product"])["name"]


def test_a_plan_bought_at_checkout_shows_its_paid_invoice_and_reading_never_calls_stripe(
        client, auth_headers, sandbox_stripe, signed_webhook):
    auth = auth_headers("user_invoice_buyer")
    assert invoices(client, auth) == {"data": [], "count": 0, "has_more": False}
    done = checkout(client, auth, sandbox_stripe, signed_webhook, MONTHLY)
    before = len(sandbox_stripe.requests)
    for _ in range(3):
        page = invoices(client, auth)
    assert len(sandbox_stripe.requests) == before  # the table only
    invoice = sandbox_stripe.fake.resolve("invoice", done["invoice"])
    line = invoice["lines"]["data"][0]
    assert page == {"count": 1, "has_more": False, "data": [{
        "id": invoice["id"], "kind": "invoice", "number": invoice["number"], "status": "paid",
        "amount_due": invoice["amount_due"], "amount_paid": invoice["amount_due"], "currency": "brl",
        "created": invoice["created"], "period": {"start": line["period"]["start"], "end": line["period"]["end"]},
        "description": product_name(sandbox_stripe, MONTHLY), "hosted_invoice_url": invoice["hosted_invoice_url"],
        "invoice_pdf": invoice["invoice_pdf"], "receipt_url": None}]}
    assert invoice["amount_due"] > 0 and invoice["hosted_invoice_url"] and invoice["invoice_pdf"]


def test_a_one_time_checkout_shows_the_payment_with_its_receipt(client, auth_headers, sandbox_stripe,
                                                                signed_webhook):
    auth = auth_headers("user_enrolment")
    done = checkout(client, auth, sandbox_stripe, signed_webhook, ENROLMENT)
    intent = sandbox_stripe.fake.resolve("payment_intent", done["payment_intent"])
    charge = sandbox_stripe.fake.resolve("charge", intent["latest_charge"])
    [payment] = invoices(client, auth)["data"]
    assert payment == {
        "id": intent["id"], "kind": "payment", "number": None, "status": "succeeded",
        "amount_due": intent["amount"], "amount_paid": intent["amount"], "currency": intent["currency"],
        "created": intent["created"], "period": None, "description": product_name(sandbox_stripe, ENROLMENT),
        "hosted_invoice_url": None, "invoice_pdf": None, "receipt_url": charge["receipt_url"]}


def test_a_payment_sheet_purchase_and_its_refund(client, auth_headers, sandbox_stripe, signed_webhook):
    auth = auth_headers("user_sheet_buyer")
    sheet = client.post("/stripe/payment-sheet", json={"price_id": ENROLMENT}, headers=auth).json["data"]
    sandbox_stripe.confirm_intent(sheet["client_secret"])  # the mobile app's PaymentSheet, with a test card
    deliver(client, signed_webhook, sandbox_stripe.events())
    [payment] = invoices(client, auth)["data"]
    assert (payment["kind"], payment["status"]) == ("payment", "succeeded") and payment["receipt_url"]
    intent = sandbox_stripe.fake.resolve("payment_intent", payment["id"])
    sandbox_stripe.refund_charge(intent["latest_charge"])
    deliver(client, signed_webhook, sandbox_stripe.events("charge.refunded"))
    assert invoices(client, auth)["data"][0]["status"] == "refunded"


def test_a_renewal_and_a_declined_one_each_show_their_invoice(client, auth_headers, sandbox_stripe,
                                                               signed_webhook):
    auth = auth_headers("user_renewing")
    checkout(client, auth, sandbox_stripe, signed_webhook, MONTHLY)
    sandbox_stripe.advance_clock(31 * DAY)  # renewed and paid
    # Delivered as they happen: the Events API keeps 30 days, so what happened a month ago is no longer listed.
    deliver(client, signed_webhook, sandbox_stripe.events())
    sandbox_stripe.fake.declines = True
    sandbox_stripe.advance_clock(31 * DAY)  # the next renewal is declined: open, retried later
    deliver(client, signed_webhook, sandbox_stripe.events())
    data = invoices(client, auth)["data"]
    assert [i["status"] for i in data] == ["open", "paid", "paid"]
    assert data[0]["amount_paid"] == 0 and data[0]["amount_due"] > 0
    assert data[0]["created"] > data[1]["created"] > data[2]["created"]
    assert data[0]["period"]["start"] == data[1]["period"]["end"]


def test_pages_follow_stripes_list_rules(client, auth_headers, sandbox_stripe, signed_webhook):
    auth = auth_headers("user_many")
    checkout(client, auth, sandbox_stripe, signed_webhook, MONTHLY)
    for _ in range(2):  # two renewals, each delivered as it happens
        sandbox_stripe.advance_clock(31 * DAY)
        deliver(client, signed_webhook, sandbox_stripe.events())
    checkout(client, auth, sandbox_stripe, signed_webhook, ENROLMENT)
    everything = invoices(client, auth, limit=100)
    assert everything["count"] == 4 and everything["has_more"] is False
    ids = [row["id"] for row in everything["data"]]
    assert [(r["created"], r["id"]) for r in everything["data"]] == sorted(
        ((r["created"], r["id"]) for r in everything["data"]), reverse=True)
    walked, cursor = [], None
    while True:
        page = invoices(client, auth, limit=3, **({"starting_after": cursor} if cursor else {}))
        walked += [row["id"] for row in page["data"]]
        assert page["count"] == len(page["data"]) <= 3
        if not page["has_more"]:
            break
        cursor = page["data"][-1]["id"]
    assert walked == ids
    assert invoices(client, auth)["count"] == 4  # the default limit is 10


def test_another_users_rows_never_appear_and_are_no_cursor(client, auth_headers, sandbox_stripe, signed_webhook):
    mine, theirs = auth_headers("user_mine"), auth_headers("user_theirs")
    checkout(client, mine, sandbox_stripe, signed_webhook, MONTHLY)
    assert invoices(client, theirs)["data"] == []
    foreign = invoices(client, mine)["data"][0]["id"]
    answer = client.get("/stripe/invoices", query_string={"starting_after": foreign}, headers=theirs)
    assert answer.status_code == 400 and "starting_after" in answer.json["error"]["details"]
    answer = client.get("/stripe/invoices", query_string={"starting_after": "in_unknown"}, headers=mine)
    assert answer.status_code == 400 and "starting_after" in answer.json["error"]["details"]


@pytest.mark.parametrize("query, field", [
    ({"limit": "0"}, "limit"), ({"limit": "101"}, "limit"), ({"limit": "ten"}, "limit"),
    ({"starting_after": "in bad"}, "starting_after"), ({"customer": "cus_1"}, "customer"),
    ({"user": "user_other"}, "user"),
])
def test_query_mistakes_are_400_on_their_field(client, auth_headers, sandbox_stripe, query, field):
    answer = client.get("/stripe/invoices", query_string=query, headers=auth_headers())
    assert answer.status_code == 400 and field in answer.json["error"]["details"]
    assert sandbox_stripe.requests == []


def test_needs_a_clerk_token(client):
    assert client.get("/stripe/invoices").status_code == 401


def test_shuffled_duplicated_invoice_deliveries_end_in_stripes_state(app, auth_headers, sandbox_stripe,
                                                                    signed_webhook):
    """created, finalized, payment_failed, paid, in any order, some twice: the stored invoice is Stripe's last."""
    client = app.test_client()
    auth = auth_headers("user_shuffled")
    sheet = client.post("/stripe/payment-sheet", json={"price_id": MONTHLY}, headers=auth).json["data"]
    sandbox_stripe.fake.declines = True
    sandbox_stripe.confirm_intent(sheet["client_secret"])  # declined first
    sandbox_stripe.fake.declines = False
    sandbox_stripe.confirm_intent(sheet["client_secret"])  # then paid
    events = [e for e in sandbox_stripe.events() if e["type"].startswith(("invoice.", "charge.", "payment_intent."))]
    for seed in range(3):
        deliveries = events + random.Random(seed).sample(events, k=len(events) // 2)
        random.Random(seed + 100).shuffle(deliveries)
        deliver(client, signed_webhook, deliveries)
        [invoice] = invoices(client, auth)["data"]
        assert invoice["status"] == "paid" and invoice["amount_paid"] == invoice["amount_due"] > 0


def test_a_late_older_read_never_overwrites_a_newer_one(app, auth_headers, sandbox_stripe, signed_webhook):
    client = app.test_client()
    auth = auth_headers("user_late")
    done = checkout(client, auth, sandbox_stripe, signed_webhook, MONTHLY)
    payments = app.extensions["tatame"].payments
    stamp = payments.store.next_stamp()  # a reader that started now...
    old = sandbox_stripe.fake.resolve("invoice", done["invoice"])
    payments.record_invoice({**old, "status": "open", "amount_paid": 0}, stamp - 10**6)  # ...with an older stamp
    assert invoices(client, auth)["data"][0]["status"] == "paid"


def test_the_owner_comes_from_stripes_metadata_never_from_the_event(client, auth_headers, sandbox_stripe,
                                                                    signed_webhook):
    auth = auth_headers("user_real_owner")
    done = checkout(client, auth, sandbox_stripe, signed_webhook, ENROLMENT)
    intent = sandbox_stripe.fake.resolve("payment_intent", done["payment_intent"])
    forged = make_event("payment_intent.succeeded", {**intent, "metadata": {"clerk_user_id": "user_thief"}})
    deliver(client, signed_webhook, [forged])
    assert invoices(client, auth_headers("user_thief"))["data"] == []
    assert invoices(client, auth)["data"][0]["id"] == intent["id"]


def test_a_subscription_invoices_payment_is_shown_once_as_its_invoice(client, auth_headers, sandbox_stripe,
                                                                      signed_webhook):
    auth = auth_headers("user_once")
    checkout(client, auth, sandbox_stripe, signed_webhook, MONTHLY)
    assert [row["kind"] for row in invoices(client, auth)["data"]] == ["invoice"]


def test_malformed_references_are_refused_before_the_claim(client, signed_webhook, sandbox_stripe):
    event = make_event("charge.refunded", {"id": "ch_bad", "object": "charge", "payment_intent": {"no": "id"}})
    body, headers = signed_webhook(event)
    answer = client.post("/webhooks/stripe", data=body, headers=headers)
    assert answer.status_code == 400 and answer.json["error"]["code"] == "INVALID_PAYLOAD"
    assert "data.object.payment_intent" in answer.json["error"]["details"]
    assert client.application.extensions["tatame"].store.get_event(event["id"]) is None
