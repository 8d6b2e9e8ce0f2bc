"""/stripe: the plan catalog and the user's customer. Every route needs a Clerk token."""

from flask import Blueprint, g, request

from app.auth import protect_with_clerk
from app.extensions import services
from app.schemas.catalog import ListResponse, ObjectResponse, PriceListQuery, ProductListQuery
from app.schemas.common import NoQuery, load, load_query, validate_id
from app.schemas.customer import CustomerBody, CustomerResponse
from app.http import json_body

bp = protect_with_clerk(Blueprint("stripe", __name__, url_prefix="/stripe"))

# Schemas hold no per-request state: build each once (a Schema() costs more than a cached read).
PRODUCT_QUERY, PRICE_QUERY, NO_QUERY = ProductListQuery(), PriceListQuery(), NoQuery()
LIST, OBJECT, CUSTOMER_BODY, CUSTOMER = ListResponse(), ObjectResponse(), CustomerBody(), CustomerResponse()


@bp.before_request
def limit_per_user():
    if request.method != "OPTIONS":
        services().rate_limiter.hit("user", g.clerk_user_id)


@bp.get("/products")
def list_products():
    page = services().catalog.list_products(**load_query(PRODUCT_QUERY, request.args))
    return LIST.dump(page), 200, {"X-Cache": page.cache}


# <raw_id:...> takes anything (slashes, newlines) so that every bad id reaches validation: a 400, not a 404.
@bp.get("/products/<raw_id:product_id>")
def get_product(product_id: str):
    load_query(NO_QUERY, request.args)
    item = services().catalog.get_product(validate_id(product_id))
    return OBJECT.dump(item), 200, {"X-Cache": item.cache}


@bp.get("/prices")
def list_prices():
    page = services().catalog.list_prices(**load_query(PRICE_QUERY, request.args))
    return LIST.dump(page), 200, {"X-Cache": page.cache}


@bp.get("/prices/<raw_id:price_id>")
def get_price(price_id: str):
    load_query(NO_QUERY, request.args)
    item = services().catalog.get_price(validate_id(price_id))
    return OBJECT.dump(item), 200, {"X-Cache": item.cache}


@bp.post("/customer")
def get_or_create_customer():
    load_query(NO_QUERY, request.args)
    body = load(CUSTOMER_BODY, json_body())
    customer, created = services().customers.get_or_create(g.clerk_user_id, **body)
    return CUSTOMER.dump({"data": customer, "created": created}), 201 if created else 200
