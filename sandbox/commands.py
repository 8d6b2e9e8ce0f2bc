"""The sandbox's commands (`flask --app wsgi ...`), wrapped by `make token`, `make event`, `make clock`, `make pay`.

`stripe clock` and `stripe pay` join the app's `stripe` group; they drive the sandbox's Stripe, so
they refuse when Stripe itself is configured. `token` mints a session token with the sandbox's
Clerk key, `event` posts a sample event (Stripe's, or Clerk's with SOURCE=clerk) signed with the secret
the app checks.
"""

from __future__ import annotations

import json
import sys
import click
import requests

from app.services.webhook_signature import sign_header
from sandbox.sample_events import CLERK_TYPES, OBJECTS, sample_clerk_event, sample_event, svix_headers


def commands(sandbox) -> list[click.Command]:
    """The commands over `sandbox` (a sandbox.compose.Sandbox, which calls this), for create_app's `commands`."""
    stripe_group = click.Group("stripe", help="The sandbox's Stripe: move its clock, pay its payment sheets.")

    def its_stripe():
        if sandbox.stripe is None:
            raise click.ClickException("Stripe is configured (STRIPE_SECRET_KEY): the clock and test payments are the"
                                       " sandbox's; on a Stripe test account use test clocks and test cards")
        return sandbox.stripe

    @stripe_group.command("clock")
    @click.option("--days", type=click.IntRange(0, 3650), default=0, show_default=True, help="How far to move.")
    @click.option("--decline/--no-decline", default=None,
                  help="From now on every charge is declined (remembered until --no-decline).")
    def clock(days: int, decline: bool | None) -> None:
        """Move the sandbox's time forward: renewals, retries, trial ends, expiries happen as Stripe would."""
        from sandbox.stripe.clock import day

        sandbox_stripe = its_stripe()
        if decline is not None:
            sandbox_stripe.declines = decline
        happened = sandbox_stripe.advance_clock(days * 86400)
        for line in happened:
            click.echo(line)
        click.echo(f"sandbox clock: {day(sandbox_stripe.now())} (+{sandbox_stripe.offset // 86400} days from real"
                   f" time){', declining charges' if sandbox_stripe.declines else ''}; {len(happened)} change(s)")

    @stripe_group.command("pay")
    @click.option("--client-secret", required=True, help="The payment sheet's client_secret.")
    def pay(client_secret: str) -> None:
        """Confirm a payment sheet's PaymentIntent or SetupIntent as a test card would (declined with --decline)."""
        from sandbox.stripe.faults import StripeFault

        try:
            click.echo(its_stripe().confirm_intent(client_secret))
        except StripeFault as fault:
            raise click.ClickException(str(fault))

    @click.command("token")
    @click.option("--user", default="user_demo", show_default=True, help="The Clerk user id (sub).")
    @click.option("--ttl", default=3600, show_default=True, help="Seconds until it expires.")
    def token(user: str, ttl: int) -> None:
        """Print a session token signed with the sandbox's key (only when no Clerk key source is configured)."""
        if not sandbox.signs_tokens:
            raise click.ClickException("a Clerk key source is configured: sign in through Clerk to get a token")
        # The plan published to the sandbox's Clerk, as Clerk's session-token template puts it (docs/billing.md).
        billing = sandbox.clerk.public_metadata(user).get("billing") if sandbox.clerk is not None else None
        click.echo(sandbox.credentials.token(user, ttl=ttl, extra={"billing": billing} if billing else None))

    @click.command("event")
    @click.option("--source", type=click.Choice(["stripe", "clerk"]), default="stripe", show_default=True)
    @click.option("--type", "event_type", default=None, type=click.Choice(sorted(OBJECTS) + list(CLERK_TYPES)),
                  help="Default: customer.created (stripe), user.updated (clerk).")
    @click.option("--id", "event_id", default=None, help="Reuse an event id (Stripe's) or svix-id (to see a duplicate).")
    @click.option("--user", default="user_demo", show_default=True, help="The Clerk user a Clerk event is about.")
    @click.option("--email", default=None, help="The primary email of a Clerk user event (default: a new one).")
    @click.option("--url", default=None, help="Default: http://localhost:$PORT/webhooks/<source>")
    def event(source: str, event_type: str | None, event_id: str | None, user: str, email: str | None,
              url: str | None) -> None:
        """Sign a sample event with the webhook secret the app checks and post it to the running server."""
        url = url or f"http://localhost:{sandbox.config.port}/webhooks/{source}"
        if source == "clerk":
            event_type = event_type or "user.updated"
            if event_type not in CLERK_TYPES:
                raise click.BadParameter(f"a Clerk event is one of {', '.join(CLERK_TYPES)}", param_hint="--type")
            sample = sample_clerk_event(event_type, user_id=user, **({"email": email} if email else {}))
            body = json.dumps(sample).encode()
            headers = svix_headers(body, sandbox.clerk_webhook_secret, message_id=event_id)
            name = headers["svix-id"]
        else:
            event_type = event_type or "customer.created"
            if event_type not in OBJECTS:
                raise click.BadParameter(f"{event_type} is not a Stripe sample", param_hint="--type")
            body = json.dumps(sample_event(event_type, event_id=event_id)).encode()
            headers = {"Stripe-Signature": sign_header(body, sandbox.webhook_secret)}
            name = json.loads(body)["id"]
        try:
            response = requests.post(url, data=body, headers={"Content-Type": "application/json", **headers},
                                     timeout=10)
        except requests.RequestException as exc:
            raise click.ClickException(f"could not reach {url} ({type(exc).__name__}): is `make serve` running?")
        click.echo(f"{name} {event_type} -> {response.status_code} {response.text.strip()}")
        sys.exit(0 if response.ok else 1)

    return [stripe_group, token, event]
