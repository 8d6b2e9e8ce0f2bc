"""The app's commands (`flask --app wsgi ...`): `stripe reconcile` and `stripe sync`, production tools that
recover what webhook deliveries missed (`make reconcile`, `make sync`), `accounts forget USER_ID` (erasure,
docs/accounts.md), and `openapi` (`make openapi`).

Other commands may be handed to create_app (in development, the sandbox's: sandbox/commands.py); a
group of the same name as one here, such as `stripe`, adds its commands to this one.
"""

from __future__ import annotations

import sys
from typing import Sequence

import click
from flask import Flask

from app.services_container import Services


SINCE = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def _seconds(text: str) -> int:
    """'3d', '12h', '30m' or a number of seconds; at most 30 days (what Stripe's Events API keeps)."""
    text = text.strip().lower()
    unit = SINCE.get(text[-1:], None)
    number = text[:-1] if unit else text
    if not number.isdigit() or not 0 < int(number) * (unit or 1) <= 30 * 86400:
        raise click.BadParameter("a duration like 3d, 12h or 30m, at most 30d")
    return int(number) * (unit or 1)


def register_commands(app: Flask, extra: Sequence[click.Command] = ()) -> None:
    """The app's commands, then `extra`."""
    stripe_group = click.Group("stripe", help="Stripe: `reconcile` and `sync` recover what webhook deliveries"
                                              " missed (production tools).")
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
        reconciler = Reconciler(services.gateway, services.webhooks, services.subscriptions, services.payments)
        report("reconcile", reconciler.reconcile(_seconds(since), progress))

    @stripe_group.command("sync")
    def sync() -> None:
        """Re-read every subscription, invoice and one-time payment from Stripe (an older read never overwrites a
        newer one), then send every plan not yet published to Clerk."""
        from app.services.reconcile import Reconciler

        services: Services = app.extensions["tatame"]
        publisher = services.publisher
        if publisher is not None:
            publisher.background = False  # this command sends, below: no thread to outlive it
        summary = Reconciler(services.gateway, services.webhooks, services.subscriptions,
                             services.payments).sync(progress)
        if publisher is not None:
            sent, pending = publisher.send_all()
            click.echo(f"published to Clerk: {sent}, still pending: {pending}")
            if pending:
                summary.failed += 1
                summary.failures.append(f"{pending} plan(s) not published to Clerk (see the log; retried later)")
        report("sync", summary)

    accounts_group = click.Group("accounts", help="Accounts: `forget` erases a person (a production tool).")
    app.cli.add_command(accounts_group)

    @accounts_group.command("forget")
    @click.argument("clerk_user_id")
    def forget(clerk_user_id: str) -> None:
        """Erase a Clerk user, as their user.deleted does: subscriptions ended, Stripe customer deleted, our rows
        removed. Safe to run again (an erasure cut short is finished)."""
        services: Services = app.extensions["tatame"]
        erasure = services.accounts.forget(clerk_user_id)
        click.echo(f"forgot {clerk_user_id}: {erasure.subscriptions_canceled} subscription(s) canceled,"
                   f" {erasure.customers_deleted} Stripe customer(s) deleted, {erasure.rows_removed} row(s) removed")

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

    for command in extra:
        ours = app.cli.commands.get(command.name)
        if isinstance(ours, click.Group) and isinstance(command, click.Group):
            for sub in command.commands.values():
                ours.add_command(sub)
        else:
            app.cli.add_command(command)
