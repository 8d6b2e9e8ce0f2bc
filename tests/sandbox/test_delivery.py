"""The sandbox's webhook deliverer: each event claimed by one deliverer, signed, retried until a 2xx; chaos."""

import json
import random
import threading
import time
from collections import Counter

import pytest

from sandbox.stripe import SandboxStripe
from sandbox.stripe.delivery import BACKOFF, Deliverer
from app.services.webhook_signature import verify_signature

SECRET = "whsec_sandbox_delivery_test_secret"
KEY = {"Authorization": "Bearer sk_test_fake_key_for_tests_only"}


class Endpoint:
    """A webhook endpoint that checks each signature and remembers what it took (2xx), thread-safe."""

    def __init__(self, answers=None):
        self.arrived: list[str] = []
        self.answers = answers  # a list of statuses (or exceptions) to give first, then 200
        self._lock = threading.Lock()

    def __call__(self, body: bytes, headers: dict) -> int:
        verify_signature(body, headers["Stripe-Signature"], (SECRET,), tolerance=300)
        with self._lock:
            answer = self.answers.pop(0) if self.answers else 200
            if isinstance(answer, Exception):
                raise answer
            if 200 <= answer < 300:
                self.arrived.append(json.loads(body)["id"])
        return answer


def customers(fake, n):
    for i in range(n):
        assert fake.handle("POST", "/v1/customers", f"name=C{i}", KEY)[0] == 200
    return [e["id"] for e in fake.events()]


def test_two_deliverers_on_one_file_deliver_each_event_once(tmp_path):
    path = str(tmp_path / "sandbox-stripe.sqlite3")
    ids = customers(SandboxStripe(path), 60)
    endpoint = Endpoint()
    deliverers = [Deliverer(SandboxStripe(path).state, SECRET, endpoint) for _ in range(2)]
    start = threading.Barrier(2)
    counts = []

    def drain(deliverer):
        start.wait()
        done = 0
        while deliverer.pending():
            done += deliverer.deliver_pending()
        counts.append(done)

    threads = [threading.Thread(target=drain, args=(d,)) for d in deliverers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(endpoint.arrived) == sorted(ids) and len(endpoint.arrived) == 60  # each exactly once
    assert sum(counts) == 60


def test_a_failed_post_is_retried_later_with_backoff_until_a_2xx():
    fake = SandboxStripe()
    (event_id,) = customers(fake, 1)
    now = [time.time() + 1]  # queued by real time a moment ago
    endpoint = Endpoint(answers=[500, ConnectionError("refused")])
    deliverer = Deliverer(fake.state, SECRET, endpoint, clock=lambda: now[0])
    assert deliverer.deliver_pending() == 0 and deliverer.pending() == 1
    assert deliverer.deliver_pending() == 0  # not due again yet
    now[0] += BACKOFF[0]
    assert deliverer.deliver_pending() == 0  # the connection is refused this time
    now[0] += BACKOFF[1] - 0.5
    assert deliverer.deliver_pending() == 0 and endpoint.arrived == []
    now[0] += 0.5
    assert deliverer.deliver_pending() == 1 and endpoint.arrived == [event_id] and deliverer.pending() == 0
    attempts, error = fake.state.query("SELECT attempts, last_error FROM stripe_deliveries")[0]
    assert (attempts, error) == (3, None)


def test_after_three_days_of_failures_it_gives_up():
    fake = SandboxStripe()
    customers(fake, 1)
    now = [time.time() + 1]
    deliverer = Deliverer(fake.state, SECRET, Endpoint(answers=[503] * 100), clock=lambda: now[0])
    deliverer.deliver_pending()
    assert deliverer.pending() == 1
    now[0] += 3 * 86400
    deliverer.deliver_pending()
    assert deliverer.pending() == 0
    assert fake.state.query("SELECT state, last_error FROM stripe_deliveries") == [("failed", "HTTP 503")]


def test_a_claim_held_by_a_dead_deliverer_is_taken_after_its_lease():
    now = [2_000_000_000.0]
    fake = SandboxStripe()
    customers(fake, 3)
    dead = Deliverer(fake.state, SECRET, clock=lambda: now[0])
    assert len(dead.claim()) == 3  # and then it dies without posting
    endpoint = Endpoint()
    alive = Deliverer(fake.state, SECRET, endpoint, clock=lambda: now[0])
    assert alive.deliver_pending() == 0
    now[0] += 31
    assert alive.deliver_pending() == 3 and len(endpoint.arrived) == 3


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_chaos_duplicates_and_reorders_but_delivers_every_event(seed):
    now = [2_000_000_000.0]
    fake = SandboxStripe()
    ids = customers(fake, 40)
    endpoint = Endpoint()
    deliverer = Deliverer(fake.state, SECRET, endpoint, mode="chaos", clock=lambda: now[0], rng=random.Random(seed))
    for _ in range(50):
        deliverer.deliver_pending()
        now[0] += 0.5
    assert deliverer.pending() == 0
    arrived = Counter(endpoint.arrived)
    assert set(arrived) == set(ids)  # at least once each
    assert sum(arrived.values()) > len(ids)  # some twice
    first_arrivals = list(dict.fromkeys(endpoint.arrived))
    assert first_arrivals != ids  # not in the order they happened
    normal = Endpoint()
    fresh = SandboxStripe()
    ordered = customers(fresh, 40)
    Deliverer(fresh.state, SECRET, normal).deliver_pending()
    Deliverer(fresh.state, SECRET, normal).deliver_pending()
    assert normal.arrived == ordered  # in normal mode: once each, in order


def test_the_background_thread_delivers_what_is_recorded_while_it_runs():
    fake = SandboxStripe()
    endpoint = Endpoint()
    deliverer = Deliverer(fake.state, SECRET, endpoint, poll=0.01)
    deliverer.start()
    try:
        ids = customers(fake, 5)
        for _ in range(500):
            if len(endpoint.arrived) == 5:
                break
            threading.Event().wait(0.01)
    finally:
        deliverer.stop()
    assert endpoint.arrived == ids


def test_an_unknown_mode_is_refused():
    with pytest.raises(ValueError):
        Deliverer(SandboxStripe().state, SECRET, mode="fast")
