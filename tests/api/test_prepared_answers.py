"""The request edge resends prepared answers without Flask (app/answers.py): byte for byte what Flask
sends, and only when Flask would have sent it to this caller, now."""

import time
from contextlib import contextmanager

import pytest
from flask import request_started

from app import create_app
from app.auth import limit_per_user, require_clerk_user
from tests.conftest import make_event, with_config

PATHS = ["/", "/stripe/products", "/stripe/products?limit=2", "/stripe/products?active=false",
         "/stripe/prices?product=prod_demo_kids", "/stripe/products/prod_demo_kids",
         "/stripe/prices/price_demo_enrolment"]


@contextmanager
def flask_requests(app):
    """How many requests reached Flask (the edge's answers never do)."""
    seen = []

    def started(sender, **extra):
        seen.append(1)

    request_started.connect(started, app)
    try:
        yield seen
    finally:
        request_started.disconnect(started, app)


def comparable(response) -> tuple:
    headers = {name: value for name, value in response.headers.items() if name != "X-Request-ID"}
    return response.status_code, headers, response.data


@pytest.fixture
def edge_and_flask(config, sandbox_stripe):
    """The same service twice: with prepared answers (as shipped), and with every answer from Flask."""
    return create_app(config), create_app(with_config(config, prepared_answers=False))


@pytest.mark.parametrize("path", PATHS)
def test_the_edge_answers_exactly_as_flask_does(edge_and_flask, auth_headers, path):
    edge, flask_only = edge_and_flask
    headers = auth_headers("user_same")
    edge_client, flask_client = edge.test_client(), flask_only.test_client()
    edge_client.get(path, headers=headers)  # Flask answers first, and prepares
    flask_client.get(path, headers=headers)
    with flask_requests(edge) as reached:
        from_edge = edge_client.get(path, headers=headers)
    assert reached == [] and from_edge.status_code == 200
    assert comparable(from_edge) == comparable(flask_client.get(path, headers=headers))
    if "ETag" in from_edge.headers:  # and the 304 to a client that has it
        conditional = {**headers, "If-None-Match": from_edge.headers["ETag"]}
        with flask_requests(edge) as reached:
            revalidated = edge_client.get(path, headers=conditional)
        assert reached == [] and revalidated.status_code == 304 and revalidated.data == b""
        assert comparable(revalidated) == comparable(flask_client.get(path, headers=conditional))
        weak_or_other = {**headers, "If-None-Match": f'W/{from_edge.headers["ETag"]}, "other"'}
        assert comparable(edge_client.get(path, headers=weak_or_other)) == \
            comparable(flask_client.get(path, headers=weak_or_other))


def test_a_caller_flask_has_not_let_in_goes_to_flask(client, auth_headers, make_token, rsa_keys, other_rsa_keys,
                                                     sandbox_stripe):
    client.get("/stripe/products", headers=auth_headers("user_a"))
    callers = [
        {},                                                              # no token
        {"Authorization": "Bearer forged.token.here"},                   # not a token
        {"Authorization": f"Bearer {make_token('user_a', key=other_rsa_keys[0])}"},  # signed by someone else
        {"Authorization": f"Bearer {make_token('user_a', exp=int(time.time()) - 60)}"},  # expired
        auth_headers("user_b"),                                          # valid, but never checked here yet
    ]
    with flask_requests(client.application) as reached:
        answers = [client.get("/stripe/products", headers=caller) for caller in callers]
    assert len(reached) == len(callers)
    assert [a.status_code for a in answers] == [401, 401, 401, 401, 200]
    assert all(a.json["error"]["code"] == "UNAUTHORIZED" for a in answers[:4])


def test_a_remembered_token_is_not_accepted_past_its_expiry(client, make_token, sandbox_stripe):
    headers = {"Authorization": f"Bearer {make_token('user_brief', exp=int(time.time()) + 1)}"}
    assert client.get("/stripe/products", headers=headers).status_code == 200
    time.sleep(1.2)
    with flask_requests(client.application) as reached:
        client.get("/stripe/products", headers=headers)
    assert reached == [1]  # checked in full again (within the verifier's leeway it still passes)


@pytest.mark.parametrize("how", ["origin", "head", "body", "post"])
def test_what_only_flask_answers_goes_to_flask(client, auth_headers, sandbox_stripe, how):
    headers = auth_headers()
    client.get("/stripe/products", headers=headers)
    with flask_requests(client.application) as reached:
        if how == "origin":
            client.get("/stripe/products", headers={**headers, "Origin": "http://localhost:3001"})
        elif how == "head":
            client.head("/stripe/products", headers=headers)
        elif how == "body":
            client.get("/stripe/products", headers=headers, data=b'{"a": 1}', content_type="application/json")
        else:
            client.post("/stripe/products", headers=headers)
    assert reached == [1]


def test_a_catalog_change_is_seen_at_once(client, auth_headers, sandbox_stripe, signed_webhook):
    headers = auth_headers()
    client.get("/stripe/products?limit=100", headers=headers)
    before = client.get("/stripe/products?limit=100", headers=headers)
    sandbox_stripe.fake.catalog.by_id["prod_demo_kids"]["active"] = False
    body, signed = signed_webhook(make_event("product.updated", {"id": "prod_demo_kids", "object": "product"}))
    assert client.post("/webhooks/stripe", data=body, headers=signed).status_code == 200
    with flask_requests(client.application) as reached:
        after = client.get("/stripe/products?limit=100", headers={**headers, "If-None-Match": before.headers["ETag"]})
    assert reached == [1] and after.status_code == 200 and after.headers["X-Cache"] == "MISS"
    assert "prod_demo_kids" not in {p["id"] for p in after.json["data"]}


