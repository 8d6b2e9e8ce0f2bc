"""Every route declares how it is authenticated, and the declaration is what guards it."""

import re

import pytest

from app.auth import AUTH_MODES, CLERK, PUBLIC, STRIPE_SIGNATURE, SVIX_SIGNATURE
from app.blueprints import BLUEPRINTS


def _example_path(rule) -> str:
    # Any value works for a path argument: the auth hook runs before the view reads it.
    return re.sub(r"<[^>]+>", "x_1", rule.rule)


def test_every_blueprint_declares_its_auth():
    for blueprint in BLUEPRINTS:
        assert getattr(blueprint, "auth", None) in AUTH_MODES, (
            f"blueprint {blueprint.name!r} declares no auth: wrap it in protect_with_clerk(...), public(...) or "
            "signed_by_stripe(...) or signed_by_svix(...) from app/auth.py"
        )


def test_a_blueprint_without_a_declaration_is_refused_at_start_up():
    from flask import Blueprint, Flask

    from app import register_blueprints

    with pytest.raises(RuntimeError, match="careless.*declares no auth"):
        register_blueprints(Flask(__name__), (Blueprint("careless", __name__),))


def test_every_route_is_guarded_as_its_blueprint_declares(app, client):
    """Discovered from the URL map: a new blueprint or route is covered without editing this test."""
    assert check_every_route(app, client) == {CLERK, PUBLIC, STRIPE_SIGNATURE, SVIX_SIGNATURE}


def test_every_route_of_a_development_app_too(tmp_path):
    """With nothing configured the local pages (sandbox/blueprint.py) are registered as well: public."""
    from config import Config
    from tests.conftest import sandboxed_app

    app = sandboxed_app(Config.from_env({"INSTANCE_PATH": str(tmp_path), "RATE_LIMIT_ENABLED": "false"}))
    assert any(rule.endpoint.startswith("dev.") for rule in app.url_map.iter_rules())
    assert check_every_route(app, app.test_client()) == {CLERK, PUBLIC, STRIPE_SIGNATURE, SVIX_SIGNATURE}


def check_every_route(app, client) -> set[str]:
    """Open every route of `app` with every method; each answers as its blueprint's auth says. The modes seen."""
    checked = set()
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        auth = app.blueprints[rule.endpoint.split(".")[0]].auth
        path = _example_path(rule)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            response = client.open(path, method=method)
            if auth == CLERK:
                assert response.status_code == 401, (method, rule.rule)
                assert response.json["error"]["code"] == "UNAUTHORIZED"
            elif auth in (STRIPE_SIGNATURE, SVIX_SIGNATURE):
                assert response.status_code == 400, (method, rule.rule)
                assert response.json["error"]["code"] == "MISSING_SIGNATURE"
            else:
                assert auth == PUBLIC and response.status_code != 401, (method, rule.rule)
            checked.add(auth)
    return checked
