"""The remote key set: caching, cooldown on unknown kids, background refresh, the key sources' addresses."""

import base64
import json

import jwt
import pytest
import responses

from app.services.clerk import ClerkVerifier, InvalidToken, KeySetUnavailable, RemoteJwks, build_verifier
from config import Config

JWKS_URL = "https://clerk.tatame.example/.well-known/jwks.json"


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def inline(work):
    """A spawn that runs the background refresh at once, in the caller's thread."""
    work()


class Deferred:
    """A spawn that holds the background refresh until the test runs it."""

    def __init__(self):
        self.work = []

    def __call__(self, work):
        self.work.append(work)

    def run(self):
        while self.work:
            self.work.pop(0)()


def jwks_body(public_key, kid="test-kid-1"):
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(public_key))
    return {"keys": [{**jwk, "kid": kid, "use": "sig", "alg": "RS256"}]}


@pytest.fixture
def clerk():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


def test_key_set_is_fetched_once_per_ttl(clerk, rsa_keys, make_token):
    clerk.add(responses.GET, JWKS_URL, json=jwks_body(rsa_keys[0].public_key()))
    clock = Clock()
    keys = RemoteJwks(JWKS_URL, ttl=300, cooldown=30, clock=clock, spawn=inline)
    verifier = ClerkVerifier(keys)
    for _ in range(50):
        verifier.verify(make_token())
    assert keys.fetch_count == 1
    clock.now += 301
    verifier.verify(make_token("user_with_a_new_token"))  # a token not verified before needs the keys
    assert keys.fetch_count == 2


def test_unknown_kid_flood_fetches_at_most_once_per_cooldown(clerk, rsa_keys, make_token):
    clerk.add(responses.GET, JWKS_URL, json=jwks_body(rsa_keys[0].public_key()))
    clock = Clock()
    keys = RemoteJwks(JWKS_URL, ttl=300, cooldown=30, clock=clock)
    verifier = ClerkVerifier(keys)
    verifier.verify(make_token())
    clock.now += 31
    for i in range(200):
        with pytest.raises(InvalidToken):
            verifier.verify(make_token(headers={"kid": f"forged-{i}"}))
        clock.now += 0.1  # 200 forged tokens over 20 seconds
    assert keys.fetch_count == 2  # the first fetch, and one refetch for the first unknown kid
    clock.now += 11
    with pytest.raises(InvalidToken):
        verifier.verify(make_token(headers={"kid": "forged-again"}))
    assert keys.fetch_count == 3


def test_rotated_key_is_picked_up_on_unknown_kid(clerk, rsa_keys, other_rsa_keys, make_token):
    clerk.add(responses.GET, JWKS_URL, json=jwks_body(rsa_keys[0].public_key()))
    clock = Clock()
    keys = RemoteJwks(JWKS_URL, ttl=300, cooldown=30, clock=clock)
    verifier = ClerkVerifier(keys)
    verifier.verify(make_token())
    clerk.replace(responses.GET, JWKS_URL, json=jwks_body(other_rsa_keys[0].public_key(), kid="new-kid"))
    clock.now += 31
    claims = verifier.verify(make_token(key=other_rsa_keys[0], headers={"kid": "new-kid"}))
    assert claims["sub"] == "user_test_123"


def test_fetch_failure_keeps_serving_cached_keys(clerk, rsa_keys, make_token):
    clerk.add(responses.GET, JWKS_URL, json=jwks_body(rsa_keys[0].public_key()))
    clock = Clock()
    keys = RemoteJwks(JWKS_URL, ttl=300, cooldown=30, clock=clock, spawn=inline)
    ClerkVerifier(keys).verify(make_token())
    clerk.replace(responses.GET, JWKS_URL, status=503)
    clock.now += 400
    assert ClerkVerifier(keys).verify(make_token("user_new"))["sub"] == "user_new"


def test_no_key_set_at_all_is_unavailable(clerk, make_token):
    clerk.add(responses.GET, JWKS_URL, status=500)
    with pytest.raises(KeySetUnavailable):
        ClerkVerifier(RemoteJwks(JWKS_URL)).verify(make_token())


