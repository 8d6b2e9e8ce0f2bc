"""The per-instance rate-limit counters: exact across forked workers, honest Retry-After, bounded memory."""

import multiprocessing

import pytest

from app.services.shared_counters import SharedWindowCounters


class Clock:
    def __init__(self, now=1_000_040.0):  # 20 s into a minute window (1_000_020 starts one)
        self.now = now

    def __call__(self):
        return self.now


def test_counts_up_to_the_limit_then_refuses():
    counters = SharedWindowCounters(slots=64, clock=Clock())
    assert [counters.hit("k", 3, 60)[0] for _ in range(5)] == [True, True, True, False, False]
    assert counters.hit("other", 3, 60)[0] is True


@pytest.mark.parametrize("limit, used_before, used_now", [(3, 0, 3), (10, 10, 4), (60, 30, 45), (5, 8, 0)])
def test_retry_after_is_enough_and_not_much_more(limit, used_before, used_now):
    clock = Clock()
    counters = SharedWindowCounters(slots=64, clock=clock)
    clock.now -= 60  # the previous window
    for _ in range(used_before):
        counters.hit("k", 10**6, 60)
    clock.now += 60
    for _ in range(used_now):
        counters.hit("k", 10**6, 60)
    allowed, retry_after = counters.hit("k", limit, 60)
    assert not allowed
    early = SharedWindowCounters(slots=64, clock=Clock(clock.now + retry_after - 1.5))
    early._memory[:] = counters._memory[:]
    clock.now += retry_after
    assert counters.hit("k", limit, 60)[0] is True  # waiting as told is enough
    assert early.hit("k", limit, 60)[0] is False    # and a second and a half less is not: the answer is not padded


def _burst(counters, barrier, results, index):
    barrier.wait()
    results[index] = sum(counters.hit("user_burst", 60, 60)[0] for _ in range(40))


def test_exact_across_forked_processes():
    counters = SharedWindowCounters(slots=256)  # made before the fork, as the app is under gunicorn
    context = multiprocessing.get_context("fork")
    barrier, results = context.Barrier(6), context.Manager().list([0] * 6)
    processes = [context.Process(target=_burst, args=(counters, barrier, results, i)) for i in range(6)]
    for process in processes:
        process.start()
    for process in processes:
        process.join(30)
    assert sum(results) == 60  # 240 attempts from 6 processes, exactly the limit let through


def test_a_flood_of_distinct_keys_cannot_grow_memory():
    counters = SharedWindowCounters(slots=128, clock=Clock())
    size = len(counters._memory)
    for i in range(10_000):
        counters.hit(f"user_{i}", 5, 60)
    assert len(counters._memory) == size
    assert counters.hit("user_fresh", 1, 60)[0] is True


def _hold_the_lock_and_die(counters, ready):
    with counters._locked():
        ready.set()
        import time

        time.sleep(60)  # killed here, lock held


def test_a_worker_killed_while_counting_does_not_freeze_the_others():
    import os
    import signal
    import time

    counters = SharedWindowCounters(slots=64)
    context = multiprocessing.get_context("fork")
    ready = context.Event()
    doomed = context.Process(target=_hold_the_lock_and_die, args=(counters, ready))
    doomed.start()
    assert ready.wait(10)
    os.kill(doomed.pid, signal.SIGKILL)
    doomed.join(10)
    started = time.monotonic()
    assert counters.hit("after", 5, 60)[0] is True  # the kernel released the dead worker's lock
    assert time.monotonic() - started < 1
