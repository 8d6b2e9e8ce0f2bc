"""The README's offline billing walk-through, as written, against gunicorn, with chaotic webhook delivery.

Nothing configured (no Stripe key, no Clerk, no webhook secret): the sandbox's keys, its Stripe,
its local pages, and its deliveries to the server's own /webhooks/stripe — shuffled, some twice, some late
(SANDBOX_DELIVERY=chaos). Every step waits for the membership to show what the webhooks brought.
"""

import os
import re
import subprocess
import sys
import time

import jwt
import requests

from sandbox import credentials
from sandbox.clerk import SandboxClerk
from tests.servers import ROOT

MONTHLY = "price_demo_unlimited_monthly"


def flask(folder, *args) -> str:
    env = {**os.environ, "INSTANCE_PATH": str(folder), "STRIPE_SECRET_KEY": "", "STRIPE_WEBHOOK_SECRET": "",
           "CLERK_JWT_KEY": "", "CLERK_PUBLISHABLE_KEY": "", "SUPABASE_URL": "", "SUPABASE_SERVICE_ROLE_KEY": "",
           "CLERK_WEBHOOK_SECRET": ""}
    done = subprocess.run([sys.executable, "-m", "flask", "--app", "wsgi", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def eventually(read, check, seconds=15):
    deadline = time.monotonic() + seconds
    while True:
        value = read()
        if check(value) or time.monotonic() > deadline:
            return value
        time.sleep(0.2)


def test_the_readme_walkthrough_offline_with_chaotic_delivery(start_gunicorn, tmp_path):
    server = start_gunicorn(app="wsgi:app", workers=2, STRIPE_SECRET_KEY="", STRIPE_API_BASE="",
                            STRIPE_WEBHOOK_SECRET="", CLERK_JWT_KEY="", SANDBOX_DELIVERY="chaos", RATE_LIMIT_ENABLED="false")
    auth = {"Authorization": f"Bearer {credentials.load_or_create(tmp_path).token('user_walk')}"}
    membership = lambda: requests.get(f"{server.url}/stripe/subscription", headers=auth, timeout=10).json()["data"]
    history = lambda: requests.get(f"{server.url}/stripe/invoices", headers=auth, timeout=10).json()["data"]

    session = requests.post(f"{server.url}/stripe/checkout-session", json={"price_id": MONTHLY}, headers=auth,
                            timeout=10)
    assert session.status_code == 201
    page_url = session.json()["data"]["url"]
    assert page_url.startswith("http://localhost:") and "/dev/checkout/" in page_url
    page = requests.get(page_url, timeout=10)  # the sandbox's Stripe points at this very server
    assert page.status_code == 200 and "Pay with a test card" in page.text
    paid = requests.post(f"{server.url}/dev/checkout/{session.json()['data']['id']}/pay", allow_redirects=False,
                         timeout=10)
    assert paid.status_code == 303 and f"session_id={session.json()['data']['id']}" in paid.headers["Location"]

    active = eventually(membership, lambda m: m["access"] and m["features"])
    assert active["status"] == "active" and active["subscription"]["price"] == MONTHLY
    assert active["features"] == ["all_classes", "open_mat", "private_lessons"]
    # The plan reaches the sandbox's Clerk from a worker's sender, and `make token` carries it.
    clerk = SandboxClerk(str(tmp_path / "sandbox-clerk.sqlite3"))
    published = lambda: clerk.public_metadata("user_walk").get("billing") or {}
    assert eventually(published, lambda b: b.get("features") == active["features"])["access"] is True
    token = flask(tmp_path, "token", "--user", "user_walk").strip()
    assert jwt.decode(token, options={"verify_signature": False})["billing"]["plan"] == "prod_demo_unlimited"
    first_period_end = active["subscription"]["current_period_end"]
    # What the member paid: the first invoice, from the table the webhooks keep.
    [first] = eventually(history, lambda rows: [r["status"] for r in rows] == ["paid"])
    assert first["kind"] == "invoice" and first["number"] and first["amount_paid"] > 0
    assert first["hosted_invoice_url"] and first["invoice_pdf"] and first["period"]["end"] == first_period_end

    cancelled = requests.post(f"{server.url}/stripe/subscription/cancel", headers=auth, timeout=10).json()["data"]
    assert cancelled["cancel_at_period_end"] is True and membership()["access"] is True
    resumed = requests.post(f"{server.url}/stripe/subscription/resume", headers=auth, timeout=10).json()["data"]
    assert resumed["cancel_at_period_end"] is False

    printed = flask(tmp_path, "stripe", "clock", "--days", "31")
    assert re.search(r"renew", printed, re.I), printed
    renewed = eventually(membership, lambda m: (m["subscription"]["current_period_end"] or 0) > first_period_end)
    assert renewed["status"] == "active" and renewed["subscription"]["current_period_end"] > first_period_end
    # The renewal's invoice, newest first, billing the period that starts where the first one ended.
    rows = eventually(history, lambda rows: [r["status"] for r in rows] == ["paid", "paid"])
    assert [r["status"] for r in rows] == ["paid", "paid"] and rows[1]["id"] == first["id"]
    assert rows[0]["period"]["start"] == first_period_end and rows[0]["created"] > first["created"]

    flask(tmp_path, "stripe", "clock", "--days", "40", "--decline")
    ended = eventually(membership, lambda m: m["status"] == "canceled", seconds=20)
    assert ended["status"] == "canceled" and ended["access"] is False and ended["features"] == []
    assert eventually(published, lambda b: b.get("status") == "canceled") == {
        "status": "canceled", "access": False, "plan": "prod_demo_unlimited", "features": [],
        "current_period_end": ended["subscription"]["current_period_end"]}
    # The declined renewal stays in the history as Stripe left it: open, nothing paid.
    rows = eventually(history, lambda rows: len(rows) == 3)
    assert rows[0]["status"] == "open" and rows[0]["amount_paid"] == 0 and rows[0]["amount_due"] > 0

    portal = requests.post(f"{server.url}/stripe/portal-session", headers=auth, timeout=10)
    assert portal.status_code == 201 and "/dev/portal/" in portal.json()["data"]["url"]
    logs = server.logs()
    assert "Traceback" not in logs, logs[-3000:]
