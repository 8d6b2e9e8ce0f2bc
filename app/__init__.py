"""The application factory: reads like a table of contents."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import click
from flask import Blueprint, Flask
from flask_cors import CORS
from werkzeug.middleware.proxy_fix import ProxyFix

from app.auth import AUTH_MODES
from app.blueprints import BLUEPRINTS, OPTIONAL
from app.bootstrap import build_services
from app.commands import register_commands
from app.errors import register_error_handlers
from app.logs import configure_logging
from app.reporting import configure_reporting
from app.request_cycle import register_request_cycle
from app.request_limits import register_body_limits
from app.routing import register_url_rules
from config import Config


class ApiFlask(Flask):
    """Flask, answering OPTIONS with an empty 204 and its Allow header (Flask's default is an empty text/html 200)."""

    def make_default_options_response(self):
        response = super().make_default_options_response()
        response.status_code = 204
        response.set_data(b"")
        response.headers.pop("Content-Type", None)
        response.headers.pop("Content-Length", None)
        return response


def create_app(config: Config, *, blueprints: Sequence[Blueprint] = (), commands: Sequence[click.Command] = (),
               **collaborators) -> Flask:
    """Build the app from `config`; any collaborator of `build_services` may be handed in (tests do), and
    `blueprints` and `commands` beside the app's own (in development, wsgi.py hands in the sandbox's)."""
    configure_logging(config.log_level, config.secrets(), access_buffer=config.access_log_buffer,
                      access_flush=config.access_log_flush)
    configure_reporting(config)
    app = ApiFlask(__name__, instance_path=str(Path(config.instance_path).resolve()))
    app.json.sort_keys = False
    built = app.extensions["tatame"] = build_services(config, **collaborators)
    if config.trusted_proxy_hops:  # the client's address and scheme as the trusted proxies saw them
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=config.trusted_proxy_hops, x_proto=config.trusted_proxy_hops)
    register_request_cycle(app, access_log=config.access_log)  # first: it times everything after it
    register_body_limits(app, max_json_body=config.max_json_body, max_webhook_body=config.max_webhook_body)
    register_cors(app, config)
    register_url_rules(app)
    register_blueprints(app, [*(bp for bp in BLUEPRINTS if bp.name not in OPTIONAL or OPTIONAL[bp.name](built)),
                              *blueprints])
    register_error_handlers(app)
    register_commands(app, commands)
    return app


def register_cors(app: Flask, config: Config) -> None:
    """flask-cors for the configured origins; no Origin, no CORS headers."""
    CORS(
        app,
        origins=list(config.cors_origins),
        allow_headers=["Authorization", "Content-Type", "X-Request-ID"],
        expose_headers=["X-Request-ID", "Retry-After"],
        methods=["GET", "POST", "OPTIONS"],
        max_age=600,
        always_send=False,  # the apps' native clients and Stripe send no Origin, and need no CORS headers
    )


def register_blueprints(app: Flask, blueprints=BLUEPRINTS) -> None:
    """Each blueprint has declared how it is authenticated (app/auth.py) before it is registered."""
    for blueprint in blueprints:
        if getattr(blueprint, "auth", None) not in AUTH_MODES:
            raise RuntimeError(f"blueprint {blueprint.name!r} declares no auth: use protect_with_clerk, public,"
                               " signed_by_stripe or signed_by_svix from app/auth.py")
        app.register_blueprint(blueprint)
