"""The application factory: reads like a table of contents."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import click
from flask import Blueprint, Flask, request
from flask_cors import CORS
from werkzeug.middleware.proxy_fix import ProxyFix

from app.answers import PreparedAnswers
from app.auth import AUTH_MODES
from app.blueprints import BLUEPRINTS, OPTIONAL
from app.bootstrap import build_services
from app.commands import register_commands
from app.errors import register_error_handlers
from app.http import ApiFlask, register_request_handling
from app.logs import configure_logging, register_access_log, register_request_metrics
from app.reporting import configure_reporting
from config import Config


def create_app(config: Config, *, blueprints: Sequence[Blueprint] = (), commands: Sequence[click.Command] = (),
               **collaborators) -> Flask:
    """Build the app from `config`; any collaborator of `build_services` may be handed in (tests do), and
    `blueprints` and `commands` beside the app's own (in development, wsgi.py hands in the sandbox's)."""
    configure_logging(config.log_level, config.secrets())
    configure_reporting(config)
    app = ApiFlask(__name__, instance_path=str(Path(config.instance_path).resolve()))
    app.json.sort_keys = False
    built = app.extensions["tatame"] = build_services(config, **collaborators)
    register_request_handling(app, max_json_body=config.max_json_body, max_webhook_body=config.max_webhook_body)
    if config.trusted_proxy_hops:  # outermost: the edge's own answers and its access line see the real client
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=config.trusted_proxy_hops, x_proto=config.trusted_proxy_hops)
    if config.prepared_answers:
        register_prepared_answers(app, built)
    register_access_log(app, enabled=config.access_log, secrets=config.secrets(), buffer_bytes=config.access_log_buffer,
                        flush_seconds=config.access_log_flush)
    register_request_metrics(app)
    register_cors(app, config)
    register_blueprints(app, [*(bp for bp in BLUEPRINTS if bp.name not in OPTIONAL or OPTIONAL[bp.name](built)),
                              *blueprints])
    register_error_handlers(app)
    register_commands(app, commands)
    return app


def register_prepared_answers(app: Flask, built) -> None:
    """Answers the same for every caller, sent again by the request edge without Flask (app/answers.py)."""
    from app.auth import VERIFIED

    answers = PreparedAnswers(verifier=built.verifier, rate_limiter=built.rate_limiter, on_verified=VERIFIED.inc)
    app.extensions["tatame.answers"] = app.extensions["tatame.edge"].answers = answers


def register_cors(app: Flask, config: Config) -> None:
    """flask-cors for the configured origins, consulted only when a browser sends an Origin."""
    CORS(
        app,
        origins=list(config.cors_origins),
        allow_headers=["Authorization", "Content-Type", "X-Request-ID"],
        expose_headers=["X-Request-ID", "Retry-After"],
        methods=["GET", "POST", "OPTIONS"],
        max_age=600,
        always_send=False,  # no Origin, no CORS headers: the apps' native clients and Stripe need none
    )
    # Its after_request hook matches every path against its rules, even when no Origin was sent;
    # that was a third of what a cached catalog read cost (make bench). Run it only when it can matter.
    cors_hook = app.after_request_funcs[None].pop()

    @app.after_request
    def cors_when_asked(response):
        return cors_hook(response) if "HTTP_ORIGIN" in request.environ else response


def register_blueprints(app: Flask, blueprints=BLUEPRINTS) -> None:
    """Each blueprint has declared how it is authenticated (app/auth.py) before it is registered."""
    for blueprint in blueprints:
        if getattr(blueprint, "auth", None) not in AUTH_MODES:
            raise RuntimeError(f"blueprint {blueprint.name!r} declares no auth: use protect_with_clerk, public,"
                               " signed_by_stripe or signed_by_svix from app/auth.py")
        app.register_blueprint(blueprint)
