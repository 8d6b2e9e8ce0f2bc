"""Clerk verification on every protected route: headers, key sources, CORS, route coverage.

The forged-token battery is in test_forged_tokens.py."""

import base64

import pytest
import responses

from app import create_app
from app.services.clerk import NoKeySource
from tests.conftest import with_config

PROTECTED = ["/stripe/products", "/stripe/prices", "/stripe/products/prod_1", "/stripe/prices/price_1"]
UNAUTHORIZED = {"code": "UNAUTHORIZED", "message": "Missing or invalid authentication token."}


def test_valid_token_passes(client, auth_headers, stripe_api):
    stripe_api.add(responses.GET, "https://api.stripe.com/v1/products",
                   json={"object": "list", "data": [], "has_more": False, "url": "/v1/products"})
    assert client.get("/stripe/products", headers=auth_headers()).status_code == 200


@pytest.mark.parametrize("header", [None, "", "Bearer", "Bearer ", "Basic dXNlcjpwYXNz", "Token abc", "Bearer a b"])
def test_missing_or_malformed_header_is_401(client, header):
    headers = {} if header is None else {"Authorization": header}
    for path in PROTECTED + ["/stripe/customer"]:
        method = client.post if path == "/stripe/customer" else client.get
        response = method(path, headers=headers)
        assert response.status_code == 401, path
        assert {k: response.json["error"][k] for k in ("code", "message")} == UNAUTHORIZED


def test_authorized_parties_are_enforced(config, make_token):
    # A missing azp is refused only behind CLERK_REQUIRE_AZP (see the next test).
    client = create_app(with_config(config, clerk_authorized_parties=("https://app.tatame.example",),
                                    clerk_require_azp=True)).test_client()
    for azp in ("http://localhost:3001", None):
        assert client.get("/stripe/products", headers={"Authorization": f"Bearer {make_token(azp=azp)}"}).status_code == 401


def _through_auth(client, token) -> bool:
    """True when the token got past authentication (the empty body then fails validation: 400)."""
    response = client.post("/stripe/customer", json={"plan": 1}, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code in (400, 401)
    return response.status_code == 400


def test_native_app_tokens_without_azp_pass_unless_required(config, session_token):
    parties = dict(clerk_authorized_parties=("https://app.tatame.example",))
    default = create_app(with_config(config, **parties)).test_client()
    assert _through_auth(default, session_token("native"))
    assert _through_auth(default, session_token("web"))
    assert not _through_auth(default, session_token("web", azp="https://evil.example"))
    strict = create_app(with_config(config, clerk_require_azp=True, **parties)).test_client()
    assert not _through_auth(strict, session_token("native"))
    assert _through_auth(strict, session_token("web"))


def test_issuer_is_checked_when_known(config, make_token):
    pk = "pk_test_" + base64.b64encode(b"clerk.tatame.example$").decode()
    app = create_app(with_config(config, clerk_publishable_key=pk))
    bad = make_token(iss="https://evil.example")
    assert app.test_client().get("/stripe/products", headers={"Authorization": f"Bearer {bad}"}).status_code == 401


def test_proxy_and_satellite_issuers_are_accepted_when_configured(config, session_token):
    pk = "pk_live_" + base64.b64encode(b"clerk.tatame.example$").decode()
    proxy, satellite = "https://app.tatame.example/__clerk", "https://clerk.satellite.example"
    plain = create_app(with_config(config, clerk_publishable_key=pk)).test_client()
    assert not _through_auth(plain, session_token("native", iss=proxy))
    client = create_app(with_config(config, clerk_publishable_key=pk, clerk_issuers=(proxy, satellite))).test_client()
    for iss in ("https://clerk.tatame.example", proxy, satellite):
        assert _through_auth(client, session_token("native", iss=iss)), iss
    assert not _through_auth(client, session_token("native", iss="https://evil.example"))


def test_the_hook_hands_out_read_only_claims(app, session_token):
    from flask import g

    from app.auth import require_clerk_user

    headers = {"Authorization": f"Bearer {session_token('native')}"}
    for _ in range(2):  # the second request gets the claims the first one saw, from the verifier's cache
        with app.test_request_context("/stripe/products", headers=headers):
            require_clerk_user()
            assert g.clerk_user_id == g.clerk_claims["sub"] == "user_2fakeTestUserId"
            with pytest.raises(TypeError):
                g.clerk_claims["sub"] = "user_admin"


def test_pem_with_literal_newlines_is_accepted(rsa_keys):
    from config import Config

    config = Config.from_env({"CLERK_JWT_KEY": rsa_keys[1].replace("\n", "\\n")})
    assert config.clerk_jwt_key == rsa_keys[1]


def test_preflight_needs_no_token(client):
    response = client.options("/stripe/products", headers={
        "Origin": "http://localhost:3001", "Access-Control-Request-Method": "GET",
        "Access-Control-Request-Headers": "Authorization"})
    assert response.status_code == 204  # an empty answer, as for every OPTIONS (no HTML)
    assert response.headers["Access-Control-Allow-Origin"] == "http://localhost:3001"


def test_foreign_origin_gets_no_cors_grant(client):
    response = client.get("/", headers={"Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in response.headers


def test_production_without_a_key_source_refuses_everyone(config, make_token):
    # Config validation already refuses this; the factory must not fall back to development keys either.
    from app.stores.sqlite import SQLiteStore

    app = create_app(with_config(config, app_env="production", clerk_jwt_key=None),
                     store=SQLiteStore(config.sqlite_path))
    services = app.extensions["tatame"]
    assert services.modes["auth"] == "none"
    assert isinstance(services.verifier.keys, NoKeySource)
    response = app.test_client().get("/stripe/products", headers={"Authorization": f"Bearer {make_token()}"})
    assert response.status_code == 401


def test_development_without_a_key_source_uses_the_sandboxs_keys(config, make_token):
    from sandbox.compose import MODES, compose

    sandbox = compose(with_config(config, app_env="development", clerk_jwt_key=None))
    app = create_app(sandbox.config, **sandbox.collaborators())
    services = app.extensions["tatame"]
    assert services.modes["auth"] == MODES["auth"]
    client = app.test_client()
    foreign = client.post("/stripe/customer", json={"plan": 1}, headers={"Authorization": f"Bearer {make_token()}"})
    assert foreign.status_code == 401  # a token from another key is still refused
    own = sandbox.credentials.token("user_dev")
    passed = client.post("/stripe/customer", json={"plan": 1}, headers={"Authorization": f"Bearer {own}"})
    assert passed.status_code == 400  # through auth, stopped by validation
