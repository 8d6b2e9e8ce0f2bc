"""The offline accounts walk-through against gunicorn: buy, change the email in "Clerk", delete the user.

Nothing configured: the sandbox's Stripe with chaotic delivery (repeated, reordered, late), its Clerk
webhook secret, and `flask event --source clerk` (what `make event SOURCE=clerk` runs) posting signed
Clerk events. After the user.deleted, and after Stripe's late deliveries about it, nothing of the
user is left in any table of the store.
"""

import sqlite3
import time

import requests

from sandbox import credentials
from tests.system.test_offline_walkthrough import MONTHLY, eventually, flask

USER = "user_accounts_walk"


def rows_naming(path, *values) -> list:
    with sqlite3.connect(path) as conn:
        found = []
        for (table,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall():
            for row in conn.execute(f"SELECT * FROM {table}"):
                found += [(table, value) for value in values if any(value in str(cell) for cell in row)]
        return found


def test_email_change_and_erasure_offline(start_gunicorn, tmp_path):
    server = start_gunicorn(app="wsgi:app", workers=2, STRIPE_SECRET_KEY="", STRIPE_API_BASE="",
                            STRIPE_WEBHOOK_SECRET="", CLERK_JWT_KEY="", CLERK_WEBHOOK_SECRET="",
                            SANDBOX_DELIVERY="chaos", RATE_LIMIT_ENABLED="false")
    auth = {"Authorization": f"Bearer {credentials.load_or_create(tmp_path).token(USER)}"}
    membership = lambda: requests.get(f"{server.url}/stripe/subscription", headers=auth, timeout=10).json()["data"]
    customer = lambda: requests.post(f"{server.url}/stripe/customer", headers=auth, timeout=10).json()["data"]

    session = requests.post(f"{server.url}/stripe/checkout-session", json={"price_id": MONTHLY}, headers=auth,
                            timeout=10).json()["data"]
    requests.post(f"{server.url}/dev/checkout/{session['id']}/pay", allow_redirects=False, timeout=10)
    assert eventually(membership, lambda m: m["access"])["status"] == "active"
    customer_id = customer()["id"]

    clerk = f"{server.url}/webhooks/clerk"
    printed = flask(tmp_path, "event", "--source", "clerk", "--type", "user.updated", "--user", USER,
                    "--email", "ana.walk@example.com", "--url", clerk)
    assert '{"received":true}' in printed, printed
    assert customer()["email"] == "ana.walk@example.com"  # at the sandbox's Stripe, read back through the API

    database = str(tmp_path / "tatame.sqlite3")
    assert rows_naming(database, USER, customer_id)
    flask(tmp_path, "event", "--source", "clerk", "--type", "user.deleted", "--user", USER, "--url", clerk)
    assert membership()["status"] == "none" or membership()["subscription"] is None
    time.sleep(4)  # chaos holds deliveries back up to 2 s: Stripe's late ones about the erased member arrive
    assert rows_naming(database, USER, customer_id) == []
    logs = server.logs()
    assert "Traceback" not in logs, logs[-3000:]
