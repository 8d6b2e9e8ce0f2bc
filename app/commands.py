"""Development commands (`flask --app wsgi ...`, wrapped by `make token`, `make event`, `make clock`, `make pay`)."""

from __future__ import annotations

import json
import sys

import click
import requests
from flask import Flask

from app.extensions import Services
from sandbox.sample_events import OBJECTS, sample_event
from app.services.webhook_signature import sign_header


SINCE = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def _seconds(text: str) -> int:
    """'3d', '12h', '30m' or a number of seconds; at most 30 days (what Stripe's Events API keeps)."""
    text = text.strip().lower()
    unit = SINCE.get(text[-1:], None)
    number = text[:-1] if unit else text
    if not number.isdigit() or not 0 < int(number) * (unit or 1) <= 30 * 86400:
        raise click.BadParameter("a duration like 3d, 12h or 30m, at most 30d")
    return int(number) * (unit or 1)


def register_commands(app: Flask) -> None:
    stripe_group = click.Group("stripe", help="Recover what webhook deliveries missed; offline, move the stand-in's"
                                              " clock and pay its payment sheets.")
    app.cli.add_command(stripe_group)

    def report(what: str, summary) -> None:
        click.echo(f"{what}: {summary.line()}")
        for failure in summary.failures[:20]:
            click.echo(f"  failed: {failure}", err=True)
        sys.exit(1 if summary.failed else 0)

    def progress(summary) -> None:
        if summary.seen % 50 == 0:
            click.echo(f"  ... {summary.line()}", err=True)

    @stripe_group.command("reconcile")
    @click.option("--since", default="3d", show_default=True, help="How far back: 3d, 12h, 30m (at most 30d).")
    def reconcile(since: str) -> None:
        """Run Stripe's events of the handled types through the exactly-once path (processed ones are skipped)."""
        from app.services.reconcile import Reconciler

        services: Services = app.extensions["tatame"]
        reconciler = Reconciler(services.gateway, services.webhooks, services.subscriptions)
        report("reconcile", reconciler.reconcile(_seconds(since), progress))

    @stripe_group.command("sync")
    def sync() -> None:
        """Re-read every subscription from Stripe (an older read never overwrites a newer one)."""
        from app.services.reconcile import Reconciler

        services: Services = app.extensions["tatame"]
        report("sync", Reconciler(services.gateway, services.webhooks, services.subscriptions).sync(progress))

    def stand_in():
        services: Services = app.extensions["tatame"]
        if services.modes.get("billing") != "offline":
            raise click.ClickException("Stripe is configured (STRIPE_SECRET_KEY): the clock and test payments are the"
                                       " offline stand-in's; on a Stripe test account use test clocks and test cards")
        from app.gateways import stand_in_for

        return stand_in_for(services.config)

    @stripe_group.command("clock")
    @click.option("--days", type=click.IntRange(0, 3650), default=0, show_default=True, help="How far to move.")
    @click.option("--decline/--no-decline", default=None,
                  help="From now on every charge is declined (remembered until --no-decline).")
    def clock(days: int, decline: bool | None) -> None:
        """Move the stand-in's time forward: renewals, retries, trial ends, expiries happen as Stripe would."""
        from sandbox.stripe.clock import day

        fake = stand_in()
        if decline is not None:
            fake.declines = decline
        happened = fake.advance_clock(days * 86400)
        for line in happened:
            click.echo(line)
        click.echo(f"stand-in clock: {day(fake.now())} (+{fake.offset // 86400} days from real time)"
                   f"{', declining charges' if fake.declines else ''}; {len(happened)} change(s)")

    @stripe_group.command("pay")
    @click.option("--client-secret", required=True, help="The payment sheet's client_secret.")
    def pay(client_secret: str) -> None:
        """Confirm a payment sheet's PaymentIntent or SetupIntent as a test card would (declined with --decline)."""
        from sandbox.stripe.faults import StripeFault

        try:
            click.echo(stand_in().confirm_intent(client_secret))
        except StripeFault as fault:
            raise click.ClickException(str(fault))

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
