"""GET /stripe/subscription reads each user's rows once, until the sync that writes subscriptions (in any
process sharing the store) says they changed."""

import os

from app import create_app
from app.stores.sqlite import SQLiteStore
from tests.api.test_billing import MONTHLY, buy, billing_config  # noqa: F401 - the fixture
from tests.conftest import with_config


class CountingStore:
    """The SQLite store, counting the reads of subscription rows. `opaque`: the app cannot tell it is SQLite
    (as with Supabase), so it has no generation to share."""

    def __init__(self, store: SQLiteStore, opaque: bool = False):
        self.reads = 0
        self.__dict__["inner" if opaque else "store"] = store

    def __getattr__(self, name):
        if name == "list_subscriptions":
            self.reads += 1
        return getattr(self.__dict__.get("store") or self.__dict__["inner"], name)


def test_rows_are_read_once_until_another_worker_writes(billing_config, auth_headers, sandbox_stripe,
                                                        signed_webhook):
    counting = CountingStore(SQLiteStore(billing_config.sqlite_path))
    worker_a = create_app(billing_config, store=counting).test_client()
    worker_b = create_app(billing_config).test_client()  # another process's view: the same file, its own memory
    auth = auth_headers("user_member")
    buy(worker_b, auth, sandbox_stripe, signed_webhook, price=MONTHLY)

    reads = [worker_a.get("/stripe/subscription", headers=auth).json["data"] for _ in range(5)]
    assert counting.reads == 1 and all(r["access"] and r["subscription"]["cancel_at_period_end"] is False for r in reads)

    assert worker_b.post("/stripe/subscription/cancel", headers=auth).status_code == 200  # B's sync writes
    after = worker_a.get("/stripe/subscription", headers=auth).json["data"]
    assert counting.reads == 2 and after["subscription"]["cancel_at_period_end"] is True
    assert worker_a.get("/stripe/subscription", headers=auth_headers("user_other")).json["data"]["status"] == "none"


def test_without_a_shared_generation_every_read_goes_to_the_store(billing_config, auth_headers, sandbox_stripe):
    store = CountingStore(SQLiteStore(billing_config.sqlite_path), opaque=True)  # Supabase without Redis
    client = create_app(billing_config, store=store).test_client()
    for _ in range(3):
        client.get("/stripe/subscription", headers=auth_headers())
    assert store.reads == 3


def test_a_forked_process_sees_a_bump_at_once(tmp_path):
    from app.services.shared_version import FileVersion

    generation = FileVersion(str(tmp_path / "g"))
    assert generation.current() == 0
    pid = os.fork()
    if pid == 0:
        try:
            FileVersion(str(tmp_path / "g")).bump()  # a `flask` command opening the file on its own
            generation.bump()                            # and a forked worker using the inherited mapping
        finally:
            os._exit(0)
    os.waitpid(pid, 0)
    assert generation.current() == 2


def test_redis_carries_the_generation_between_instances(billing_config, redis_server, auth_headers,
                                                        sandbox_stripe, signed_webhook):
    config = with_config(billing_config, redis_url=redis_server.url)
    one = create_app(config).test_client()
    other = create_app(with_config(config, instance_path=billing_config.instance_path)).test_client()
    auth = auth_headers("user_redis")
    buy(one, auth, sandbox_stripe, signed_webhook, price=MONTHLY)
    assert other.get("/stripe/subscription", headers=auth).json["data"]["access"] is True
    one.post("/stripe/subscription/cancel", headers=auth)
    assert other.get("/stripe/subscription", headers=auth).json["data"]["subscription"]["cancel_at_period_end"] is True
