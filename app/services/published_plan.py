"""The plan where every service can read it: each user's billing state in Clerk's `public_metadata.billing`.

Whatever writes a user's subscription or features row stages the state afterwards (`stage`): it
takes a stamp, *then* reads the user's rows from the store, and the outbox keeps the state with
the greatest stamp (compared in the database). A stamp taken later was taken after every write
that finished before it, so the staged state is never older than what it replaces. Staging is all
a webhook or a purchase does: no call to Clerk, so a dead Clerk never slows or fails them.

Sending (`send_due`) leases the due rows, smallest stamp first, sends each one's state with
Clerk's SDK, and records it as sent; a failure is retried with exponential backoff. The lease
lets one sender at a time hold a user's row, and outlives the SDK's timeout, so two sends for a
user never cross and Clerk never ends with an older state than one it took later. A state
staged while a send is in flight is sent right after it.

Who sends: one background thread per gunicorn worker process (`start`, from wsgi.post_worker_init),
woken at once by `stage` and otherwise every `idle_seconds`, so retries happen without traffic. Under gunicorn's gevent workers
the thread is a greenlet (threading is monkey-patched) and its HTTP call yields like any other, so
it never holds a request; it is started in the worker itself (after the fork), never in the
master. Sending at the end of the request instead (a teardown callback) would still need a
periodic retry for failures, and would hold the worker's greenlet for Clerk's timeout when Clerk
hangs; the thread needs neither. `flask stripe sync` sends every pending row too.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import uuid
import weakref
from typing import Callable

from app.gateways.clerk_metadata import ClerkMetadata, PublishFailed
from app.metrics import CLERK_OUTBOX_PENDING, CLERK_PUBLISH_LAG, CLERK_PUBLISHES
from app.services.subscriptions import SubscriptionSync
from app.stores.base import Store

log = logging.getLogger(__name__)


class PlanPublisher:
    """Stages users' billing states in the outbox and sends them to Clerk, in order, retried with backoff."""

    def __init__(self, store: Store, subscriptions: SubscriptionSync, clerk: ClerkMetadata, *,
                 clock: Callable[[], float] = time.time, lease_seconds: float = 60.0, batch: int = 50,
                 idle_seconds: float = 5.0, backoff_seconds: float = 2.0, max_backoff_seconds: float = 600.0,
                 background: bool = True):
        self.store, self.subscriptions, self.clerk, self.clock = store, subscriptions, clerk, clock
        self.lease_seconds, self.batch, self.idle_seconds = lease_seconds, batch, idle_seconds
        self.backoff_seconds, self.max_backoff_seconds = backoff_seconds, max_backoff_seconds
        self.background = background
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._pid: int | None = None
        self._start_lock = threading.Lock()

    # --- staging: in the writer's request, a few store calls and nothing else ---------------------
    def stage(self, clerk_user_id: str) -> bool:
        """Put the user's billing state, read from the store now, in the outbox; True when it was newer."""
        stamp = self.store.next_stamp()  # before the read: see the module's docstring
        state = billing_state(self.subscriptions, clerk_user_id)
        staged = self.store.save_outbox(clerk_user_id, state, stamp, self.clock())
        if staged and self.background:
            self._wake.set()  # the worker's sender, when it runs (start): at once rather than at its next round
        return staged

    # --- sending ----------------------------------------------------------------------------------
    def send_due(self, waiting_too: bool = False) -> int:
        """One pass: lease what is due (`waiting_too`: and what waits out a backoff), send it in stamp order; how
        many rows it settled (sent, or found to have no Clerk user)."""
        token, sent = uuid.uuid4().hex, 0
        for entry in self.store.claim_outbox(self.clock(), token, self.lease_seconds, self.batch, waiting_too):
            try:
                accepted = self.clerk.publish_billing(entry.clerk_user_id, entry.state)
            except PublishFailed as exc:
                delay = min(self.max_backoff_seconds, self.backoff_seconds * 2 ** entry.attempts)
                self.store.mark_outbox_failed(entry.clerk_user_id, token, str(exc), self.clock() + delay)
                CLERK_PUBLISHES.labels("retry").inc()
                log.warning("billing state not published to Clerk; retried in %.0fs", delay,
                            extra={"clerk_user_id": entry.clerk_user_id, "attempts": entry.attempts + 1,
                                   "error": str(exc)})
                continue
            now = self.clock()
            self.store.mark_outbox_sent(entry.clerk_user_id, token, entry.stamp, now)
            CLERK_PUBLISHES.labels("sent" if accepted else "no_user").inc()
            CLERK_PUBLISH_LAG.observe(max(0.0, now - entry.changed_at))
            sent += 1
        CLERK_OUTBOX_PENDING.set(self.store.count_outbox_pending())
        return sent

    def send_all(self) -> tuple[int, int]:
        """Send every pending row, backoffs or not, until a pass settles none (`flask stripe sync`): (how many
        were settled, how many are still pending)."""
        total = 0
        while True:
            sent = self.send_due(waiting_too=True)
            total += sent
            if not sent:
                return total, self.store.count_outbox_pending()

    # --- the worker's sender ------------------------------------------------------------------------
    def start(self) -> None:
        """Run the sender in this process: called by each gunicorn worker after its fork (wsgi.post_worker_init),
        never by a request, a command or the master. It ends with the publisher (it holds it only weakly)."""
        with self._start_lock:
            if self._pid == os.getpid() and self._thread is not None and self._thread.is_alive():
                return
            self._pid = os.getpid()
            self._thread = threading.Thread(target=_send_regularly, args=(weakref.ref(self), self._wake),
                                            name="clerk-outbox", daemon=True)
            self._thread.start()


def _send_regularly(me: "weakref.ref[PlanPublisher]", wake: threading.Event) -> None:
    """The sender's loop: a round when woken by a new state, else every idle_seconds; ends with its publisher."""
    while (publisher := me()) is not None:
        idle = publisher.idle_seconds
        del publisher  # not held while waiting: an app that is let go takes its sender with it
        wake.wait(idle)
        wake.clear()
        if (publisher := me()) is None:
            return
        try:
            while publisher.send_due() == publisher.batch:
                pass  # a full batch settled: more may be due
        except Exception:  # noqa: BLE001 - the store may be down; the next round tries again
            log.exception("the Clerk outbox sender failed a round")
        del publisher


def billing_state(subscriptions: SubscriptionSync, clerk_user_id: str) -> dict:
    """What Clerk's `public_metadata.billing` says of a user: read from the store, never from a cache."""
    current, features = subscriptions.read_membership(clerk_user_id)
    access = current is not None and subscriptions.grants_access(current.status)
    return {"status": current.status if current else "none", "access": access,
            "plan": current.product_id if current else None, "features": features,
            "current_period_end": current.current_period_end if current else None}
