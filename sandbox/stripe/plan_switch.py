"""The customer portal's plan switch (the local portal page's test hook): the subscription item takes another price.

As Stripe's portal does it: the same item gets the new price, its quantity kept, and Stripe sends one
customer.subscription.updated whose previous_attributes name the old items. A change of billing
interval restarts the period now (Stripe resets the billing cycle anchor); the same interval keeps
it. A trial keeps its end. The sandbox's Stripe makes no proration invoice: the period and price are what the
app reads, and those are Stripe's.
"""

from __future__ import annotations

from sandbox.stripe import subscriptions
from sandbox.stripe.catalog import purchasable
from sandbox.stripe.faults import StripeFault, invalid


def switch_price(fake, subscription_id: str, price_id: str) -> dict:
    """Move the subscription's one item to `price_id`, recording customer.subscription.updated (no change: none)."""
    with fake.state.transaction():
        before = fake.require("subscription", subscription_id)
        if before["status"] in subscriptions.ENDED:
            raise StripeFault(400, "A canceled subscription cannot change its plan.")
        items = before["items"]["data"]
        if len(items) != 1:  # Stripe's portal does not update subscriptions of several products either
            raise StripeFault(400, "The portal switches subscriptions of exactly one item.")
        price = purchasable(fake, price_id, "price")
        if price["type"] != "recurring":
            raise invalid("price", "A subscription takes recurring prices only.")
        if price["currency"] != before["currency"]:
            raise invalid("price", "All prices on a subscription must have the same `currency`.")
        item = {**items[0], "price": price}
        after = {**before}
        old, new = items[0]["price"]["recurring"], price["recurring"]
        interval_changed = (old["interval"], old["interval_count"]) != (new["interval"], new["interval_count"])
        if interval_changed and before["status"] != "trialing":
            now = fake.now()
            item.update(current_period_start=now,
                        current_period_end=subscriptions.add_interval(now, new["interval"], new["interval_count"]))
            after["billing_cycle_anchor"] = now
            if before["cancel_at_period_end"]:
                after["cancel_at"] = item["current_period_end"]  # a scheduled cancel moves with the period
        after["items"] = {**before["items"], "data": [item]}
        return subscriptions.save(fake, before, after)
