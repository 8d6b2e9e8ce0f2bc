"""/stripe: the plan catalog and the user's customer. Every route needs a Clerk token."""

from flask import Blueprint, g

from app.auth import calls_stripe, protect_with_clerk
from app.services_container import services
from app.metrics import CATALOG_CACHE
from app.routing import Reply, endpoint
from app.services.catalog_cache import HIT, MISS, STALE
from app.schemas.catalog import PriceList, PriceListQuery, PriceReply, ProductList, ProductListQuery, ProductReply
from app.schemas.common import NoQuery
from app.schemas.customer import CustomerBody, CustomerReply
from app.services.errors import CustomerInProgress, NotFound, ServiceUnavailable, UpstreamError

bp = protect_with_clerk(Blueprint("stripe", __name__, url_prefix="/stripe"))
CACHE_HEADER = {"X-Cache": "HIT, MISS or STALE: whether the catalog cache answered, or a stale copy while Stripe fails",
                "ETag": "A strong validator of this body: send it back in If-None-Match to get a 304 when unchanged",
                "Cache-Control": "private, no-cache: keep it, but ask again (with If-None-Match) before using it"}
CATALOG_ERRORS = (UpstreamError,)
CATALOG_RESULTS = {result: CATALOG_CACHE.labels(result) for result in (HIT, MISS, STALE)}


def _cached(result, *query) -> Reply:
    """A catalog answer: the same snapshot and query always encode to the same body (sent with an ETag)."""
    CATALOG_RESULTS[result.cache].inc()
    return Reply(result, headers={"X-Cache": result.cache}, memo=(result.snapshot, *query))


@endpoint(bp, "GET", "/products", query=ProductListQuery, response=ProductList, also=(304,), errors=CATALOG_ERRORS,
          headers=CACHE_HEADER)
def list_products(query):
    """List the academy's plans (Stripe products), newest first."""
    return _cached(services().catalog.list_products(**query), *sorted(query.items()))


# <raw_id:...> takes anything (slashes, newlines) so that every bad id reaches validation: a 400, not a 404.
@endpoint(bp, "GET", "/products/<raw_id:product_id>", ids=("product_id",), query=NoQuery, response=ProductReply, also=(304,),
          errors=(NotFound, *CATALOG_ERRORS), headers=CACHE_HEADER)
def get_product(product_id, query):
    """One product, with its default price."""
    return _cached(services().catalog.get_product(product_id), product_id)


@endpoint(bp, "GET", "/prices", query=PriceListQuery, response=PriceList, also=(304,), errors=CATALOG_ERRORS,
          headers=CACHE_HEADER)
def list_prices(query):
    """List prices, newest first; filter by product or type."""
    return _cached(services().catalog.list_prices(**query), *sorted(query.items()))


@endpoint(bp, "GET", "/prices/<raw_id:price_id>", ids=("price_id",), query=NoQuery, response=PriceReply, also=(304,),
          errors=(NotFound, *CATALOG_ERRORS), headers=CACHE_HEADER)
def get_price(price_id, query):
    """One price, with its product."""
    return _cached(services().catalog.get_price(price_id), price_id)


@endpoint(bp, "POST", "/customer", query=NoQuery, body=CustomerBody, response=CustomerReply, status=201, also=(200,),
          errors=(CustomerInProgress, UpstreamError, ServiceUnavailable))
@calls_stripe()
def get_or_create_customer(query, body):
    """The caller's Stripe customer: created the first time (201), the same one after (200)."""
    customer, created = services().customers.get_or_create(g.clerk_user_id, **body)
    return Reply({"data": customer, "created": created}, 201 if created else 200)