def test_a_stale_copy_is_never_prepared(config, auth_headers, sandbox_stripe, stripe_api, signed_webhook):
    import responses

    client = create_app(config).test_client()
    headers = auth_headers()
    client.get("/stripe/products", headers=headers)
    body, signed = signed_webhook(make_event("product.updated", {"id": "prod_demo_kids", "object": "product"}))
    client.post("/webhooks/stripe", data=body, headers=signed)
    stripe_api.add(responses.GET, "https://api.stripe.com/v1/products", status=500, json={"error": {"message": "down"}})
    stale = client.get("/stripe/products", headers=headers)
    assert stale.status_code == 200 and stale.headers["X-Cache"] == "STALE"
    with flask_requests(client.application) as reached:
        client.get("/stripe/products", headers=headers)
    assert reached == [1]


def test_the_rate_limit_counts_each_request_once_and_refuses_with_the_envelope(config, auth_headers, sandbox_stripe):
    client = create_app(with_config(config, rate_limit_enabled=True, rate_limit_user="4/minute")).test_client()
    headers = auth_headers("user_hasty")
    answers = [client.get("/stripe/products", headers=headers) for _ in range(7)]
    assert [a.status_code for a in answers] == [200] * 4 + [429] * 3
    refused = answers[-1]
    assert refused.json["error"]["code"] == "RATE_LIMITED" and int(refused.headers["Retry-After"]) >= 1
    assert client.get("/stripe/products", headers=auth_headers("user_patient")).status_code == 200


def test_edge_answers_are_logged_and_counted_like_the_others(config, auth_headers, sandbox_stripe, capsys):
    import json

    client = create_app(with_config(config, metrics_token="metrics-token-for-tests-only")).test_client()
    series = ['tatame_catalog_cache_total{result="HIT"}', 'tatame_clerk_verifications_total{outcome="ok"}',
              'tatame_http_request_duration_seconds_count{method="GET",route="/stripe/products",status="200"}']

    def values() -> list[float]:
        text = client.get("/metrics", headers={"Authorization": "Bearer metrics-token-for-tests-only"}).get_data(True)
        found = dict(line.rsplit(" ", 1) for line in text.splitlines() if line and not line.startswith("#"))
        return [float(found.get(name, 0)) for name in series]

    headers = {**auth_headers("user_counted"), "X-Request-ID": "req-edge-1"}
    client.get("/stripe/products", headers=headers)
    before = values()
    capsys.readouterr()
    with flask_requests(client.application) as reached:
        client.get("/stripe/products", headers=headers)
    assert reached == []
    (line,) = [json.loads(x) for x in capsys.readouterr().err.splitlines() if '"app.access"' in x]
    assert (line["route"], line["status"], line["clerk_user_id"], line["request_id"]) == \
        ("/stripe/products", 200, "user_counted", "req-edge-1")
    assert [after - was for after, was in zip(values(), before)] == [1, 1, 1]


def test_the_edge_knows_every_hook_it_stands_in_for(app):
    """The edge checks what these hooks check. A new hook must be taught to app/answers.py first (or its
    blueprint's answers left to Flask): this test names the ones it knows."""
    hooks = {bp: [f.__name__ for f in funcs] for bp, funcs in app.before_request_funcs.items()}
    assert hooks[None] == ["refuse_oversized_bodies"]
    assert all(names == [require_clerk_user.__name__, limit_per_user.__name__]
               for bp, names in hooks.items() if bp not in (None, "metrics", "billing"))
    # billing's answers are never prepared (no route of it is the same for every caller)
    assert hooks["billing"] == [require_clerk_user.__name__, limit_per_user.__name__, "take_a_turn"]
    assert not any(app.after_request_funcs.get(bp) for bp in app.after_request_funcs if bp is not None)
    assert [f.__name__ for f in app.after_request_funcs[None]] == ["cors_when_asked"]


def test_edge_answers_log_the_client_behind_the_proxy(config, capsys):
    import json

    client = create_app(with_config(config, trusted_proxy_hops=1)).test_client()
    headers = {"X-Forwarded-For": "203.0.113.7"}
    client.get("/", headers=headers)
    capsys.readouterr()
    with flask_requests(client.application) as reached:
        client.get("/", headers=headers)
    (line,) = [json.loads(x) for x in capsys.readouterr().err.splitlines() if '"app.access"' in x]
    assert reached == [] and line["client"] == "203.0.113.7"


def test_a_new_snapshot_replaces_the_prepared_answer(client, auth_headers, sandbox_stripe, signed_webhook):
    headers = auth_headers()
    client.get("/stripe/products", headers=headers)
    body, signed = signed_webhook(make_event("product.updated", {"id": "prod_demo_kids", "object": "product"}))
    client.post("/webhooks/stripe", data=body, headers=signed)
    client.get("/stripe/products", headers=headers)  # Flask answers from the new snapshot, and prepares that
    with flask_requests(client.application) as reached:
        assert client.get("/stripe/products", headers=headers).headers["X-Cache"] == "HIT"
    assert reached == []
