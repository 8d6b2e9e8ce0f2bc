"""`make load`: mixed traffic against the app under gunicorn, then an audit of what it did.

Catalog reads, customer calls (many users, repeated) and webhook deliveries (Stripe's, and a quarter
Clerk's user.updated/user.created for the same users, Svix-signed) with duplicates
and bursts of parallel deliveries of the same event, for a set time; then every event that
never got a 200 is redelivered (as Stripe would), and the audit counts events lost (never
processed) and processed twice (the handler's log line seen more than once), and users with
other than one customer. Exits non-zero unless errors, lost and twice are all zero.
"""

from __future__ import annotations

import argparse
import collections
import json
import random
import re
import runpy
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import jwt
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from sandbox.compose import STATE_FILE
from sandbox.stripe import SandboxStripe
from sandbox.sample_events import sample_clerk_event, sample_event, svix_headers
from app.services.webhook_signature import sign_header
from tests.conftest import fake_svix_secret
from tests.servers import Gunicorn

SECRET = "whsec_load_test_secret_not_real"
CLERK_SECRET = fake_svix_secret("load-test-clerk-secret-not-real")
CLERK_SHARE = 0.25  # of new webhook events: Clerk user events, for the load's users
OK = {"catalog": {200}, "customer": {200, 201}, "webhook": {200, 409},
      # a member who already has a plan is told so (409); the sandbox's checkout page answers the payment with 303
      "purchase": {200, 201, 303, 409}}
PLANS = ("price_demo_unlimited_monthly", "price_demo_fundamentals_monthly", "price_demo_kids_monthly")


class Load:
    def __init__(self, url: str, users: int, private_key):
        self.url = url
        now = int(time.time())
        self.tokens = [jwt.encode({"sub": f"user_load_{i}", "exp": now + 3600, "iat": now}, private_key,
                                  algorithm="RS256", headers={"kid": "load"}) for i in range(users)]
        self.sent: dict[str, int] = {}           # event id -> how many 200s it got
        self.bodies: dict[str, bytes] = {}
        self.latencies: dict[str, list[float]] = collections.defaultdict(list)
        self.statuses: collections.Counter = collections.Counter()
        self.errors: collections.Counter = collections.Counter()
        self.paid = 0
        self.lock = threading.Lock()

    def _record(self, kind: str, started: float, status: int) -> None:
        with self.lock:
            self.latencies[kind].append(time.perf_counter() - started)
            self.statuses[(kind, status)] += 1
            if status not in OK[kind]:
                self.errors[(kind, status)] += 1

    def catalog(self, session: requests.Session) -> None:
        path = random.choice(["/stripe/products", "/stripe/products?limit=3", "/stripe/prices?type=recurring",
                              "/stripe/prices?product=prod_demo_kids", "/stripe/products/prod_demo_unlimited"])
        started = time.perf_counter()
        response = session.get(self.url + path, headers={"Authorization": f"Bearer {random.choice(self.tokens)}"})
        self._record("catalog", started, response.status_code)

    def customer(self, session: requests.Session) -> None:
        started = time.perf_counter()
        response = session.post(self.url + "/stripe/customer",
                                headers={"Authorization": f"Bearer {random.choice(self.tokens)}"})
        self._record("customer", started, response.status_code)

    def purchase(self, session: requests.Session) -> None:
        """A member buys a plan on the web and pays on the sandbox's checkout page: its webhooks (delivered by
        the sandbox to this server) write the membership, which is published to the sandbox's Clerk."""
        token = random.choice(self.tokens)
        started = time.perf_counter()
        response = session.post(self.url + "/stripe/checkout-session", json={"price_id": random.choice(PLANS)},
                                headers={"Authorization": f"Bearer {token}"})
        self._record("purchase", started, response.status_code)
        if response.status_code in (200, 201):
            started = time.perf_counter()
            paid = session.post(f"{self.url}/dev/checkout/{response.json()['data']['id']}/pay", allow_redirects=False)
            self._record("purchase", started, paid.status_code)
            if paid.status_code == 303:
                with self.lock:
                    self.paid += 1

    def webhook(self, session: requests.Session, event_id: str | None = None) -> None:
        with self.lock:
            if event_id is None and self.bodies and random.random() < 0.3:
                event_id = random.choice(list(self.bodies))  # a duplicate delivery
            if event_id is None and random.random() < CLERK_SHARE:
                # A change of one of the load's users in Clerk: written to their customer when they have one.
                event = sample_clerk_event(random.choice(["user.updated", "user.created"]),
                                           user_id=f"user_load_{random.randrange(len(self.tokens))}")
                event_id = f"clerk:msg_load{uuid.uuid4().hex}"
                self.bodies[event_id] = json.dumps(event).encode()
                self.sent.setdefault(event_id, 0)
            elif event_id is None:
                event = sample_event(random.choice(["customer.created", "invoice.payment_succeeded",
                                                    "customer.subscription.updated", "checkout.session.completed"]))
                event_id = event["id"]
                self.bodies[event_id] = json.dumps(event).encode()
                self.sent.setdefault(event_id, 0)
            body = self.bodies[event_id]
        started = time.perf_counter()
        if event_id.startswith("clerk:"):
            headers = svix_headers(body, CLERK_SECRET, message_id=event_id.removeprefix("clerk:"))
            response = session.post(self.url + "/webhooks/clerk", data=body,
                                    headers={**headers, "Content-Type": "application/json"})
        else:
            response = session.post(self.url + "/webhooks/stripe", data=body,
                                    headers={"Stripe-Signature": sign_header(body, SECRET),
                                             "Content-Type": "application/json"})
        self._record("webhook", started, response.status_code)
        if response.status_code == 200:
            with self.lock:
                self.sent[event_id] += 1

    def burst(self) -> None:
        """Ten parallel deliveries of one new event, like Stripe retrying while we are slow."""
        event = sample_event("customer.updated")
        with self.lock:
            self.bodies[event["id"]] = json.dumps(event).encode()
            self.sent[event["id"]] = 0
        threads = [threading.Thread(target=self.webhook, args=(requests.Session(), event["id"])) for _ in range(10)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    def worker(self, deadline: float) -> None:
        session = requests.Session()
        while time.monotonic() < deadline:
            roll = random.random()
            try:
                if roll < 0.6:
                    self.catalog(session)
                elif roll < 0.72:
                    self.customer(session)
                elif roll < 0.75:
                    self.purchase(session)
                elif roll < 0.995:
                    self.webhook(session)
                else:
                    self.burst()
            except requests.RequestException as exc:
                with self.lock:
                    self.errors[("transport", type(exc).__name__)] += 1


def percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] if len(values) > 1 else values[0]


