"""At most N Stripe calls in flight per process; past that, a fast 502 with Retry-After, not a queue."""

import threading
import time

import pytest

from app.gateways.bounded import BoundedGateway
from app.services.errors import UpstreamBusy


class HangingGateway:
    name = "hanging"

    def __init__(self):
        self.release = threading.Event()
        self.in_flight = self.most = 0
        self.lock = threading.Lock()

    def get_customer(self, customer_id):
        with self.lock:
            self.in_flight += 1
            self.most = max(self.most, self.in_flight)
        self.release.wait(10)
        with self.lock:
            self.in_flight -= 1
        return {"id": customer_id}


def test_calls_past_the_cap_fail_fast_with_retry_after():
    hanging = HangingGateway()
    bounded = BoundedGateway(hanging, limit=3, wait=0.05)
    outcomes = []

    def call(i):
        started = time.monotonic()
        try:
            bounded.get_customer(f"cus_{i}")
            outcomes.append(("ok", time.monotonic() - started))
        except UpstreamBusy as exc:
            outcomes.append(("busy", time.monotonic() - started, exc.retry_after))

    threads = [threading.Thread(target=call, args=(i,)) for i in range(10)]
    for thread in threads:
        thread.start()
    time.sleep(0.5)
    busy = [o for o in outcomes if o[0] == "busy"]
    assert len(busy) == 7 and all(seconds < 0.3 and retry >= 1 for _, seconds, retry in busy)
    assert hanging.most == 3
    hanging.release.set()
    for thread in threads:
        thread.join(5)
    assert [o[0] for o in outcomes].count("ok") == 3


def test_slots_come_back_after_each_call_even_a_failing_one():
    class FailsThenWorks:
        name = "flaky"
        calls = 0

        def get_customer(self, customer_id):
            self.calls += 1
            if self.calls <= 10:
                raise ValueError("boom")
            return {"id": customer_id}

    bounded = BoundedGateway(FailsThenWorks(), limit=2, wait=0.01)
    for _ in range(10):
        with pytest.raises(ValueError):
            bounded.get_customer("cus_1")
    # Had a failing call kept its slot, the third call on would be refused as busy.
    assert [bounded.get_customer(f"cus_{i}")["id"] for i in range(5)] == [f"cus_{i}" for i in range(5)]
