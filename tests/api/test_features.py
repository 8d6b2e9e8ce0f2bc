"""Features with the membership: Stripe Entitlements stored through the guarded write, shown by GET /stripe/subscription."""

from tests.api.test_billing import MONTHLY, buy, deliver_all, stripe_calls

SUMMARY = "entitlements.active_entitlement_summary.updated"


def membership(client, auth) -> dict:
    return client.get("/stripe/subscription", headers=auth).json["data"]


def test_buying_unlocks_the_plans_features_and_canceling_takes_them_away(client, auth_headers, sandbox_stripe,
                                                                         signed_webhook):
    auth = auth_headers("user_features")
    buy(client, auth, sandbox_stripe, signed_webhook, price=MONTHLY)
    assert membership(client, auth)["features"] == ["all_classes", "open_mat", "private_lessons"]
    before = len(sandbox_stripe.requests)
    for _ in range(3):
        membership(client, auth)
    assert len(sandbox_stripe.requests) == before  # read from the store only

    subscription = membership(client, auth)["subscription"]["id"]
    sandbox_stripe.delete_subscription(subscription)
    deliver_all(client, signed_webhook, sandbox_stripe.events()[-2:])  # the deletion, then Stripe's summary
    after = membership(client, auth)
    assert (after["status"], after["access"], after["features"]) == ("canceled", False, [])


def test_the_summary_handler_reads_stripe_and_an_older_summary_changes_nothing(client, auth_headers, sandbox_stripe,
                                                                                 signed_webhook):
    auth = auth_headers("user_summaries")
    buy(client, auth, sandbox_stripe, signed_webhook)
    entitled = sandbox_stripe.events(SUMMARY)[-1]
    assert entitled["data"]["object"]["entitlements"]["data"]
    sandbox_stripe.delete_subscription(membership(client, auth)["subscription"]["id"])
    emptied = sandbox_stripe.events(SUMMARY)[-1]
    assert emptied["data"]["object"]["entitlements"]["data"] == []
    reads = len(stripe_calls(sandbox_stripe, "GET", "/v1/entitlements/active_entitlements"))
    # The newer summary first, then the older one delivered late (as a redelivery would be).
    deliver_all(client, signed_webhook, [emptied, {**entitled, "id": entitled["id"] + "_late"}])
    assert len(stripe_calls(sandbox_stripe, "GET", "/v1/entitlements/active_entitlements")) == reads + 2
    assert membership(client, auth)["features"] == []  # each handler read Stripe's state: nothing came back