METRICS_TOKEN = "load-test-metrics-token-not-secret"


def metric(scrape: str, name: str) -> float:
    """The sum of every series of `name` in a Prometheus text scrape (0 when absent)."""
    return sum(float(line.rsplit(" ", 1)[1]) for line in scrape.splitlines()
               if line.startswith(name + " ") or line.startswith(name + "{"))


def lag_bucket(scrape: str, q: float) -> str:
    """The smallest publish-lag bucket holding the q-quantile of the observations, as "<= N s"."""
    buckets = []
    for line in scrape.splitlines():
        found = re.match(r'tatame_clerk_publish_lag_seconds_bucket\{.*le="([^"]+)".*\} (\S+)', line)
        if found:
            buckets.append((float(found.group(1)), float(found.group(2))))
    by_bound: dict[float, float] = collections.defaultdict(float)
    for bound, count in buckets:
        by_bound[bound] += count
    total = by_bound.get(float("inf"), 0)
    for bound in sorted(by_bound):
        if total and by_bound[bound] >= q * total:
            return f"<= {bound:g} s"
    return "n/a"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=20.0)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--workers", type=int, default=None, help="default: gunicorn.conf.py's")
    args = parser.parse_args()

    if args.workers is None:
        args.workers = runpy.run_path(str(Path(__file__).resolve().parents[2] / "gunicorn.conf.py"))["workers"]
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = key.public_key().public_bytes(serialization.Encoding.PEM,
                                           serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    folder = Path(tempfile.mkdtemp(prefix="tatame-load-"))
    server = Gunicorn({"STRIPE_SECRET_KEY": "", "STRIPE_WEBHOOK_SECRET": SECRET, "CLERK_JWT_KEY": public,
                       "CLERK_WEBHOOK_SECRET": CLERK_SECRET,
                       "SUPABASE_URL": "", "SUPABASE_SERVICE_ROLE_KEY": "", "REDIS_URL": "",
                       "GUNICORN_ACCESS_LOG": "", "METRICS_TOKEN": METRICS_TOKEN}, folder, workers=args.workers)
    try:
        load = Load(server.url, args.users, key)
        print(f"load: {args.clients} clients for {args.duration:.0f} s against gunicorn "
              f"({args.workers} workers) at {server.url}", flush=True)
        started = time.monotonic()
        threads = [threading.Thread(target=load.worker, args=(started + args.duration,)) for _ in range(args.clients)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.monotonic() - started
        # Stripe redelivers until it gets a 2xx: so do we, for every event that never got one.
        session = requests.Session()
        for _ in range(30):
            pending = [event_id for event_id, oks in load.sent.items() if oks == 0]
            if not pending:
                break
            for event_id in pending:
                load.webhook(session, event_id)
            time.sleep(0.2)
        # The purchases' plans reach Clerk after their webhooks: wait (at most 15 s) for the outbox to drain.
        for _ in range(75):
            scrape = requests.get(f"{server.url}/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"},
                                  timeout=10).text
            drained = metric(scrape, "tatame_clerk_outbox_pending") == 0
            if drained and metric(scrape, "tatame_clerk_publish_lag_seconds_count"):
                break
            time.sleep(0.2)
        (folder / "metrics.txt").write_text(scrape)
        logs = server.logs()
    finally:
        server.stop()

    handled = collections.Counter(re.findall(r'"event_id": "((?:evt_|clerk:)[A-Za-z0-9_:-]+)"', logs))
    store = sqlite3.connect(folder / "tatame.sqlite3")
    processed = {row[0] for row in store.execute(
        "SELECT stripe_event_id FROM stripe_webhook_events WHERE status = 'processed'")}
    lost = [event_id for event_id in load.sent if event_id not in processed]
    twice = [event_id for event_id in load.sent if handled[event_id] > 1]
    # Every customer the development server's sandbox's Stripe made, from the state file its workers share.
    made = SandboxStripe(str(folder / STATE_FILE)).state.all("customer")
    per_user = collections.Counter(customer["metadata"]["clerk_user_id"] for customer, _ in made)
    extra_customers = sum(count - 1 for count in per_user.values() if count > 1)

    total = sum(load.statuses.values())
    everything = [v for values in load.latencies.values() for v in values]
    print(f"\n{'kind':<10}{'requests':>10}{'p50 ms':>10}{'p99 ms':>10}   statuses")
    for kind in ("catalog", "customer", "purchase", "webhook"):
        values = load.latencies[kind]
        statuses = {status: n for (k, status), n in sorted(load.statuses.items()) if k == kind}
        print(f"{kind:<10}{len(values):>10}{percentile(values, 50) * 1000:>10.1f}"
              f"{percentile(values, 99) * 1000:>10.1f}   {statuses}")
    print(f"{'all':<10}{total:>10}{percentile(everything, 50) * 1000:>10.1f}{percentile(everything, 99) * 1000:>10.1f}"
          f"   {total / elapsed:.0f} requests/s over {elapsed:.1f} s")
    print(f"\nerrors: {sum(load.errors.values())} {dict(load.errors) if load.errors else ''}")
    clerk = [event_id for event_id in load.sent if event_id.startswith("clerk:")]
    print(f"events: {len(load.sent)} distinct ({len(clerk)} Clerk's), "
          f"{sum(load.statuses[('webhook', s)] for s in (200, 409))} deliveries; "
          f"lost: {len(lost)} ({len([e for e in lost if e in clerk])} Clerk's); processed twice: {len(twice)}")
    print(f"customers: {len(per_user)} users, extra Stripe customers: {extra_customers}")
    published = metric(scrape, "tatame_clerk_publish_lag_seconds_count")
    lag_sum = metric(scrape, "tatame_clerk_publish_lag_seconds_sum")
    print(f"plans published to Clerk: {published:.0f} (from {load.paid} paid checkouts), mean lag "
          f"{(lag_sum / published * 1000 if published else 0):.0f} ms, p99 at most {lag_bucket(scrape, 0.99)}; "
          f"still pending: {metric(scrape, 'tatame_clerk_outbox_pending'):.0f}")
    print(f"\n/metrics after the run ({folder / 'metrics.txt'}), counts only:")
    for line in scrape.splitlines():
        if line.startswith("tatame_") and ("_total{" in line or "_count{" in line):
            print("  " + line)
    return 0 if not load.errors and not lost and not twice and not extra_customers else 1


if __name__ == "__main__":
    sys.exit(main())
