"""Billing across gunicorn worker processes: a double tap (or twenty) never makes two purchases."""

import requests

from tests.servers import parallel


def _burst(server, path, body, token, count=20):
    headers = {"Authorization": f"Bearer {token}"}

    def tap(i):
        with requests.Session() as session:  # fresh connections: the kernel spreads them over the workers
            return session.post(f"{server.url}{path}", json=body, headers=headers, timeout=30)

    return parallel(count, tap)


def test_twenty_parallel_checkouts_across_workers_reach_stripe_once(start_gunicorn, stripe_server, make_token):
    server = start_gunicorn(workers=4, STRIPE_PUBLISHABLE_KEY="pk_test_fake_publishable_key")
    answers = _burst(server, "/stripe/checkout-session", {"price_id": "price_demo_unlimited_monthly"},
                     make_token("user_processes"))
    assert sorted(a.status_code for a in answers) == [200] * 19 + [201], [a.text for a in answers[:3]]
    assert len({a.json()["data"]["id"] for a in answers}) == 1
    assert stripe_server.observed.fake.state.count("checkout.session") == 1
    creates = [c for c in stripe_server.requests if (c.method, c.path) == ("POST", "/v1/checkout/sessions")]
    assert len(creates) == 1


def test_twenty_parallel_payment_sheets_across_workers_make_one_subscription(start_gunicorn, stripe_server,
                                                                              make_token):
    server = start_gunicorn(workers=4, STRIPE_PUBLISHABLE_KEY="pk_test_fake_publishable_key")
    answers = _burst(server, "/stripe/payment-sheet", {"price_id": "price_demo_unlimited_monthly"},
                     make_token("user_sheets"))
    assert sorted(a.status_code for a in answers) == [200] * 19 + [201]
    assert len({a.json()["data"]["subscription"] for a in answers}) == 1
    assert stripe_server.observed.fake.state.count("subscription") == 1
