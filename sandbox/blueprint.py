"""/dev: local pages in place of Stripe's Checkout and customer portal, over the sandbox's Stripe.

`pages(sandbox_stripe)` makes the blueprint; the sandbox's composition (sandbox/compose.py) hands it to
create_app only when billing runs on the sandbox's Stripe, so a production app has no such route. The
pages drive the sandbox's Stripe through its test hooks, as a customer on Stripe's pages would; it then
records the events Stripe would send. Plain views, not @endpoint: they answer HTML, and are not part of
the API's OpenAPI document.
"""

from __future__ import annotations

import re

from flask import Blueprint, current_app, redirect, render_template, request, url_for

from app.auth import public
from sandbox.pages import checkout_view, portal_view, when
from sandbox.stripe import SandboxStripe, subscriptions
from sandbox.stripe.faults import StripeFault

EXTENSION = "sandbox.stripe"  # where the blueprint keeps its SandboxStripe on the app it is registered on
VIEWS: list[tuple[str, str, object]] = []  # (rule, method, view), in the order below
SANE_ID = re.compile(r"[A-Za-z0-9_]{1,255}")
NOTICES = {"canceled": "Your plan will end at the end of the current period.",
           "resumed": "Your plan will renew.", "switched": "Your plan was changed."}


def pages(sandbox_stripe: SandboxStripe) -> Blueprint:
    """The /dev blueprint over `sandbox_stripe` (what its pages read and drive)."""
    bp = public(Blueprint("dev", __name__, url_prefix="/dev", template_folder="templates"))
    bp.add_app_template_filter(when, "when")  # dates of periods, in UTC
    bp.record_once(lambda state: state.app.extensions.__setitem__(EXTENSION, sandbox_stripe))
    for rule, method, view in VIEWS:
        bp.add_url_rule(rule, view_func=view, methods=[method])
    return bp


def _view(method: str, rule: str):
    def add(view):
        VIEWS.append((rule, method, view))
        return view
    return add


def _sandbox_stripe() -> SandboxStripe:
    return current_app.extensions[EXTENSION]


def _page(template: str, status: int = 200, **context):
    return render_template(f"dev/{template}", **context), status, {"Content-Type": "text/html; charset=utf-8"}


def _missing(kind: str):
    return _page("missing.html", 404, kind=kind)


# --- Checkout ----------------------------------------------------------------------------------------------
def _checkout(session_id: str):
    """The session as the page shows it, or None when the id is malformed or unknown."""
    if not SANE_ID.fullmatch(session_id):
        return None
    try:
        return checkout_view(_sandbox_stripe(), session_id)
    except StripeFault:
        return None


@_view("GET", "/checkout/<session_id>")
def checkout_page(session_id: str):
    """The plan, its price and trial, and the buttons of Stripe's Checkout page."""
    view = _checkout(session_id)
    return _page("checkout.html", view=view) if view else _missing("checkout session")


@_view("POST", "/checkout/<session_id>/pay")
def pay(session_id: str):
    """Pay with a test card: the session completes, then back to its success_url as Stripe sends the member."""
    view = _checkout(session_id)
    if view is None:
        return _missing("checkout session")
    try:
        _sandbox_stripe().complete_checkout_session(session_id)
    except StripeFault as fault:  # expired or paid meanwhile: show where it stands now
        return _page("checkout.html", 409, view=checkout_view(_sandbox_stripe(), session_id), error=str(fault))
    if not view.success_url:
        return redirect(url_for("dev.checkout_page", session_id=session_id), 303)
    return redirect(view.success_url.replace("{CHECKOUT_SESSION_ID}", session_id), 303)


@_view("POST", "/checkout/<session_id>/decline")
def decline(session_id: str):
    """A declined test card: the session stays open, and the page says so."""
    view = _checkout(session_id)
    if view is None:
        return _missing("checkout session")
    return _page("checkout.html", 402, view=view, error="Your card was declined." if view.open else None)


# --- the customer portal -----------------------------------------------------------------------------------
def _portal(session_id: str):
    if not SANE_ID.fullmatch(session_id):
        return None
    return portal_view(_sandbox_stripe(), session_id)


@_view("GET", "/portal/<session_id>")
def portal_page(session_id: str):
    """The customer's subscription, and what Stripe's portal offers: cancel, resume, switch plan."""
    view = _portal(session_id)
    if view is None:
        return _missing("portal session")
    return _page("portal.html", view=view, notice=NOTICES.get(request.args.get("done", "")))


def _change(session_id: str, action, done: str):
    """Apply `action(sandbox_stripe, subscription_id)` to the session's current subscription, then show the portal."""
    view = _portal(session_id)
    if view is None:
        return _missing("portal session")
    if view.subscription is None or not view.changeable:
        return _page("portal.html", 409, view=view, error="There is no subscription to change.")
    try:
        action(_sandbox_stripe(), view.subscription["id"])
    except StripeFault as fault:
        return _page("portal.html", 400, view=_portal(session_id), error=str(fault))
    return redirect(url_for("dev.portal_page", session_id=session_id, done=done), 303)


def _set_cancel(at_period_end: bool):
    def act(fake, subscription_id: str):
        subscriptions.update(fake, {"cancel_at_period_end": "true" if at_period_end else "false"}, subscription_id)
    return act


@_view("POST", "/portal/<session_id>/cancel")
def cancel(session_id: str):
    """Cancel at the end of the period, as the portal's cancel does by default."""
    return _change(session_id, _set_cancel(True), "canceled")


@_view("POST", "/portal/<session_id>/resume")
def resume(session_id: str):
    """Undo a scheduled cancel."""
    return _change(session_id, _set_cancel(False), "resumed")


@_view("POST", "/portal/<session_id>/switch")
def switch(session_id: str):
    """Switch to another of the plans the portal offers (the form names its price)."""
    view = _portal(session_id)
    if view is None:
        return _missing("portal session")
    price_id = request.form.get("price", "")
    if price_id not in {plan["id"] for plan in view.plans}:
        return _page("portal.html", 400, view=view, error="Choose one of the plans offered.")
    return _change(session_id, lambda fake, sub_id: fake.switch_subscription_price(sub_id, price_id), "switched")
