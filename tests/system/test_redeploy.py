"""A redeploy loses nothing: SIGTERM mid-burst, and every delivery answered 2xx was processed exactly once.

Railway stops the old deployment with SIGTERM. gunicorn then stops accepting, lets the requests in flight
finish within graceful_timeout and exits; what it no longer takes is refused (a connection error, or
anything but a 2xx), so Stripe delivers it again later. What must never happen: a 2xx for an event that
was not recorded as processed, or a handler run twice.
"""

import json
import signal
import threading
import time
from collections import Counter

import requests

from app.services.webhook_signature import sign_header
from app.stores.sqlite import SQLiteStore
from tests.conftest import WEBHOOK_SECRET, make_event

DELIVERIES = 60
GRACEFUL_TIMEOUT = 20  # gunicorn.conf.py
MARGIN = 5


def deliver(url: str, event: dict) -> int | str:
    """The status of one signed delivery, or the name of the connection error that stood in for one."""
    body = json.dumps(event).encode()
    try:
        return requests.post(f"{url}/webhooks/stripe", data=body, timeout=GRACEFUL_TIMEOUT + MARGIN, headers={
            "Stripe-Signature": sign_header(body, WEBHOOK_SECRET), "Content-Type": "application/json"}).status_code
    except requests.RequestException as exc:
        return type(exc).__name__


def test_sigterm_mid_burst_loses_no_acknowledged_delivery(start_gunicorn, tmp_path):
    server = start_gunicorn(workers=2)
    events = [make_event("customer.created") for _ in range(DELIVERIES)]
    answers: list = [None] * DELIVERIES
    sent_at: list = [None] * DELIVERIES
    answered_at: list = [None] * DELIVERIES
    answered = threading.Semaphore(0)

    def send(i: int) -> None:
        # Spread over 3 s, so that SIGTERM lands among them and the last ones come after the workers closed.
        time.sleep(i * 0.05)
        sent_at[i] = time.monotonic()
        answers[i] = deliver(server.url, events[i])
        answered_at[i] = time.monotonic()
        answered.release()

    threads = [threading.Thread(target=send, args=(i,)) for i in range(DELIVERIES)]
    for thread in threads:
        thread.start()
    for _ in range(DELIVERIES // 4):
        assert answered.acquire(timeout=30), "the server never answered"
    while not any(sent is not None and at is None for sent, at in zip(sent_at, answered_at)):
        time.sleep(0.001)  # until a delivery is on its way
    server.process.send_signal(signal.SIGTERM)  # part-way: some answered, some in flight, some not yet sent
    terminated = time.monotonic()
    server.process.wait(GRACEFUL_TIMEOUT + MARGIN)
    exited_after = time.monotonic() - terminated
    for thread in threads:
        thread.join(GRACEFUL_TIMEOUT + MARGIN)

    assert exited_after < GRACEFUL_TIMEOUT + MARGIN and server.process.returncode == 0
    assert None not in answers
    store = SQLiteStore(str(tmp_path / "tatame.sqlite3"))
    runs = Counter(line.split()[0] for line in (tmp_path / "handler.log").read_text().splitlines())
    acknowledged = [e["id"] for e, answer in zip(events, answers) if isinstance(answer, int) and answer < 300]
    others = [e["id"] for e, answer in zip(events, answers) if not (isinstance(answer, int) and answer < 300)]
    for event_id in acknowledged:
        row = store.get_event(event_id)
        assert row is not None and row.status == "processed", (event_id, row)
        assert runs[event_id] == 1, (event_id, runs[event_id])
    for event_id in others:
        row = store.get_event(event_id)
        assert row is None or row.status != "processed", (event_id, row)
    # Nothing was cut off mid-way: every handler that started was let finish, and its delivery answered 2xx.
    assert set(runs) == set(acknowledged) and max(runs.values()) == 1
    # Both sides of the cut were exercised: a delivery in flight at SIGTERM answered 2xx, and later ones refused.
    assert any(answer == 200 and sent < terminated < at for answer, sent, at in zip(answers, sent_at, answered_at))
    assert DELIVERIES // 4 <= len(acknowledged) < DELIVERIES, Counter(map(str, answers))
    logs = server.logs()
    assert "Traceback" not in logs and "graceful timeout" not in logs.lower(), logs[-3000:]
