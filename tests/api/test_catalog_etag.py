"""Catalog answers are encoded once, carry a strong ETag, and revalidate with 304."""

from tests.conftest import make_event


def test_the_same_query_gets_the_same_bytes_and_etag(client, auth_headers, sandbox_stripe):
    first = client.get("/stripe/products?limit=3", headers=auth_headers())
    again = client.get("/stripe/products?limit=3", headers=auth_headers("someone_else"))
    assert first.status_code == again.status_code == 200
    assert first.data == again.data and first.headers["ETag"] == again.headers["ETag"]
    assert first.headers["ETag"].startswith('"') and first.headers["Cache-Control"] == "private, no-cache"
    assert first.json["count"] == 3  # clients that send nothing conditional get the same bodies as before
    other = client.get("/stripe/products?limit=2", headers=auth_headers())
    assert other.headers["ETag"] != first.headers["ETag"]


def test_if_none_match_gets_a_304_without_a_body(client, auth_headers, sandbox_stripe):
    first = client.get("/stripe/prices/price_demo_enrolment", headers=auth_headers())
    etag = first.headers["ETag"]
    revalidated = client.get("/stripe/prices/price_demo_enrolment", headers={**auth_headers(), "If-None-Match": etag})
    assert revalidated.status_code == 304 and revalidated.data == b""
    assert revalidated.headers["ETag"] == etag and revalidated.headers["X-Request-ID"]
    stale_tag = client.get("/stripe/prices/price_demo_enrolment", headers={**auth_headers(), "If-None-Match": '"x"'})
    assert stale_tag.status_code == 200 and stale_tag.data == first.data


def test_if_none_match_in_any_form_that_names_the_etag_gets_a_304(client, auth_headers, sandbox_stripe):
    """The tag alone is recognised as it is; a list of tags or `*` is parsed, as HTTP allows."""
    etag = client.get("/stripe/products", headers=auth_headers()).headers["ETag"]
    for given, status in ((etag, 304), (f'"other", {etag}', 304), ("*", 304), (f"{etag} ", 304),
                          ('"other", "more"', 200), ("", 200), (etag[:-1], 200)):
        answer = client.get("/stripe/products", headers={**auth_headers(), "If-None-Match": given})
        assert answer.status_code == status, given
        assert answer.headers["ETag"] == etag


def test_a_catalog_change_changes_the_etag(client, auth_headers, sandbox_stripe, signed_webhook, app):
    before = client.get("/stripe/products?limit=100", headers=auth_headers())
    # The dashboard archives a plan; Stripe says so with product.updated.
    product = sandbox_stripe.fake.catalog.by_id["prod_demo_kids"]
    product["active"] = False
    body, headers = signed_webhook(make_event("product.updated", {"id": "prod_demo_kids", "object": "product"}))
    assert client.post("/webhooks/stripe", data=body, headers=headers).status_code == 200
    after = client.get("/stripe/products?limit=100", headers={**auth_headers(), "If-None-Match": before.headers["ETag"]})
    assert after.status_code == 200 and after.headers["ETag"] != before.headers["ETag"]
    assert "prod_demo_kids" not in {p["id"] for p in after.json["data"]}


def test_errors_carry_no_etag(client, auth_headers, sandbox_stripe):
    missing = client.get("/stripe/products/prod_nobody", headers=auth_headers())
    assert missing.status_code == 404 and "ETag" not in missing.headers


def test_every_read_and_revalidation_goes_through_flask_and_its_hooks(client, auth_headers, sandbox_stripe):
    """One request path: a repeated read and a 304 enter Flask as the first read did, token check included."""
    from flask import request_started

    seen = []
    request_started.connect(lambda sender, **extra: seen.append(1), client.application, weak=False)
    first = client.get("/stripe/products", headers=auth_headers())
    again = client.get("/stripe/products", headers={**auth_headers(), "If-None-Match": first.headers["ETag"]})
    refused = client.get("/stripe/products", headers={"Authorization": "Bearer not-a-token",
                                                      "If-None-Match": first.headers["ETag"]})
    assert (first.status_code, again.status_code, refused.status_code) == (200, 304, 401)
    assert len(seen) == 3
