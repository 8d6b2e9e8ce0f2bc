"""What the local Checkout and portal pages show (sandbox/blueprint.py), read from the sandbox's Stripe. No Flask."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone

from sandbox.stripe import checkout, subscriptions

SYMBOLS = {"brl": "R$", "usd": "$", "eur": "€", "gbp": "£"}
# Stripe's zero-decimal currencies: their amounts are whole units, not cents.
ZERO_DECIMAL = {"bif", "clp", "djf", "gnf", "jpy", "kmf", "krw", "mga", "pyg", "rwf", "ugx", "vnd", "vuv", "xaf",
                "xof", "xpf"}


def money(amount: int | None, currency: str) -> str:
    """`24900, "brl"` → "R$ 249.00"; an unknown currency by its code ("CHF 12.50")."""
    amount = amount or 0
    text = f"{amount:,}" if currency in ZERO_DECIMAL else f"{amount / 100:,.2f}"
    return f"{SYMBOLS.get(currency, currency.upper())} {text}"


def price_label(price: dict, quantity: int = 1) -> str:
    """"R$ 249.00 / month", "R$ 429.00 every 3 months", "R$ 99.00 once"."""
    amount = money(price["unit_amount"] * quantity, price["currency"])
    recurring = price.get("recurring")
    if not recurring:
        return f"{amount} once"
    interval, count = recurring["interval"], recurring["interval_count"]
    return f"{amount} / {interval}" if count == 1 else f"{amount} every {count} {interval}s"


def when(timestamp: int | None) -> str:
    """A Unix time as a date in UTC ("3 Mar 2027"), or an empty string."""
    if not timestamp:
        return ""
    moment = datetime.fromtimestamp(timestamp, timezone.utc)
    return f"{moment.day} {moment:%b %Y}"


def _product_name(fake, price: dict) -> str:
    product = price["product"] if isinstance(price["product"], dict) else fake.catalog.get("product", price["product"])
    return product["name"] if product else price["product"]


@dataclass
class Line:
    name: str
    price: str
    quantity: int
    recurring: bool


@dataclass
class CheckoutView:
    id: str
    status: str               # open, complete or expired
    mode: str
    lines: list[Line]
    trial_days: int | None
    due_today: str
    success_url: str | None
    cancel_url: str | None
    customer_email: str | None

    @property
    def open(self) -> bool:
        return self.status == "open"


def checkout_view(fake, session_id: str) -> CheckoutView:
    """The session (expired first when its time has passed, as Stripe does); a StripeFault when unknown."""
    public = checkout.retrieve(fake, {}, session_id)
    kept = fake.resolve("checkout.session", session_id)  # with what it will make when paid (hidden by the API)
    lines = []
    for price_id, quantity in kept["_lines"]:
        price = fake.catalog.get("price", price_id)
        lines.append(Line(_product_name(fake, price), price_label(price, quantity), quantity,
                          price["type"] == "recurring"))
    customer = fake.resolve("customer", public["customer"]) if public["customer"] else None
    return CheckoutView(id=session_id, status=public["status"], mode=public["mode"], lines=lines,
                        trial_days=kept.get("_trial_days"), due_today=money(public["amount_total"], public["currency"]),
                        success_url=public["success_url"], cancel_url=public["cancel_url"],
                        customer_email=customer and customer.get("email"))


@dataclass
class PortalView:
    id: str
    customer: dict
    return_url: str | None
    subscription: dict | None        # the current one: the newest not ended, else the newest
    plan: str = ""
    plans: list[dict] = field(default_factory=list)  # what the member may switch to: {"id", "name", "price"}

    @property
    def changeable(self) -> bool:
        return self.subscription is not None and self.subscription["status"] not in subscriptions.ENDED


def portal_view(fake, session_id: str) -> PortalView | None:
    """The portal session's customer and subscription, and the plans on offer; None for an unknown session."""
    session = fake.resolve("billing_portal.session", session_id)
    customer = session and fake.resolve("customer", session["customer"])
    if customer is None:
        return None
    found = subscriptions.list_subscriptions(fake, {"customer": customer["id"], "status": "all", "limit": "100"})
    ranked = sorted(found["data"], key=lambda s: s["status"] in subscriptions.ENDED)  # stable: newest first within
    current = ranked[0] if ranked else None
    view = PortalView(id=session_id, customer=customer, return_url=session["return_url"], subscription=current)
    if current is not None:
        item = current["items"]["data"][0]["price"]
        view.plan = f"{_product_name(fake, item)}, {price_label(item)}"
        # The portal offers the catalog's active plans in the subscription's currency (Stripe's portal
        # configuration lists products; these are the academy's).
        view.plans = [{"id": p["id"], "name": _product_name(fake, p), "price": price_label(p)}
                      for p in fake.catalog.prices
                      if p["active"] and p["type"] == "recurring" and p["currency"] == current["currency"]
                      and p["id"] != item["id"]]
    return view
