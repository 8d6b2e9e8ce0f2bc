"""The sandbox's Stripe: Stripe's REST API for the calls we make, answered as Stripe answers them.

`SandboxStripe.handle(method, path, params, headers)` takes a request as the stripe SDK sends it
(form-encoded parameters: the query string of a GET or DELETE, the body of a POST) and returns
(status, JSON body) as Stripe would for the pinned API version. Three adapters put it where a
Stripe client looks for Stripe: in process for development (sandbox/in_process.py), `responses`
callbacks for tests, and a real HTTP server for gunicorn tests and benchmarks (both under tests/).

Resources live one module each, with a ROUTES table of (method, path, handler); a handler takes
(fake, params, *path ids) and returns the object or raises a StripeFault. Every change records
the event Stripe would send (GET /v1/events). What only a test can do, a customer paying on
Stripe's side, is a method here (`complete_checkout_session`, `pay_invoice`, ...).
"""

from __future__ import annotations

import re
import secrets
import time
from pathlib import Path
from typing import Callable, Mapping

from sandbox.stripe import (billing_portal, cascades, catalog, charges, checkout, clock, confirm, customer_sessions,
                            customers, entitlements, events, invoices, payment_intents, plan_switch, setup_intents,
                            subscriptions)
from sandbox.stripe.catalog import DEFAULT_CATALOG, Catalog
from sandbox.stripe.faults import StripeFault, idempotency_reused, missing, unrecognized
from sandbox.stripe.forms import canonical, decode
from sandbox.stripe.state import State

API_VERSION = "2026-10-28.endive"
RESOURCES = (catalog, customers, cascades, checkout, billing_portal, customer_sessions, subscriptions, invoices,
             payment_intents, charges, setup_intents, entitlements, events)


def _compile(path: str) -> re.Pattern:
    return re.compile("^" + re.sub(r"\\\{id\\\}", r"([^/]+)", re.escape(path)) + "$")


ROUTES = [(method, _compile(path), handler) for module in RESOURCES for method, path, handler in module.ROUTES]


