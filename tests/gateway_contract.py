"""What every billing gateway must do, as Stripe does it: one suite for each way of reaching Stripe.

Subclasses provide a `gateway` fixture (a StripeGateway over the sandbox's Stripe in process, over
`responses`, or over a real Stripe test account). Tests marked `sandbox_only` use the sandbox's
hooks (a `sandbox_stripe` fixture) and are skipped when `live` is set. Every customer a test makes is
deleted afterwards; ids and metadata are random, so a shared test account stays usable.
"""

from __future__ import annotations

import time
import uuid

import pytest

from app.services.errors import NotFound, UpstreamError, ValidationFailed

sandbox_only = pytest.mark.sandbox_only


def unique(prefix: str) -> str:
    return f"{prefix}_contract_{uuid.uuid4().hex[:12]}"


class GatewayContract:
    live = False
    search_seconds = 0.0  # how long Stripe's search index may lag behind a write (about a minute, live)

    @pytest.fixture(autouse=True)
    def _sandbox_only_skips_live(self, request):
        if self.live and request.node.get_closest_marker("sandbox_only"):
            pytest.skip("needs the sandbox's test hooks")

    @pytest.fixture
    def customers(self, gateway):
        """make(params) creates a customer under a fresh idempotency key; all of them are deleted at the end."""
        made: list[str] = []

        def make(params: dict, key: str | None = None) -> dict:
            customer = gateway.create_customer(params, key or unique("key"))
            made.append(customer["id"])
            return customer

        yield make
        for customer_id in made:
            if gateway.get_customer(customer_id) is not None:
                gateway.client.v1.customers.delete(customer_id)

    def eventually(self, check, *, seconds: float | None = None):
        """check() until it returns a truthy value or the search lag allowance runs out; its last value."""
        deadline = time.monotonic() + (self.search_seconds if seconds is None else seconds)
        while True:
            value = check()
            if value or time.monotonic() >= deadline:
                return value
            time.sleep(2)

    # --- catalog ---------------------------------------------------------------------------
    def test_products_list_with_default_price_expanded(self, gateway):
        listing = gateway.list_products({"active": True, "limit": 3})
        assert listing["object"] == "list" and listing["url"] == "/v1/products"
        assert isinstance(listing["has_more"], bool) and len(listing["data"]) <= 3
        for product in listing["data"]:
            assert product["object"] == "product" and product["active"] is True
            assert product["default_price"] is None or product["default_price"]["object"] == "price"
        if not self.live:
            assert listing["data"], "the fixture catalog has active products"

    def test_prices_list_with_product_expanded(self, gateway):
        listing = gateway.list_prices({"limit": 5})
        assert listing["object"] == "list" and listing["url"] == "/v1/prices"
        for price in listing["data"]:
            assert price["object"] == "price" and price["product"]["object"] == "product"

    def test_retrieve_expands(self, gateway):
        prices = gateway.list_prices({"limit": 1})["data"]
        if not prices:
            pytest.skip("the account has no prices")
        price = gateway.get_price(prices[0]["id"])
        assert price["id"] == prices[0]["id"] and price["product"]["object"] == "product"
        product = gateway.get_product(price["product"]["id"])
        assert product["id"] == price["product"]["id"]
        assert product["default_price"] is None or product["default_price"]["object"] == "price"

    def test_active_filter(self, gateway):
        for active in (True, False):
            listing = gateway.list_products({"active": active, "limit": 100})
            assert all(product["active"] is active for product in listing["data"])

    def test_price_filters(self, gateway):
        for kind in ("one_time", "recurring"):
            assert all(p["type"] == kind for p in gateway.list_prices({"type": kind, "limit": 20})["data"])
        some = gateway.list_prices({"limit": 1})["data"]
        if some:
            product_id = some[0]["product"]["id"]
            listing = gateway.list_prices({"product": product_id, "limit": 20})["data"]
            assert listing and all(p["product"]["id"] == product_id for p in listing)

    def test_cursor_pagination_walks_newest_first_without_repeats(self, gateway):
        seen, cursor = [], None
        for _ in range(3):
            page = gateway.list_prices({"limit": 1, **({"starting_after": cursor} if cursor else {})})
            seen += page["data"]
            if not page["has_more"]:
                break
            cursor = page["data"][-1]["id"]
        if len(seen) < 2:
            pytest.skip("fewer than two prices: nothing to page through")
        assert len({p["id"] for p in seen}) == len(seen)
        created = [p["created"] for p in seen]
        assert created == sorted(created, reverse=True)

    def test_unknown_cursor_is_a_validation_failure(self, gateway):
        with pytest.raises(ValidationFailed) as failure:
            gateway.list_products({"limit": 3, "starting_after": unique("prod")})
        assert failure.value.details == {"starting_after": ["No such object."]}

    def test_unknown_ids(self, gateway):
        with pytest.raises(NotFound):
            gateway.get_product(unique("prod"))
        with pytest.raises(NotFound):
            gateway.get_price(unique("price"))
        with pytest.raises(NotFound):
            gateway.update_customer(unique("cus"), {"name": "Nobody"})
        assert gateway.get_customer(unique("cus")) is None

    # --- customers -------------------------------------------------------------------------
    def test_create_replays_under_its_idempotency_key(self, gateway, customers):
        key, params = unique("key"), {"metadata": {"clerk_user_id": unique("user")}}
        first = customers(params, key)
        assert first["object"] == "customer" and first["metadata"] == params["metadata"]
        assert gateway.create_customer(params, key) == first

    def test_a_key_reused_with_other_parameters_is_refused(self, gateway, customers):
        key, user = unique("key"), unique("user")
        customers({"metadata": {"clerk_user_id": user}}, key)
        with pytest.raises(UpstreamError):
            gateway.create_customer({"metadata": {"clerk_user_id": user}, "email": "a@example.com"}, key)

    def test_update_sets_fields_and_merges_metadata(self, gateway, customers):
        user = unique("user")
        customer = customers({"metadata": {"clerk_user_id": user}})
        assert customer["email"] is None and customer["name"] is None
        updated = gateway.update_customer(customer["id"], {"email": "ana@example.com", "name": "Ana Souza",
                                                           "metadata": {"belt": "blue"}})
        assert updated["email"] == "ana@example.com" and updated["name"] == "Ana Souza"
        assert updated["metadata"] == {"clerk_user_id": user, "belt": "blue"}
        assert gateway.get_customer(customer["id"]) == updated

    def test_a_deleted_customer_is_gone(self, gateway, customers):
        customer = customers({"metadata": {"clerk_user_id": unique("user")}})
        assert gateway.get_customer(customer["id"])["id"] == customer["id"]
        gateway.client.v1.customers.delete(customer["id"])
        assert gateway.get_customer(customer["id"]) is None
        with pytest.raises(NotFound):
            gateway.update_customer(customer["id"], {"name": "Too late"})

    def test_find_customer_by_metadata_only(self, gateway, customers):
        user, other = unique("user"), unique("user")
        mine = customers({"metadata": {"clerk_user_id": user}, "email": f"{other}@example.com"})
        customers({"metadata": {"clerk_user_id": other}})
        found = self.eventually(lambda: gateway.find_customer(user))
        assert found is not None and found["id"] == mine["id"]
        assert gateway.find_customer(f"{other}@example.com") is None  # never by email
        assert gateway.find_customer("it's a \\ quote") is None  # quotes and backslashes are escaped

    @sandbox_only
    def test_search_may_still_list_a_deleted_customer(self, gateway, customers, sandbox_stripe):
        """Stripe's index lags: find_customer can name a deleted customer, which get_customer says is gone."""
        user = unique("user")
        customer = customers({"metadata": {"clerk_user_id": user}})
        sandbox_stripe.delete(customer["id"])  # in the dashboard, unseen by the app
        assert gateway.find_customer(user) is None
        sandbox_stripe.search_lags = True
        assert gateway.find_customer(user)["id"] == customer["id"]
        assert gateway.get_customer(customer["id"]) is None

    # --- billing ---------------------------------------------------------------------------
    @staticmethod
    def a_price(gateway, kind: str, active: bool = True) -> dict:
        """An (active) price of the catalog of type `kind`: the fixture's, or the live account's."""
        prices = gateway.list_prices({"type": kind, "active": active, "limit": 20})["data"]
        if kind == "recurring":  # a plain monthly or yearly price: what the apps sell
            prices = [p for p in prices if p["recurring"]["usage_type"] == "licensed"]
        if not prices:
            pytest.skip(f"the account has no {'active' if active else 'inactive'} {kind} price")
        return prices[0]

    @pytest.fixture
    def customer(self, customers):
        return customers({"metadata": {"clerk_user_id": unique("user")}})

    def checkout_params(self, customer: dict, price: dict, mode: str, **extra) -> dict:
        user = customer["metadata"]["clerk_user_id"]
        data = {"subscription_data": {"metadata": {"clerk_user_id": user}}} if mode == "subscription" else {
            "payment_intent_data": {"metadata": {"clerk_user_id": user}}}
        return {"customer": customer["id"], "mode": mode, "line_items": [{"price": price["id"], "quantity": 1}],
                "success_url": "https://app.tatame.example/billing/success",
                "cancel_url": "https://app.tatame.example/billing/cancel", "client_reference_id": user,
                "metadata": {"clerk_user_id": user}, **data, **extra}

    def subscription_params(self, customer: dict, price: dict, **extra) -> dict:
        return {"customer": customer["id"], "items": [{"price": price["id"]}],
                "payment_behavior": "default_incomplete",
                "payment_settings": {"save_default_payment_method": "on_subscription"},
                "metadata": {"clerk_user_id": customer["metadata"]["clerk_user_id"]},
                "expand": ["latest_invoice.confirmation_secret", "pending_setup_intent"], **extra}

    def test_checkout_session_for_a_plan_opens_replays_and_expires(self, gateway, customer):
        price = self.a_price(gateway, "recurring")
        key, params = unique("key"), self.checkout_params(customer, price, "subscription")
        session = gateway.create_checkout_session(params, key)
        assert session["object"] == "checkout.session" and session["id"].startswith("cs_test_")
        assert (session["status"], session["payment_status"], session["mode"]) == ("open", "unpaid", "subscription")
        assert session["url"].startswith("https://") and session["expires_at"] == session["created"] + 24 * 3600
        assert session["customer"] == customer["id"] and session["subscription"] is None
        assert session["client_reference_id"] == params["client_reference_id"]
        assert session["metadata"] == params["metadata"] and session["success_url"] == params["success_url"]
        assert session["cancel_url"] == params["cancel_url"]
        assert (session["amount_total"], session["currency"]) == (price["unit_amount"], price["currency"])
        assert gateway.create_checkout_session(params, key)["id"] == session["id"]
        assert gateway.get_checkout_session(session["id"])["status"] == "open"
        gateway.client.v1.checkout.sessions.expire(session["id"])
        expired = gateway.get_checkout_session(session["id"])
        assert expired["status"] == "expired" and expired["url"] is None

    def test_checkout_session_for_a_one_time_price_is_a_payment(self, gateway, customer):
        price = self.a_price(gateway, "one_time")
        session = gateway.create_checkout_session(self.checkout_params(customer, price, "payment"), unique("key"))
        assert (session["mode"], session["status"]) == ("payment", "open")
        assert session["amount_total"] == price["unit_amount"]
        gateway.client.v1.checkout.sessions.expire(session["id"])

    def test_checkout_refuses_what_stripe_refuses(self, gateway, customer):
        recurring, one_time = self.a_price(gateway, "recurring"), self.a_price(gateway, "one_time")
        with pytest.raises(UpstreamError):  # a plan in payment mode
            gateway.create_checkout_session(self.checkout_params(customer, recurring, "payment"), unique("key"))
        with pytest.raises(UpstreamError):  # a one-time price alone in subscription mode
            gateway.create_checkout_session(self.checkout_params(customer, one_time, "subscription"), unique("key"))
        with pytest.raises(NotFound):
            gateway.create_checkout_session(self.checkout_params(customer, {"id": unique("price")}, "payment"),
                                            unique("key"))
        with pytest.raises(NotFound):
            gateway.create_checkout_session(self.checkout_params({**customer, "id": unique("cus")}, one_time,
                                                                 "payment"), unique("key"))
        with pytest.raises(NotFound):
            gateway.get_checkout_session(unique("cs_test"))

    def test_checkout_refuses_an_archived_price(self, gateway, customer):
        archived = self.a_price(gateway, "recurring", active=False)
        with pytest.raises(UpstreamError):
            gateway.create_checkout_session(self.checkout_params(customer, archived, "subscription"), unique("key"))

    def test_portal_session(self, gateway, customer):
        try:
            session = gateway.create_portal_session({"customer": customer["id"],
                                                     "return_url": "https://app.tatame.example/account"})
        except UpstreamError:
            if self.live:
                pytest.skip("save the customer portal's settings in the Stripe dashboard (test mode) first")
            raise
        assert session["object"] == "billing_portal.session" and session["id"].startswith("bps_")
        assert session["customer"] == customer["id"] and session["url"].startswith("https://")
        assert session["return_url"] == "https://app.tatame.example/account"

    def test_customer_session_for_the_mobile_payment_element(self, gateway, customer):
        session = gateway.create_customer_session({"customer": customer["id"], "components": {
            "mobile_payment_element": {"enabled": True, "features": {"payment_method_save": "enabled",
                                                                     "payment_method_remove": "enabled"}}}})
        assert session["object"] == "customer_session" and session["client_secret"].startswith("cuss_secret_")
        assert session["customer"] == customer["id"] and session["expires_at"] > session["created"]

    def test_subscription_for_the_payment_sheet_waits_for_its_first_payment(self, gateway, customer):
        price, key = self.a_price(gateway, "recurring"), unique("key")
        sub = gateway.create_subscription(self.subscription_params(customer, price), key)
        assert sub["object"] == "subscription" and sub["status"] == "incomplete"
        assert sub["customer"] == customer["id"] and sub["metadata"] == customer["metadata"]
        assert (sub["cancel_at_period_end"], sub["cancel_at"], sub["canceled_at"], sub["trial_end"]) == (
            False, None, None, None)
        item = sub["items"]["data"][0]
        assert item["price"]["id"] == price["id"] and item["quantity"] == 1
        assert item["current_period_start"] == sub["created"] and item["current_period_end"] > sub["created"]
        assert "current_period_end" not in sub  # on the item, in this API version
        invoice = sub["latest_invoice"]
        assert "payment_intent" not in invoice and invoice["amount_due"] == price["unit_amount"]
        assert invoice["confirmation_secret"]["type"] == "payment_intent"
        assert invoice["confirmation_secret"]["client_secret"].startswith("pi_")
        assert "_secret_" in invoice["confirmation_secret"]["client_secret"] and sub["pending_setup_intent"] is None
        assert gateway.create_subscription(self.subscription_params(customer, price), key)["id"] == sub["id"]
        again = gateway.get_subscription(sub["id"])
        assert again["status"] == "incomplete" and again["items"]["data"][0]["price"]["object"] == "price"
        assert isinstance(again["latest_invoice"], str)

    def test_subscription_with_a_trial_saves_a_card_first(self, gateway, customer):
        price = self.a_price(gateway, "recurring")
        sub = gateway.create_subscription(self.subscription_params(customer, price, trial_period_days=7),
                                          unique("key"))
        assert sub["status"] == "trialing" and sub["trial_end"] == sub["trial_start"] + 7 * 86400
        assert sub["items"]["data"][0]["current_period_end"] == sub["trial_end"]
        setup = sub["pending_setup_intent"]
        assert setup["id"].startswith("seti_") and setup["client_secret"].startswith(setup["id"] + "_secret_")
        assert sub["latest_invoice"]["amount_due"] == 0 and sub["latest_invoice"]["confirmation_secret"] is None

    def test_cancel_at_period_end_and_resume(self, gateway, customer):
        sub = gateway.create_subscription(self.subscription_params(customer, self.a_price(gateway, "recurring")),
                                          unique("key"))
        end = sub["items"]["data"][0]["current_period_end"]
        canceling = gateway.update_subscription(sub["id"], {"cancel_at_period_end": True, "metadata": {"why": "x"}})
        assert canceling["cancel_at_period_end"] is True and canceling["cancel_at"] == end
        assert canceling["canceled_at"] is not None and canceling["status"] == sub["status"]
        assert canceling["metadata"] == {**customer["metadata"], "why": "x"}
        resumed = gateway.update_subscription(sub["id"], {"cancel_at_period_end": False})
        assert (resumed["cancel_at_period_end"], resumed["cancel_at"], resumed["canceled_at"]) == (False, None, None)
        assert gateway.get_subscription(sub["id"])["cancel_at"] is None

    def test_list_subscriptions_newest_first_by_status_and_cursor(self, gateway, customer):
        price = self.a_price(gateway, "recurring")
        made = [gateway.create_subscription(self.subscription_params(customer, price), unique("key"))["id"]
                for _ in range(2)]
        listing = gateway.list_subscriptions({"customer": customer["id"], "status": "all", "limit": 10})
        assert listing["object"] == "list" and {s["id"] for s in listing["data"]} == set(made)
        created = [s["created"] for s in listing["data"]]
        assert created == sorted(created, reverse=True)
        assert gateway.list_subscriptions({"customer": customer["id"], "status": "active", "limit": 10})["data"] == []
        first = gateway.list_subscriptions({"customer": customer["id"], "status": "incomplete", "limit": 1})
        rest = gateway.list_subscriptions({"customer": customer["id"], "status": "incomplete", "limit": 1,
                                           "starting_after": first["data"][0]["id"]})
        assert first["has_more"] is True and rest["has_more"] is False
        assert {first["data"][0]["id"], rest["data"][0]["id"]} == set(made)

    def test_list_checkout_sessions_by_customer_and_status(self, gateway, customer):
        price = self.a_price(gateway, "recurring")
        made = [gateway.create_checkout_session(self.checkout_params(customer, price, "subscription"),
                                                unique("key"))["id"] for _ in range(2)]
        gateway.expire_checkout_session(made[0])
        open_ = gateway.list_checkout_sessions({"customer": customer["id"], "status": "open", "limit": 10})
        assert open_["object"] == "list" and [s["id"] for s in open_["data"]] == [made[1]]
        assert open_["data"][0]["metadata"] == {"clerk_user_id": customer["metadata"]["clerk_user_id"]}
        every = gateway.list_checkout_sessions({"customer": customer["id"], "limit": 10})
        assert {s["id"] for s in every["data"]} == set(made)
        gateway.expire_checkout_session(made[1])

    def test_cancel_subscription_ends_it_at_once(self, gateway, customer):
        sub = gateway.create_subscription(self.subscription_params(customer, self.a_price(gateway, "recurring")),
                                          unique("key"))
        canceled = gateway.cancel_subscription(sub["id"], {"cancellation_details": {"comment": "replaced"}})
        assert canceled["id"] == sub["id"] and canceled["status"] in ("canceled", "incomplete_expired")
        assert canceled["cancellation_details"]["comment"] == "replaced"
        assert gateway.get_subscription(sub["id"])["status"] == canceled["status"]
        with pytest.raises(NotFound):
            gateway.cancel_subscription(unique("sub"))

    def test_delete_customer_ends_their_subscriptions_and_repeats_harmlessly(self, gateway, customers):
        customer = customers({"metadata": {"clerk_user_id": unique("user")}})
        sub = gateway.create_subscription(self.subscription_params(customer, self.a_price(gateway, "recurring")),
                                          unique("key"))
        assert gateway.delete_customer(customer["id"]) is True
        assert gateway.get_customer(customer["id"]) is None
        assert gateway.get_subscription(sub["id"])["status"] in ("canceled", "incomplete_expired")
        assert gateway.delete_customer(customer["id"]) is False  # already gone: an erasure cut short goes on
        assert gateway.delete_customer(unique("cus")) is False

    def test_void_invoice_makes_an_open_invoice_unpayable_and_refuses_a_paid_one(self, gateway, customer):
        price = self.a_price(gateway, "recurring")
        sub = gateway.create_subscription(self.subscription_params(customer, price), unique("key"))
        voided = gateway.void_invoice(sub["latest_invoice"]["id"])
        assert voided["id"] == sub["latest_invoice"]["id"] and voided["status"] == "void"
        with pytest.raises(UpstreamError):
            gateway.void_invoice(voided["id"])  # only an open invoice can be voided
        with pytest.raises(NotFound):
            gateway.void_invoice(unique("in"))

    def test_unknown_subscriptions_and_customers(self, gateway, customer):
        assert gateway.get_subscription(unique("sub")) is None
        with pytest.raises(NotFound):
            gateway.update_subscription(unique("sub"), {"cancel_at_period_end": True})
        price = self.a_price(gateway, "recurring")
        with pytest.raises(NotFound):
            gateway.create_subscription(self.subscription_params({**customer, "id": unique("cus")}, price),
                                        unique("key"))

    def test_payment_intent_for_a_one_time_price(self, gateway, customer):
        price, key = self.a_price(gateway, "one_time"), unique("key")
        params = {"amount": price["unit_amount"], "currency": price["currency"], "customer": customer["id"],
                  "metadata": {"price": price["id"]}, "automatic_payment_methods": {"enabled": True}}
        intent = gateway.create_payment_intent(params, key)
        assert intent["object"] == "payment_intent" and intent["id"].startswith("pi_")
        assert intent["status"] == "requires_payment_method"
        assert intent["client_secret"].startswith(intent["id"] + "_secret_")
        assert (intent["amount"], intent["currency"], intent["customer"]) == (
            price["unit_amount"], price["currency"], customer["id"])
        assert intent["metadata"] == params["metadata"]
        assert gateway.create_payment_intent(params, key)["id"] == intent["id"]

    def test_events_record_subscription_changes(self, gateway, customer):
        since = customer["created"]
        sub = gateway.create_subscription(self.subscription_params(customer, self.a_price(gateway, "recurring")),
                                          unique("key"))
        gateway.update_subscription(sub["id"], {"cancel_at_period_end": True})

        def both():  # Stripe's events can take a moment to be listed
            listing = gateway.list_events({"types": ["customer.subscription.created", "customer.subscription.updated"],
                                           "created": {"gte": since}, "limit": 100})
            found = [e for e in listing["data"] if e["data"]["object"]["id"] == sub["id"]]
            return found if len(found) >= 2 else None

        events = self.eventually(both, seconds=30 if self.live else 0)
        assert sorted(e["type"] for e in events) == ["customer.subscription.created", "customer.subscription.updated"]
        updated = next(e for e in events if e["type"] == "customer.subscription.updated")
        assert updated["object"] == "event" and updated["id"].startswith("evt_") and updated["livemode"] is False
        assert updated["data"]["object"]["cancel_at_period_end"] is True
        assert updated["data"]["previous_attributes"]["cancel_at_period_end"] is False

    # --- billing: what only the sandbox's Stripe can do (a customer paying on Stripe's side) ---------
    @sandbox_only
    def test_a_completed_checkout_makes_the_subscription(self, gateway, customer, sandbox_stripe):
        price = self.a_price(gateway, "recurring")
        params = self.checkout_params(customer, price, "subscription")
        session = gateway.create_checkout_session(params, unique("key"))
        sandbox_stripe.complete_checkout_session(session["id"])
        done = gateway.get_checkout_session(session["id"])
        assert (done["status"], done["payment_status"]) == ("complete", "paid")
        sub = gateway.get_subscription(done["subscription"])
        assert sub["status"] == "active" and sub["metadata"] == params["subscription_data"]["metadata"]
        assert sub["customer"] == customer["id"] and sub["items"]["data"][0]["price"]["id"] == price["id"]
        types = {e["type"] for e in gateway.list_events({"created": {"gte": session["created"]}, "limit": 100})["data"]}
        assert {"checkout.session.completed", "customer.subscription.created", "invoice.paid"} <= types

    @sandbox_only
    def test_paying_the_first_invoice_activates_the_subscription(self, gateway, customer, sandbox_stripe):
        sub = gateway.create_subscription(self.subscription_params(customer, self.a_price(gateway, "recurring")),
                                          unique("key"))
        sandbox_stripe.pay_invoice(sub["id"])
        assert gateway.get_subscription(sub["id"])["status"] == "active"
        latest = gateway.list_events({"types": ["invoice.paid", "customer.subscription.updated"], "limit": 2})["data"]
        assert [e["type"] for e in latest] == ["customer.subscription.updated", "invoice.paid"]
        assert latest[0]["data"]["previous_attributes"]["status"] == "incomplete"

    @sandbox_only
    def test_status_moves_and_deletion(self, gateway, customer, sandbox_stripe):
        sub = gateway.create_subscription(self.subscription_params(customer, self.a_price(gateway, "recurring")),
                                          unique("key"))
        sandbox_stripe.pay_invoice(sub["id"])
        sandbox_stripe.set_subscription_status(sub["id"], "past_due")
        assert gateway.get_subscription(sub["id"])["status"] == "past_due"
        sandbox_stripe.delete_subscription(sub["id"])
        gone = gateway.get_subscription(sub["id"])
        assert gone["status"] == "canceled" and gone["ended_at"] is not None
        assert gateway.list_subscriptions({"customer": customer["id"], "limit": 10})["data"] == []
        canceled = gateway.list_subscriptions({"customer": customer["id"], "status": "canceled"})["data"]
        assert [s["id"] for s in canceled] == [sub["id"]]
        deleted = gateway.list_events({"types": ["customer.subscription.deleted"], "limit": 1})["data"][0]
        assert deleted["data"]["object"]["id"] == sub["id"]

    # --- entitlements: the features a customer's subscriptions unlock -----------------------------
    def test_a_new_customer_has_no_active_entitlements(self, gateway, customer):
        assert gateway.list_active_entitlements(customer["id"]) == []

    @sandbox_only
    def test_active_entitlements_follow_the_subscription(self, gateway, customer, sandbox_stripe):
        price = gateway.get_price("price_demo_unlimited_monthly")
        sub = gateway.create_subscription(self.subscription_params(customer, price), unique("key"))
        assert gateway.list_active_entitlements(customer["id"]) == []  # incomplete: nothing yet
        sandbox_stripe.pay_invoice(sub["id"])
        active = gateway.list_active_entitlements(customer["id"])
        assert [e["lookup_key"] for e in active] == ["all_classes", "open_mat", "private_lessons"]
        assert all(e["object"] == "entitlements.active_entitlement" and e["id"].startswith("ent_")
                   and e["feature"].startswith("feat_") for e in active)
        summary = gateway.list_events({"types": ["entitlements.active_entitlement_summary.updated"],
                                       "limit": 1})["data"][0]["data"]["object"]
        assert summary["object"] == "entitlements.active_entitlement_summary"
        assert summary["customer"] == customer["id"] and summary["entitlements"]["data"] == active
        sandbox_stripe.delete_subscription(sub["id"])
        assert gateway.list_active_entitlements(customer["id"]) == []
        latest = gateway.list_events({"limit": 1})["data"][0]
        assert latest["type"] == "entitlements.active_entitlement_summary.updated"
        assert latest["data"]["object"]["entitlements"]["data"] == []
    # --- payment history: invoices and one-time payments -------------------------------------------
    def test_an_open_invoice_reads_and_lists_by_customer(self, gateway, customer):
        sub = gateway.create_subscription(self.subscription_params(customer, self.a_price(gateway, "recurring")),
                                          unique("key"))
        invoice_id = sub["latest_invoice"] if isinstance(sub["latest_invoice"], str) else sub["latest_invoice"]["id"]
        invoice = gateway.get_invoice(invoice_id)
        assert invoice["object"] == "invoice" and invoice["status"] == "open" and invoice["customer"] == customer["id"]
        assert invoice["number"] and invoice["hosted_invoice_url"] and invoice["invoice_pdf"]
        assert invoice["parent"]["subscription_details"]["subscription"] == sub["id"]
        line = invoice["lines"]["data"][0]
        assert line["pricing"]["price_details"]["price"] and line["period"]["end"] >= line["period"]["start"]
        listing = gateway.list_invoices({"customer": customer["id"], "limit": 10})
        assert [i["id"] for i in listing["data"]] == [invoice_id] and listing["has_more"] is False
        assert gateway.get_invoice(unique("in")) is None

    def test_payment_intents_read_with_their_latest_charge_and_list_by_customer(self, gateway, customer):
        price = self.a_price(gateway, "one_time")
        params = {"amount": price["unit_amount"], "currency": price["currency"], "customer": customer["id"],
                  "metadata": {"price_id": price["id"]}, "automatic_payment_methods": {"enabled": True}}
        intents = [gateway.create_payment_intent(params, unique("key")) for _ in range(2)]
        read = gateway.get_payment_intent(intents[0]["id"])
        assert (read["id"], read["latest_charge"], read["metadata"]) == (intents[0]["id"], None, params["metadata"])
        first = gateway.list_payment_intents({"customer": customer["id"], "limit": 1})
        assert first["has_more"] is True and len(first["data"]) == 1
        rest = gateway.list_payment_intents({"customer": customer["id"], "limit": 1,
                                             "starting_after": first["data"][0]["id"]})
        assert {first["data"][0]["id"], rest["data"][0]["id"]} == {i["id"] for i in intents}
        assert gateway.get_payment_intent(unique("pi")) is None

    @sandbox_only
    def test_a_paid_intent_has_a_charge_with_a_receipt_and_a_refund_is_an_event(self, gateway, customer,
                                                                               sandbox_stripe):
        price = self.a_price(gateway, "one_time")
        intent = gateway.create_payment_intent(
            {"amount": price["unit_amount"], "currency": price["currency"], "customer": customer["id"],
             "metadata": {"clerk_user_id": "user_contract"}}, unique("key"))
        sandbox_stripe.succeed_payment_intent(intent["id"])
        paid = gateway.get_payment_intent(intent["id"])
        charge = paid["latest_charge"]
        assert paid["status"] == "succeeded" and charge["object"] == "charge"
        assert charge["payment_intent"] == intent["id"] and charge["paid"] is True and charge["receipt_url"]
        assert charge["amount"] == price["unit_amount"] and charge["refunded"] is False
        listed = gateway.list_payment_intents({"customer": customer["id"]})["data"][0]
        assert listed["latest_charge"]["id"] == charge["id"]
        sandbox_stripe.refund_charge(charge["id"])
        assert gateway.get_payment_intent(intent["id"])["latest_charge"]["refunded"] is True
        types = [e["type"] for e in gateway.list_events({"types": ["charge.succeeded", "charge.refunded"],
                                                          "limit": 2})["data"]]
        assert types == ["charge.refunded", "charge.succeeded"]
