"""What a change to one object does to others, in one place: a deleted customer's subscriptions are canceled.

The resource modules use one another in one direction only (a subscription needs its customer,
its invoices, their payment intents); an effect that runs the other way, from a customer to their
subscriptions, lives here, above them all, so no two modules import each other.
"""

from __future__ import annotations

from sandbox.stripe import events, subscriptions
from sandbox.stripe.forms import only


def delete_customer(fake, params: dict, customer_id: str) -> dict:
    """DELETE /v1/customers/{id}: the customer is deleted and every subscription of theirs not yet ended is
    canceled at once, as Stripe does."""
    only(params, set())
    with fake.state.transaction():
        customer = fake.require("customer", customer_id)
        for subscription, _ in fake.state.all("subscription"):
            if subscription["customer"] == customer_id and subscription["status"] not in subscriptions.ENDED:
                subscriptions.end(fake, subscription, "cancellation_requested")
        fake.state.put(customer, deleted=True)
        events.record(fake, "customer.deleted", customer)
    return {"id": customer_id, "object": "customer", "deleted": True}


ROUTES = [
    ("DELETE", "/v1/customers/{id}", delete_customer),
]
