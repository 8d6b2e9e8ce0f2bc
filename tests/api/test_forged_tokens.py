"""The forged-token battery: every kind of bad token is the same 401, and none reaches Stripe.

The app here gets its keys from a JWKS URL (faked with `responses`), as in production, so
that an unknown `kid` really means a key-set lookup.
"""

import hashlib
import hmac
import json
import threading
import time

import jwt
import pytest
import responses

from app import create_app
from tests.conftest import KID, WEB_ORIGIN, with_config
from tests.unit.test_jwks import jwks_body

JWKS_URL = "https://clerk.tatame.example/.well-known/jwks.json"
ISSUER = "https://clerk.tatame.example"
AZP = "http://localhost:3001"


def _b64(data) -> str:
    return jwt.utils.base64url_encode(data if isinstance(data, bytes) else json.dumps(data).encode()).decode()


def _hs256(secret: bytes, header: dict, claims: dict) -> str:
    signing_input = f"{_b64(header)}.{_b64(claims)}"
    return f"{signing_input}.{_b64(hmac.new(secret, signing_input.encode(), hashlib.sha256).digest())}"


def forged(make_token, rsa_keys, other_rsa_keys) -> dict[str, str]:
    """Name → token (or whole Authorization header value, for the header cases)."""
    now = int(time.time())
    good = make_token(iss=ISSUER)
    header, payload, signature = good.split(".")
    claims = json.loads(jwt.utils.base64url_decode(payload))
    attacker_jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(other_rsa_keys[0].public_key()))
    return {
        "no_token": "",
        "garbage": "Bearer not-a-jwt",
        "wrong_scheme": f"Basic {good}",
        "two_tokens": f"Bearer {good} {good}",
        "alg_none": "Bearer " + jwt.encode({**claims}, None, algorithm="none"),
        "alg_none_with_signature": f"Bearer {_b64({'alg': 'none', 'kid': KID})}.{payload}.{signature}",
        "hs256_with_public_key": "Bearer " + _hs256(rsa_keys[1].encode(), {"alg": "HS256", "kid": KID}, claims),
        "wrong_key": "Bearer " + make_token(key=other_rsa_keys[0], iss=ISSUER),
        "unknown_kid": "Bearer " + make_token(key=other_rsa_keys[0], iss=ISSUER, headers={"kid": "attacker-kid"}),
        "embedded_jwk": "Bearer " + make_token(key=other_rsa_keys[0], iss=ISSUER,
                                               headers={"kid": "attacker-kid", "jwk": attacker_jwk}),
        "jku_pointing_elsewhere": "Bearer " + make_token(key=other_rsa_keys[0], iss=ISSUER,
                                                         headers={"jku": "https://evil.example/jwks.json"}),
        "tampered_payload": f"Bearer {header}.{_b64({**claims, 'sub': 'user_admin'})}.{signature}",
        "stripped_signature": f"Bearer {header}.{payload}.",
        "expired": "Bearer " + make_token(iss=ISSUER, exp=now - 10, iat=now - 70, nbf=now - 70),
        "not_yet_valid": "Bearer " + make_token(iss=ISSUER, nbf=now + 60),
        "issued_in_future": "Bearer " + make_token(iss=ISSUER, iat=now + 60),
        "no_exp": "Bearer " + make_token(iss=ISSUER, exp=None),
        "no_sub": "Bearer " + make_token(iss=ISSUER, sub=None),
        "numeric_sub": "Bearer " + make_token(iss=ISSUER, sub=12345),
        "foreign_azp": "Bearer " + make_token(iss=ISSUER, azp="https://evil.example"),
        "wrong_iss": "Bearer " + make_token(iss="https://clerk.evil.example"),
        "pending_session": "Bearer " + make_token(iss=ISSUER, sts="pending"),
        "rs512": "Bearer " + make_token(iss=ISSUER, algorithm="RS512"),
        "oversized": "Bearer " + make_token(iss=ISSUER, padding="x" * 9000),
    }


@pytest.fixture
def clerk_jwks(rsa_keys):
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.add(responses.GET, JWKS_URL, json=jwks_body(rsa_keys[0].public_key(), kid=KID))
        yield mock


@pytest.fixture
def jwks_app(config, clerk_jwks):
    return create_app(with_config(config, clerk_jwt_key=None, clerk_jwks_url=JWKS_URL,
                                  clerk_authorized_parties=(AZP,)))


def test_the_real_token_is_accepted(jwks_app, make_token):
    response = jwks_app.test_client().post("/stripe/customer", json={"plan": "x"},
                                           headers={"Authorization": f"Bearer {make_token(iss=ISSUER)}"})
    assert response.status_code == 400  # through auth, stopped by validation


def test_web_and_native_app_tokens_are_accepted(config, clerk_jwks, session_token):
    # As deployed: authorized parties set, and the native app's tokens carry no azp.
    app = create_app(with_config(config, clerk_jwt_key=None, clerk_jwks_url=JWKS_URL,
                                 clerk_authorized_parties=(WEB_ORIGIN,)))
    for kind in ("web", "native"):
        response = app.test_client().post("/stripe/customer", json={"plan": "x"},
                                          headers={"Authorization": f"Bearer {session_token(kind)}"})
        assert response.status_code == 400, kind  # through auth, stopped by validation


def test_every_forged_token_is_the_same_401(jwks_app, make_token, rsa_keys, other_rsa_keys, clerk_jwks):
    client = jwks_app.test_client()
    cases = forged(make_token, rsa_keys, other_rsa_keys)
    assert len(cases) >= 20
    bodies = {}
    for name, value in cases.items():
        headers = {"Authorization": value} if value else {}
        for method, path in (("GET", "/stripe/products"), ("GET", "/stripe/prices/price_1"),
                             ("POST", "/stripe/customer")):
            response = client.open(path, method=method, headers=headers)
            assert response.status_code == 401, (name, path, response.json)
            assert response.headers["WWW-Authenticate"].startswith("Bearer")
            error = {k: v for k, v in response.json["error"].items() if k != "request_id"}
            bodies[(name, path)] = json.dumps(error, sort_keys=True)
    assert len(set(bodies.values())) == 1, "the body must not tell one failure from another"
    assert not [c for c in clerk_jwks.calls if "stripe" in c.request.url]


def test_a_flood_of_unknown_kids_fetches_the_key_set_at_most_once(jwks_app, make_token, other_rsa_keys, clerk_jwks):
    client = jwks_app.test_client()
    client.get("/stripe/products", headers={"Authorization": "Bearer " + make_token(iss=ISSUER, key=other_rsa_keys[0])})
    fetches_before = len(clerk_jwks.calls)
    barrier = threading.Barrier(20)

    def flood(i):
        barrier.wait()
        for j in range(10):
            token = make_token(iss=ISSUER, key=other_rsa_keys[0], headers={"kid": f"forged-{i}-{j}"})
            assert jwks_app.test_client().get(
                "/stripe/products", headers={"Authorization": f"Bearer {token}"}).status_code == 401

    threads = [threading.Thread(target=flood, args=(i,)) for i in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    # 200 forged tokens within one cooldown: at most one refetch (none if the first fetch was recent).
    assert len(clerk_jwks.calls) - fetches_before <= 1
    assert fetches_before == 1