class SandboxStripe:
    """Stripe's API over a fixture catalog and a SQLite state (a file shared by processes, or memory)."""

    api_version = API_VERSION

    def __init__(self, path: str | None = None, *, catalog_source: Path | dict = DEFAULT_CATALOG,
                 clock: Callable[[], float] = time.time, page_base: str | None = None):
        self.state = State(path)
        # Where its Checkout and portal URLs point: the app's local pages in development (sandbox/blueprint.py);
        # None keeps the `.invalid` URLs that lead nowhere.
        self.page_base = page_base.rstrip("/") if page_base else None
        self.catalog = Catalog(catalog_source)
        self.clock = clock
        self.search_lags = False  # tests: Stripe's search index still lists deleted objects

    def now(self) -> int:
        """Unix seconds by the sandbox's clock (what `created` says): real time plus what `make clock` added."""
        return int(self.clock()) + self.offset

    @property
    def offset(self) -> int:
        """Seconds the clock was moved forward; in the state, so every worker on the file sees the same time."""
        return int(self.state.setting("clock_offset", "0"))

    def set_now(self, moment: int) -> None:
        """Move the clock to `moment` (never back: Stripe's test clocks only go forward)."""
        self.state.set_setting("clock_offset", str(max(self.offset, moment - int(self.clock()))))

    @property
    def declines(self) -> bool:
        """The decline switch: while on, every charge fails as a declined card would."""
        return self.state.setting("decline", "0") == "1"

    @declines.setter
    def declines(self, value: bool) -> None:
        self.state.set_setting("decline", "1" if value else "0")

    @staticmethod
    def new_id(prefix: str) -> str:
        """A fresh id like Stripe's (`cus_demo_...`: the sandbox's ids say they are not Stripe's)."""
        return f"{prefix}_demo_{secrets.token_hex(7)}"

    def resolve(self, type_: str, object_id: str) -> dict | None:
        """The object of a type by id (catalog or state), for expansion; None when unknown."""
        found = self.catalog.get(type_, object_id)
        if found is None:
            stored = self.state.get(object_id)
            found = stored[0] if stored and stored[0]["object"] == type_ and not stored[1] else None
        return found

    def require(self, type_: str, object_id: str) -> dict:
        """The object of a type by id, or Stripe's 404 `resource_missing` for it."""
        found = self.resolve(type_, object_id)
        if found is None:
            raise missing(type_, object_id)
        return found

    def subscriptions_changed(self, customer_id: str) -> None:
        """After any subscription event: Stripe's entitlement summary event, when the customer's features changed."""
        entitlements.record_summary_if_changed(self, customer_id)

    # --- test hooks: what a customer (or the dashboard) does on Stripe's side; each records Stripe's events ----
    def complete_checkout_session(self, session_id: str) -> dict:
        """The customer paid on the Checkout page: its subscription (or payment) is made, the session complete."""
        return checkout.complete(self, session_id)

    def expire_checkout_session(self, session_id: str) -> dict:
        """The session expires (as after 24 h, or POST .../expire)."""
        return checkout.expire(self, {}, session_id)

    def pay_invoice(self, subscription_id: str) -> dict:
        """The payment sheet confirmed: the latest invoice is paid, an incomplete or past_due subscription active."""
        return subscriptions.pay_latest_invoice(self, subscription_id)

    def fail_invoice(self, subscription_id: str) -> dict:
        """A payment attempt on the latest invoice failed: invoice.payment_failed; active becomes past_due."""
        return subscriptions.fail_latest_invoice(self, subscription_id)

    def set_subscription_status(self, subscription_id: str, status: str) -> dict:
        """Any status (past_due, unpaid, paused, ...), with customer.subscription.updated (and paused/resumed)."""
        return subscriptions.set_status(self, subscription_id, status)

    def delete_subscription(self, subscription_id: str) -> dict:
        """Canceled at once, as from the dashboard: customer.subscription.deleted."""
        return subscriptions.cancel(self, {}, subscription_id)

    def switch_subscription_price(self, subscription_id: str, price_id: str) -> dict:
        """The customer changed plan in the portal: the item's price changes, customer.subscription.updated."""
        return plan_switch.switch_price(self, subscription_id, price_id)

    def succeed_payment_intent(self, intent_id: str) -> dict:
        """A one-time payment made with the payment sheet succeeded: payment_intent.succeeded."""
        return payment_intents.succeed(self, intent_id)

    def refund_charge(self, charge_id: str) -> dict:
        """The whole charge refunded, as from the dashboard: charge.refunded."""
        return charges.refund(self, charge_id)

    def advance_clock(self, seconds: int) -> list[str]:
        """Move the clock forward, doing in time order what Stripe would have done meanwhile (clock.py)."""
        return clock.advance(self, seconds)

    def confirm_intent(self, client_secret: str) -> str:
        """The payment sheet confirmed with a test card (declined while `declines` is on); what happened."""
        return confirm.confirm(self, client_secret)

    def events(self, type_: str | None = None) -> list[dict]:
        """Every event recorded and still kept, oldest first (optionally of one type)."""
        return [event for event, _ in self.state.all("event") if type_ is None or event["type"] == type_]

    def handle(self, method: str, path: str, params: str | bytes | None,
               headers: Mapping[str, str] | None = None) -> tuple[int, dict]:
        """Answer one API request: (status, JSON body)."""
        headers = {name.lower(): value for name, value in (headers or {}).items()}
        method = method.upper()
        try:
            self._check_headers(headers)
            handler, ids = self._route(method, path)
            decoded = decode(params)
            key = headers.get("idempotency-key") if method == "POST" else None
            if key is None:
                return 200, handler(self, decoded, *ids)
            return self._idempotent(key, canonical({"method": method, "path": path, "params": decoded}),
                                    lambda: handler(self, decoded, *ids))
        except StripeFault as fault:
            return fault.answer()

    @staticmethod
    def _check_headers(headers: dict) -> None:
        key = headers.get("authorization", "").removeprefix("Bearer ").strip()
        if not key.startswith(("sk_test_", "rk_test_")):
            raise StripeFault(401, "You did not provide a test-mode API key: the sandbox takes sk_test_ keys only.")
        version = headers.get("stripe-version")
        if version is not None and version != API_VERSION:
            raise StripeFault(400, f"The sandbox's Stripe answers as API version {API_VERSION}, not {version}.",
                              param="Stripe-Version")

    @staticmethod
    def _route(method: str, path: str):
        for route_method, pattern, handler in ROUTES:
            match = pattern.match(path)
            if match and route_method == method:
                return handler, match.groups()
        raise unrecognized(method, path)

    def _idempotent(self, key: str, request: str, run) -> tuple[int, dict]:
        # One writer at a time: a second request with the key waits, then gets the first one's answer.
        with self.state.transaction():
            earlier = self.state.remembered(key)
            if earlier is not None:
                if earlier[0] != request:
                    raise idempotency_reused(key)
                return earlier[1], earlier[2]
            body = run()  # a StripeFault (a refused request) is not remembered: a retry may succeed
            self.state.remember(key, request, 200, body, self.clock())
            return 200, body
