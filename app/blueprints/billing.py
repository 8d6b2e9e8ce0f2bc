"""/stripe billing routes (docs/billing.md): membership, checkout, portal, payment sheet, cancel, resume, payment
history. Clerk only."""

from flask import Blueprint, g

from app.auth import calls_stripe, protect_with_clerk
from app.services_container import services
from app.routing import Reply, endpoint
from app.schemas.billing import (CheckoutBody, CheckoutReply, CheckoutStatusReply, InvoiceList, InvoiceListQuery,
                                 MembershipReply, NoBody, PaymentSheetBody, PaymentSheetReply, PortalBody, PortalReply,
                                 SubscriptionReply)
from app.schemas.common import NoQuery
from app.services.errors import (CustomerInProgress, NotFound, PurchaseInProgress, ServiceUnavailable,
                                 SubscriptionExists, UpstreamError)

bp = protect_with_clerk(Blueprint("billing", __name__, url_prefix="/stripe"))
BUYING = (NotFound, SubscriptionExists, PurchaseInProgress, CustomerInProgress, UpstreamError, ServiceUnavailable)


def _made(result) -> Reply:
    data, created = result
    return Reply({"data": data, "created": created}, 201 if created else 200)


@endpoint(bp, "GET", "/subscription", query=NoQuery, response=MembershipReply, errors=(ServiceUnavailable,))
def membership(query):
    """The caller's membership, from the database (never a Stripe call)."""
    return {"data": services().billing.membership(g.clerk_user_id)}


@endpoint(bp, "GET", "/invoices", query=InvoiceListQuery, response=InvoiceList, errors=(ServiceUnavailable,))
def invoices(query):
    """The caller's invoices and one-time payments, newest first, from the database (never a Stripe call)."""
    return services().payments.page(g.clerk_user_id, **query)


@endpoint(bp, "POST", "/checkout-session", query=NoQuery, body=CheckoutBody, response=CheckoutReply,
          status=201, also=(200,), errors=BUYING)
@calls_stripe(purchase=True)
def start_checkout(query, body):
    """A Stripe Checkout session for a price (201), or the open one of an earlier tap (200)."""
    return _made(services().billing.start_checkout(g.clerk_user_id, **body))


@endpoint(bp, "GET", "/checkout-session/<raw_id:session_id>", ids=("session_id",), query=NoQuery,
          response=CheckoutStatusReply, errors=(NotFound, UpstreamError, ServiceUnavailable))
@calls_stripe()
def checkout_status(session_id, query):
    """Where the caller's checkout session stands; another user's is a 404."""
    return {"data": services().billing.checkout_status(g.clerk_user_id, session_id)}


@endpoint(bp, "POST", "/portal-session", query=NoQuery, body=PortalBody, response=PortalReply, status=201,
          errors=(CustomerInProgress, UpstreamError, ServiceUnavailable))
@calls_stripe(purchase=True)
def open_portal(query, body):
    """Stripe's customer portal for the caller's customer."""
    return Reply({"data": services().billing.open_portal(g.clerk_user_id, **body)}, 201)


@endpoint(bp, "POST", "/payment-sheet", query=NoQuery, body=PaymentSheetBody, response=PaymentSheetReply,
          status=201, also=(200,), errors=BUYING)
@calls_stripe(purchase=True)
def payment_sheet(query, body):
    """What the mobile app's PaymentSheet needs for a price (201), or the incomplete one of an earlier tap (200)."""
    return _made(services().billing.payment_sheet(g.clerk_user_id, **body))


@endpoint(bp, "POST", "/subscription/cancel", query=NoQuery, body=NoBody, response=SubscriptionReply,
          errors=(NotFound, UpstreamError, ServiceUnavailable))
@calls_stripe(purchase=True)
def cancel(query, body):
    """Cancel the caller's subscription at the end of its period."""
    return {"data": services().billing.cancel(g.clerk_user_id)}


@endpoint(bp, "POST", "/subscription/resume", query=NoQuery, body=NoBody, response=SubscriptionReply,
          errors=(NotFound, UpstreamError, ServiceUnavailable))
@calls_stripe(purchase=True)
def resume(query, body):
    """Undo a scheduled cancellation."""
    return {"data": services().billing.resume(g.clerk_user_id)}
