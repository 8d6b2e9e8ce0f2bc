"""The claim checks of ClerkVerifier on tokens shaped like Clerk's v2 session tokens, web and native."""

import pytest

from app.services.clerk import ClerkVerifier, InvalidToken, StaticKey
from tests.conftest import CLERK_ISSUER, WEB_ORIGIN


@pytest.fixture
def verifier(rsa_keys):
    def build(**options):
        return ClerkVerifier(StaticKey(rsa_keys[1]), issuer=CLERK_ISSUER, **options)

    return build


def test_web_and_native_tokens_pass_with_authorized_parties(verifier, session_token):
    check = verifier(authorized_parties=(WEB_ORIGIN,))
    web = check.verify(session_token("web"))
    assert web["azp"] == WEB_ORIGIN and web["v"] == 2
    native = check.verify(session_token("native"))
    assert "azp" not in native and native["sub"] == "user_2fakeTestUserId"


def test_a_foreign_azp_is_refused_whatever_the_switch(verifier, session_token):
    for require_azp in (False, True):
        with pytest.raises(InvalidToken):
            verifier(authorized_parties=(WEB_ORIGIN,), require_azp=require_azp).verify(
                session_token("web", azp="https://evil.example"))


def test_a_token_without_azp_is_refused_only_when_required(verifier, session_token):
    native = session_token("native")
    assert verifier(authorized_parties=(WEB_ORIGIN,)).verify(native)["sub"] == "user_2fakeTestUserId"
    with pytest.raises(InvalidToken):
        verifier(authorized_parties=(WEB_ORIGIN,), require_azp=True).verify(native)
    assert verifier(authorized_parties=(WEB_ORIGIN,), require_azp=True).verify(session_token("web"))


PROXY = "https://app.tatame.example/__clerk"
SATELLITE = "https://clerk.satellite.example"


def test_extra_issuers_are_accepted_besides_the_derived_one(verifier, session_token):
    check = verifier(extra_issuers=(PROXY, SATELLITE))
    assert check.issuers == (CLERK_ISSUER, PROXY, SATELLITE)
    for iss in (CLERK_ISSUER, PROXY, SATELLITE):
        assert check.verify(session_token("native", iss=iss))["iss"] == iss
    for iss in ("https://clerk.evil.example", PROXY + "/", None):
        with pytest.raises(InvalidToken):
            check.verify(session_token("web", iss=iss))


def test_only_extra_issuers_known_are_checked(rsa_keys, session_token):
    from app.services.clerk import build_verifier
    from config import Config

    check = build_verifier(Config(clerk_jwt_key=rsa_keys[1], clerk_issuers=(PROXY,)))
    assert check.issuer is None and check.issuers == (PROXY,)
    assert check.verify(session_token("web", iss=PROXY))["sub"] == "user_2fakeTestUserId"
    for iss in (CLERK_ISSUER, None):
        with pytest.raises(InvalidToken):
            check.verify(session_token("web", iss=iss))


def test_claims_are_read_only_so_no_caller_changes_what_the_next_sees(verifier, session_token):
    check = verifier()
    token = session_token("web", o={"id": "org_fake", "rol": "member", "per": ["read"]})
    first = check.verify(token)
    with pytest.raises(TypeError):
        first["sub"] = "user_admin"
    with pytest.raises(TypeError):
        first["o"]["rol"] = "admin"
    with pytest.raises(AttributeError):
        first["o"]["per"].append("write")
    with pytest.raises(AttributeError):
        first.pop("sts")
    again = check.verify(token)
    assert again["sub"] == "user_2fakeTestUserId" and again["o"]["rol"] == "member"
    assert again["fva"] == (0, -1) and dict(again)["azp"] == WEB_ORIGIN