def test_publishable_key_derives_jwks_url_and_issuer(clerk, rsa_keys, make_token):
    pk = "pk_live_" + base64.b64encode(b"clerk.tatame.example$").decode()
    clerk.add(responses.GET, JWKS_URL, json=jwks_body(rsa_keys[0].public_key()))
    verifier = build_verifier(Config(clerk_publishable_key=pk))
    assert verifier.issuer == "https://clerk.tatame.example"
    assert verifier.verify(make_token(iss="https://clerk.tatame.example"))["sub"] == "user_test_123"
    with pytest.raises(InvalidToken):
        verifier.verify(make_token(iss="https://clerk.other.example"))


def test_secret_key_uses_backend_api_with_bearer(clerk, rsa_keys, make_token):
    secret = "sk_test_fake_clerk_secret_for_tests"
    clerk.add(responses.GET, "https://api.clerk.com/v1/jwks", json=jwks_body(rsa_keys[0].public_key()),
              match=[responses.matchers.header_matcher({"Authorization": f"Bearer {secret}"})])
    verifier = build_verifier(Config(clerk_secret_key=secret))
    assert verifier.verify(make_token())["sub"] == "user_test_123"


def test_api_returns_502_when_clerk_is_down_and_nothing_is_cached(config, clerk, make_token):
    from app import create_app
    from tests.conftest import with_config

    clerk.add(responses.GET, JWKS_URL, status=503)
    app = create_app(with_config(config, clerk_jwt_key=None, clerk_jwks_url=JWKS_URL))
    response = app.test_client().get("/stripe/products", headers={"Authorization": f"Bearer {make_token()}"})
    assert response.status_code == 502 and response.json["error"]["code"] == "SERVICE_ERROR"


class CountingKeys:
    """A key source that counts how often a signature check needed a key."""

    def __init__(self, key):
        self.key, self.lookups = key, 0

    def key_for(self, kid):
        self.lookups += 1
        return self.key


def test_verified_tokens_are_remembered_until_they_expire(rsa_keys, make_token):
    import time as time_module

    keys = CountingKeys(rsa_keys[0].public_key())
    verifier = ClerkVerifier(keys)
    token = make_token(exp=int(time_module.time()) + 2)
    for _ in range(100):
        assert verifier.verify(token)["sub"] == "user_test_123"
    assert keys.lookups == 1
    late = make_token("user_late", exp=int(time_module.time()) - 2)  # past exp, inside the 5 s leeway
    verifier.verify(late)
    verifier.verify(late)
    assert keys.lookups == 3  # accepted, but never remembered past its exp
    forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    with pytest.raises(InvalidToken):
        verifier.verify(forged)


@pytest.mark.parametrize("answer", [{"keys": []}, {"keys": [{"kty": "EC", "kid": "ec-1", "crv": "P-256"}]}, {}])
def test_an_empty_key_set_keeps_the_cached_keys(clerk, rsa_keys, session_token, caplog, answer):
    clerk.add(responses.GET, JWKS_URL, json=jwks_body(rsa_keys[0].public_key()))
    clock = Clock()
    keys = RemoteJwks(JWKS_URL, ttl=300, cooldown=5, clock=clock, spawn=inline)
    verifier = ClerkVerifier(keys)
    verifier.verify(session_token("web"))
    clerk.replace(responses.GET, JWKS_URL, json=answer)
    clock.now += 301
    keys.key_for("test-kid-1")  # the TTL has passed: this fetches the empty set
    assert keys.fetch_count == 2 and keys.kids == ["test-kid-1"]
    assert "no usable key" in caplog.text
    for kind in ("web", "native"):
        assert verifier.verify(session_token(kind, user_id=f"user_2fake{kind}"))["sub"] == f"user_2fake{kind}"
    clock.now += 5
    keys.key_for("test-kid-1")  # still stale: tried again, once per cooldown
    assert keys.fetch_count == 3 and keys.kids == ["test-kid-1"]


