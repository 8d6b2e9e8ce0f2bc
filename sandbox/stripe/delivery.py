"""Webhook deliveries from the sandbox's Stripe to the app, made as Stripe makes them: signed, retried, at least once.

Every recorded event is queued (`stripe_deliveries`, beside the objects in the state file). A
`Deliverer` claims due deliveries atomically (a lease in the row, taken under SQLite's write lock:
every gunicorn worker runs one, and each delivery goes to one of them at a time), posts each with
a `Stripe-Signature`, marks it delivered on a 2xx and otherwise tries again later with backoff, for
up to three days, as Stripe does. In `chaos` mode it also duplicates, reorders and delays some
deliveries, so the app's exactly-once handling can be watched.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from typing import Callable

import requests

from sandbox.stripe.state import State
from app.services.webhook_signature import sign_header

log = logging.getLogger(__name__)

MODES = ("normal", "chaos")
POLL = 0.2           # seconds between looks at the queue
BATCH = 20           # deliveries claimed at once
LEASE = 30.0         # seconds a claim holds; a worker that died mid-post loses its claim after this
TIMEOUT = 10.0       # seconds per post; Stripe waits a little longer, but the app answers in milliseconds
BACKOFF = (1, 2, 5, 10, 30, 60)  # seconds before each retry (the last repeats): Stripe's backoff, compressed
GIVE_UP = 3 * 86400  # Stripe stops retrying an event after three days
KEEP_DONE = 86400    # delivered (or abandoned) rows are forgotten a day later

Poster = Callable[[bytes, dict], int]  # (body, headers) -> HTTP status; may raise on a connection error


def http_poster(url: str) -> Poster:
    """A poster that sends deliveries over HTTP to `url` (the app's own /webhooks/stripe)."""
    session = requests.Session()

    def post(body: bytes, headers: dict) -> int:
        return session.post(url, data=body, headers=headers, timeout=TIMEOUT).status_code

    return post


class Deliverer:
    """Delivers the sandbox's queued events to one endpoint; `deliver_pending` once, or `start` a polling thread."""

    def __init__(self, state: State, secret: str, post: Poster | None = None, *, mode: str = "normal",
                 clock: Callable[[], float] = time.time, rng: random.Random | None = None, poll: float = POLL):
        if mode not in MODES:
            raise ValueError(f"unknown delivery mode {mode!r}")
        self.state, self.secret, self.post, self.mode = state, secret, post, mode
        self.clock, self.rng, self.poll = clock, rng or random.Random(), poll
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def claim(self, limit: int = BATCH) -> list[tuple[int, str, bytes]]:
        """Take up to `limit` due deliveries (seq, event id, body) for LEASE seconds; no other deliverer gets them."""
        now = self.clock()
        due = ("state = 'pending' AND next_attempt <= ? AND (claimed_until IS NULL OR claimed_until < ?)")
        # A read first: most polls find nothing, and a read takes no write lock from the app's requests.
        if not self.state.query(f"SELECT 1 FROM stripe_deliveries WHERE {due} LIMIT 1", (now, now)):
            return []
        with self.state.transaction():
            rows = self.state.query(f"SELECT seq, event_id, body FROM stripe_deliveries WHERE {due}"
                                    " ORDER BY seq LIMIT ?", (now, now, limit))
            for seq, _, _ in rows:
                self.state.execute("UPDATE stripe_deliveries SET claimed_until = ? WHERE seq = ?", (now + LEASE, seq))
            self.state.execute("DELETE FROM stripe_deliveries WHERE state != 'pending' AND recorded < ?",
                               (now - KEEP_DONE,))
        return [(seq, event_id, body.encode()) for seq, event_id, body in rows]

    def deliver_pending(self, post: Poster | None = None) -> int:
        """Claim what is due and post it (through `post`, else the deliverer's own); how many were delivered."""
        post = post or self.post
        if post is None:
            raise ValueError("no poster: give one here or to the Deliverer")
        batch = self.claim()
        if self.mode == "chaos":
            self.rng.shuffle(batch)  # Stripe does not promise order
        delivered = 0
        for seq, event_id, body in batch:
            if self.mode == "chaos" and self._delay(seq):
                continue
            status, error = self._post(post, body)
            if self.mode == "chaos" and self.rng.random() < 0.25:
                self._post(post, body)  # the same event again, as Stripe sometimes sends it
            if status is not None and 200 <= status < 300:
                self.state.execute("UPDATE stripe_deliveries SET state = 'delivered', attempts = attempts + 1,"
                                   " claimed_until = NULL, last_error = NULL WHERE seq = ?", (seq,))
                delivered += 1
            else:
                self._retry_later(seq, event_id, error or f"HTTP {status}")
        return delivered

    def _post(self, post: Poster, body: bytes) -> tuple[int | None, str | None]:
        # Signed at delivery time, as Stripe signs each attempt: the app checks the timestamp against its own clock.
        headers = {"Content-Type": "application/json; charset=utf-8", "User-Agent": "Stripe/1.0 (sandbox)",
                   "Stripe-Signature": sign_header(body, self.secret)}
        try:
            return post(body, headers), None
        except Exception as exc:  # a connection refused or reset, a timeout: the endpoint is down, retry later
            return None, type(exc).__name__

    def _retry_later(self, seq: int, event_id: str, error: str) -> None:
        attempts, recorded = self.state.query("SELECT attempts, recorded FROM stripe_deliveries WHERE seq = ?",
                                              (seq,))[0]
        now = self.clock()
        gave_up = now - recorded > GIVE_UP
        log.warning("webhook delivery of %s failed (%s): %s", event_id, error,
                    "giving up" if gave_up else f"attempt {attempts + 1}, retrying")
        self.state.execute("UPDATE stripe_deliveries SET attempts = attempts + 1, claimed_until = NULL,"
                           " next_attempt = ?, last_error = ?, state = ? WHERE seq = ?",
                           (now + BACKOFF[min(attempts, len(BACKOFF) - 1)], error[:200],
                            "failed" if gave_up else "pending", seq))

    def _delay(self, seq: int) -> bool:
        """Chaos: hold back one delivery in five (once each) for up to two seconds; True when held."""
        if self.rng.random() >= 0.2:
            return False
        held = self.state.execute("UPDATE stripe_deliveries SET delayed = 1, claimed_until = NULL, next_attempt = ?"
                                  " WHERE seq = ? AND delayed = 0", (self.clock() + self.rng.uniform(0.1, 2.0), seq))
        return bool(held)

    def pending(self) -> int:
        """Deliveries not yet made (waiting, in flight or to be retried)."""
        return self.state.query("SELECT count(*) FROM stripe_deliveries WHERE state = 'pending'")[0][0]

    def start(self) -> threading.Thread:
        """Deliver in a background thread (a greenlet under gevent), polling every `poll` seconds."""
        self._thread = threading.Thread(target=self._run, name="sandbox-webhooks", daemon=True)
        self._thread.start()
        return self._thread

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.wait(self.poll):
            try:
                self.deliver_pending()
            except Exception:  # the state file busy past its timeout, say: the next poll tries again
                log.exception("sandbox webhook delivery failed")
