"""The embedded store: the shared Store contract, and atomic claims across processes."""

import multiprocessing

import pytest

from app.stores.base import ClaimOutcome, StoreUnavailable
from app.stores.sqlite import SQLiteStore
from tests.stores_contract import StoreContract


class TestSQLiteStore(StoreContract):
    @pytest.fixture
    def store(self, tmp_path):
        store = SQLiteStore(str(tmp_path / "db.sqlite3"))
        yield store
        store.close()


def _claim_event(path, barrier, results, index):
    store = SQLiteStore(path)
    barrier.wait()
    results[index] = store.claim_event("evt_shared", "customer.created", f"proc-{index}", 30).outcome.value


def _claim_customer(path, barrier, results, index):
    store = SQLiteStore(path)
    barrier.wait()
    results[index] = store.claim_customer("user_shared", f"proc-{index}", 30).owned


@pytest.mark.parametrize("target, winner", [(_claim_event, ClaimOutcome.CLAIMED.value), (_claim_customer, True)])
def test_claims_are_atomic_across_processes(tmp_path, target, winner):
    """Like gunicorn workers: separate processes, one database file, one winner."""
    path = str(tmp_path / "shared.sqlite3")
    SQLiteStore(path)  # schema first, as the gunicorn master does with preload_app
    context = multiprocessing.get_context("fork")
    count = 8
    barrier = context.Barrier(count)
    results = context.Manager().list([None] * count)
    processes = [context.Process(target=target, args=(path, barrier, results, i)) for i in range(count)]
    for process in processes:
        process.start()
    for process in processes:
        process.join(30)
    assert all(p.exitcode == 0 for p in processes)
    assert list(results).count(winner) == 1


def test_connection_opened_before_a_fork_is_not_reused_after(tmp_path):
    store = SQLiteStore(str(tmp_path / "db.sqlite3"))
    store.ping()
    context = multiprocessing.get_context("fork")
    queue = context.Queue()

    def child():
        claim = store.claim_event("evt_after_fork", "x.y", "child", 30)
        queue.put(claim.outcome.value)

    process = context.Process(target=child)
    process.start()
    process.join(10)
    assert queue.get(timeout=5) == "claimed"
    assert store.get_event("evt_after_fork").claim_token == "child"


def test_unopenable_database_is_store_unavailable(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises((StoreUnavailable, OSError)):
        SQLiteStore(str(blocker / "db.sqlite3"))