def test_a_rotated_key_is_accepted_within_seconds_of_the_last_fetch(clerk, rsa_keys, other_rsa_keys, session_token):
    assert build_verifier(Config(clerk_jwks_url=JWKS_URL)).keys.cooldown <= 5
    clerk.add(responses.GET, JWKS_URL, json=jwks_body(rsa_keys[0].public_key()))
    clock = Clock()
    keys = RemoteJwks(JWKS_URL, clock=clock)
    verifier = ClerkVerifier(keys)
    verifier.verify(session_token("web"))
    clerk.replace(responses.GET, JWKS_URL, json=jwks_body(other_rsa_keys[0].public_key(), kid="ins_rotated"))
    rotated = {"key": other_rsa_keys[0], "headers": {"kid": "ins_rotated"}}
    with pytest.raises(InvalidToken):  # within the cooldown of the last fetch: no refetch yet
        verifier.verify(session_token("native", **rotated))
    assert keys.fetch_count == 1
    clock.now += 5
    assert verifier.verify(session_token("native", **rotated))["sub"] == "user_2fakeTestUserId"
    assert verifier.verify(session_token("web", **rotated))["azp"] == "https://app.tatame.example"
    assert keys.fetch_count == 2


def test_the_ttl_refresh_runs_off_the_request_path_one_at_a_time(clerk, rsa_keys, other_rsa_keys, session_token):
    clerk.add(responses.GET, JWKS_URL, json=jwks_body(rsa_keys[0].public_key()))
    clock, spawn = Clock(), Deferred()
    keys = RemoteJwks(JWKS_URL, ttl=300, cooldown=5, clock=clock, spawn=spawn)
    verifier = ClerkVerifier(keys)
    verifier.verify(session_token("web"))  # the very first fetch: nothing cached, so this one waits
    assert keys.fetch_count == 1 and not spawn.work
    rotated = jwks_body(other_rsa_keys[0].public_key(), kid="ins_next")["keys"]
    both = jwks_body(rsa_keys[0].public_key())["keys"] + rotated
    clerk.replace(responses.GET, JWKS_URL, json={"keys": both})
    clock.now += 301
    for i in range(20):  # every request meanwhile is answered from the cached keys
        kind = "web" if i % 2 else "native"
        assert verifier.verify(session_token(kind, user_id=f"user_2fake{i}"))["sub"] == f"user_2fake{i}"
        clock.now += 1
    assert len(spawn.work) == 1 and keys.fetch_count == 2  # one refresh started, none in the request
    assert len(clerk.calls) == 1 and keys.kids == ["test-kid-1"]
    spawn.run()
    assert keys.kids == ["ins_next", "test-kid-1"] and len(clerk.calls) == 2
    verifier.verify(session_token("native", user_id="user_2fakeLater"))
    assert not spawn.work and keys.fetch_count == 2  # fresh again: nothing to refresh


def test_a_slow_clerk_stalls_no_request(clerk, rsa_keys, session_token):
    import threading

    started, release = threading.Event(), threading.Event()
    body = json.dumps(jwks_body(rsa_keys[0].public_key()))

    def answer(request):
        if len(clerk.calls) > 0:  # every fetch after the first hangs until the test lets it go
            started.set()
            release.wait(2)
        return 200, {"Content-Type": "application/json"}, body

    clerk.add_callback(responses.GET, JWKS_URL, callback=answer)
    clock = Clock()
    keys = RemoteJwks(JWKS_URL, ttl=300, cooldown=5, clock=clock)  # a real background thread
    verifier = ClerkVerifier(keys)
    verifier.verify(session_token("web"))
    clock.now += 301
    try:
        verifier.verify(session_token("native", user_id="user_2fakeA"))
        assert started.wait(2), "the refresh did not start"
        for i in range(10):  # Clerk is still answering: these are served from the cached keys
            clock.now += 1
            assert verifier.verify(session_token("web", user_id=f"user_2fake{i}"))["sub"] == f"user_2fake{i}"
        assert not keys.wait(0) and keys.fetch_count == 2
    finally:
        release.set()
    assert keys.wait(2) and keys.fetch_count == 2 and len(clerk.calls) == 2


def test_concurrent_first_requests_share_one_fetch(clerk, rsa_keys):
    import threading

    def answer(request):
        threading.Event().wait(0.1)  # a slow Clerk: the other requests arrive while this one fetches
        return 200, {"Content-Type": "application/json"}, json.dumps(jwks_body(rsa_keys[0].public_key()))

    clerk.add_callback(responses.GET, JWKS_URL, callback=answer)
    keys = RemoteJwks(JWKS_URL, clock=Clock(), spawn=Deferred())
    found = []
    threads = [threading.Thread(target=lambda: found.append(keys.key_for("test-kid-1"))) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(5)
    assert len(found) == 8 and all(key is not None for key in found)
    assert keys.fetch_count == 1 and len(clerk.calls) == 1
