"""Development commands (`flask --app wsgi ...`, wrapped by `make token` and `make event`)."""

from __future__ import annotations

import json
import sys

import click
import requests
from flask import Flask

from app.extensions import Services
from app.sample_events import OBJECTS, sample_event
from app.services.webhook_signature import sign_header


def register_commands(app: Flask) -> None:
    @app.cli.command("openapi")
    @click.option("--output", type=click.Path(dir_okay=False), default=None, help="Default: standard output.")
    def openapi(output: str | None) -> None:
        """Write the OpenAPI document (what GET /openapi.json serves); `make openapi` refreshes openapi.json."""
        from app.openapi import build_openapi, dumps

        text = dumps(build_openapi(app))
        if output:
            with open(output, "w") as file:
                file.write(text)
        else:
            click.echo(text, nl=False)

    @app.cli.command("token")
    @click.option("--user", default="user_demo", show_default=True, help="The Clerk user id (sub).")
    @click.option("--ttl", default=3600, show_default=True, help="Seconds until it expires.")
    def token(user: str, ttl: int) -> None:
        """Print a development session token (only when no Clerk key source is configured)."""
        services: Services = app.extensions["tatame"]
        if services.modes.get("auth") != "development keys":
            raise click.ClickException("a Clerk key source is configured: sign in through Clerk to get a token")
        click.echo(services.dev.token(user, ttl=ttl))

    @app.cli.command("event")
    @click.option("--type", "event_type", default="customer.created", show_default=True,
                  type=click.Choice(sorted(OBJECTS)))
    @click.option("--id", "event_id", default=None, help="Reuse an event id (to see a duplicate).")
    @click.option("--url", default=None, help="Default: http://localhost:$PORT/webhooks/stripe")
    def event(event_type: str, event_id: str | None, url: str | None) -> None:
        """Sign a sample event with the webhook secret and post it to the running server."""
        services: Services = app.extensions["tatame"]
        url = url or f"http://localhost:{services.config.port}/webhooks/stripe"
        body = json.dumps(sample_event(event_type, event_id=event_id)).encode()
        headers = {"Content-Type": "application/json",
                   "Stripe-Signature": sign_header(body, services.webhooks.secrets[0])}
        try:
            response = requests.post(url, data=body, headers=headers, timeout=10)
        except requests.RequestException as exc:
            raise click.ClickException(f"could not reach {url} ({type(exc).__name__}): is `make serve` running?")
        click.echo(f"{json.loads(body)['id']} {event_type} -> {response.status_code} {response.text.strip()}")
        sys.exit(0 if response.ok else 1)
