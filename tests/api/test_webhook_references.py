"""A signed event whose references are malformed is a 400 INVALID_PAYLOAD, never a 500 (issue 17, finding 9).

A property test: every shape a reference may take (null, an id, an expanded object with an id) is
handled (200), and everything else Stripe could never send (numbers, lists, objects whose id is not an
id, strings that are not ids) is refused before the event is claimed, in each place a handler reads one.
"""

from __future__ import annotations

import re
import uuid

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import make_event

ID = st.from_regex(r"\A(sub|cus)_[A-Za-z0-9]{1,20}\Z")
JUNK = st.one_of(st.integers(), st.floats(allow_nan=False), st.booleans(), st.lists(st.integers(), max_size=2),
                 st.text(max_size=8).filter(lambda text: not re.fullmatch(r"[A-Za-z0-9_]{1,255}", text)))
WELL_FORMED = st.one_of(st.none(), ID, ID.map(lambda i: {"id": i, "object": "subscription"}))
MALFORMED = st.one_of(JUNK, JUNK.map(lambda junk: {"id": junk}), st.just({}), st.just({"object": "subscription"}))
REFERENCE = st.one_of(WELL_FORMED.map(lambda r: (r, True)), MALFORMED.map(lambda r: (r, False)))


def place(event_type: str, where: str, reference) -> dict:
    """A handled object of `event_type` with `reference` at `where`."""
    obj = {"id": f"obj_{uuid.uuid4().hex[:12]}", "object": event_type.split(".")[0]}
    if where == "parent":
        obj["parent"] = {"subscription_details": {"subscription": reference}}
    elif where == "parent itself":
        obj["parent"] = reference
    else:
        obj[where] = reference
    return make_event(event_type, obj)


PLACES = st.sampled_from([
    ("invoice.paid", "parent"), ("invoice.paid", "subscription"), ("invoice.payment_failed", "customer"),
    ("checkout.session.completed", "subscription"), ("checkout.session.expired", "customer"),
    ("customer.subscription.updated", "customer"), ("customer.subscription.deleted", "customer"),
    # payment history (GET /stripe/invoices)
    ("invoice.finalized", "customer"), ("invoice.voided", "parent"), ("invoice.created", "subscription"),
    ("checkout.session.completed", "payment_intent"), ("payment_intent.succeeded", "customer"),
    ("payment_intent.succeeded", "latest_charge"), ("charge.succeeded", "payment_intent"),
    ("charge.refunded", "payment_intent"), ("charge.refunded", "invoice"),
])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(where=PLACES, reference=REFERENCE)
def test_malformed_references_are_400_and_well_formed_ones_are_handled(client, signed_webhook, sandbox_stripe,
                                                                       where, reference):
    (event_type, field), (value, well_formed) = where, reference
    body, headers = signed_webhook(place(event_type, field, value))
    answer = client.post("/webhooks/stripe", data=body, headers=headers)
    if well_formed:
        assert answer.status_code == 200, (event_type, field, value, answer.json)
    else:
        assert answer.status_code == 400, (event_type, field, value, answer.json)
        assert answer.json["error"]["code"] == "INVALID_PAYLOAD"


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(parent=st.one_of(JUNK, st.just({"subscription_details": "sub_1"}), st.just({"subscription_details": [1]})))
def test_a_parent_that_is_not_an_object_is_400(client, signed_webhook, sandbox_stripe, parent):
    body, headers = signed_webhook(place("invoice.paid", "parent itself", parent))
    answer = client.post("/webhooks/stripe", data=body, headers=headers)
    assert answer.status_code == 400 and answer.json["error"]["code"] == "INVALID_PAYLOAD"
