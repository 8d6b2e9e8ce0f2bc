"""The catalog cache: hits, one load per miss, invalidation shared by workers, stale copies."""

import threading
import time

import pytest
from cachelib import SimpleCache

from app.services.catalog_cache import HIT, MISS, STALE, CatalogCache
from app.services.shared_version import FileVersion, RedisVersion
from app.services.errors import NotFound, UpstreamError


class Loader:
    def __init__(self, value="v", delay=0.0):
        self.calls, self.value, self.delay = 0, value, delay
        self.lock = threading.Lock()

    def __call__(self):
        with self.lock:
            self.calls += 1
        time.sleep(self.delay)
        if isinstance(self.value, Exception):
            raise self.value
        return self.value


@pytest.fixture
def cache(tmp_path):
    return CatalogCache.build(redis=None, instance_path=str(tmp_path), ttl=60, stale_ttl=600)


def test_miss_then_hit(cache):
    loader = Loader({"data": [1]})
    assert cache.get_or_load(["products", {"limit": 10}], loader) == ({"data": [1]}, MISS)
    assert cache.get_or_load(["products", {"limit": 10}], loader) == ({"data": [1]}, HIT)
    assert cache.get_or_load(["products", {"limit": 3}], loader)[1] == MISS
    assert loader.calls == 2


def test_concurrent_misses_make_one_upstream_call(cache):
    loader = Loader("page", delay=0.1)
    barrier = threading.Barrier(20)
    results = []

    def read():
        barrier.wait()
        results.append(cache.get_or_load(["products", {}], loader))

    threads = [threading.Thread(target=read) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert loader.calls == 1
    assert sorted(source for _, source in results) == [HIT] * 19 + [MISS]
    assert cache._inflight == {}  # nothing left behind


def test_invalidation_reaches_every_worker_sharing_the_version(tmp_path):
    worker_a = CatalogCache(SimpleCache(), FileVersion(tmp_path / "v"), ttl=60)
    worker_b = CatalogCache(SimpleCache(), FileVersion(tmp_path / "v"), ttl=60)
    worker_b.get_or_load("k", Loader("old"))
    assert worker_b.get_or_load("k", Loader("old"))[1] == HIT
    worker_a.invalidate()  # the webhook landed in worker A
    assert worker_b.get_or_load("k", Loader("new")) == ("new", MISS)


def test_versions_differ_even_within_one_clock_tick(tmp_path):
    version = FileVersion(tmp_path / "v")
    seen = {version.current()}
    for _ in range(50):
        version.bump()
        seen.add(version.current())
    assert len(seen) == 51


def test_stripe_failure_serves_the_stale_copy(cache):
    cache.get_or_load("k", Loader("cached"))
    cache.invalidate()
    assert cache.get_or_load("k", Loader(UpstreamError("down"))) == ("cached", STALE)


def test_stripe_failure_without_a_copy_is_raised(cache):
    with pytest.raises(UpstreamError):
        cache.get_or_load("k", Loader(UpstreamError("down")))


def test_not_found_is_neither_cached_nor_answered_stale(cache):
    loader = Loader(NotFound("no such product"))
    for _ in range(2):
        with pytest.raises(NotFound):
            cache.get_or_load("k", loader)
    assert loader.calls == 2


def test_entries_expire(tmp_path):
    cache = CatalogCache(SimpleCache(), FileVersion(tmp_path / "v"), ttl=1)
    cache.get_or_load("k", Loader("a"))
    time.sleep(2.1)
    assert cache.get_or_load("k", Loader("b")) == ("b", MISS)


def test_ttl_zero_turns_the_cache_off(tmp_path):
    cache = CatalogCache(SimpleCache(), FileVersion(tmp_path / "v"), ttl=0)
    loader = Loader("x")
    cache.get_or_load("k", loader)
    cache.get_or_load("k", loader)
    assert loader.calls == 2


class BrokenBackend(SimpleCache):
    def get(self, key):
        raise ConnectionError("redis is gone")

    def set(self, key, value, timeout=None):
        raise ConnectionError("redis is gone")


def test_a_broken_cache_is_a_miss_not_an_error(tmp_path):
    cache = CatalogCache(BrokenBackend(), FileVersion(tmp_path / "v"), ttl=60)
    assert cache.get_or_load("k", Loader("fresh")) == ("fresh", MISS)


def test_redis_backend_is_shared_by_instances(redis_server):
    import redis
    from cachelib import RedisCache

    def instance():
        client = redis.Redis.from_url(redis_server.url)
        backend = RedisCache(client, key_prefix="test-shared:", default_timeout=60)
        return CatalogCache(backend, RedisVersion(client, "test-shared:catalog:version"), ttl=60)

    a, b = instance(), instance()
    a.invalidate()  # a fresh version for this test
    loader = Loader({"data": ["p"]})
    assert a.get_or_load("k", loader)[1] == MISS
    assert b.get_or_load("k", loader) == ({"data": ["p"]}, HIT)
    b.invalidate()
    assert a.get_or_load("k", loader)[1] == MISS
    assert loader.calls == 2


def test_an_outage_costs_one_stripe_call_however_many_wait(cache):
    cache.get_or_load("k", Loader("cached"))
    cache.invalidate()
    failing = Loader(UpstreamError("down"), delay=0.2)
    barrier = threading.Barrier(6)
    results = []

    def read():
        barrier.wait()
        results.append(cache.get_or_load("k", failing))

    threads = [threading.Thread(target=read) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failing.calls == 1 and results == [("cached", STALE)] * 6
    # and for a few seconds after, requests go straight to the copy instead of waiting on Stripe again
    assert cache.get_or_load("k", failing) == ("cached", STALE) and failing.calls == 1


def test_a_loader_error_reaches_every_waiter(cache):
    failing = Loader(NotFound("no such product"), delay=0.1)
    barrier = threading.Barrier(4)
    errors = []

    def read():
        barrier.wait()
        try:
            cache.get_or_load("k", failing)
        except NotFound as exc:
            errors.append(exc)

    threads = [threading.Thread(target=read) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(errors) == 4 and failing.calls == 1


def test_many_distinct_keys_do_not_push_out_fresh_entries(cache):
    for i in range(2500):  # more keys than either store keeps
        cache.get_or_load(["products", {"limit": i}], Loader(i))
    loader = Loader("new")
    sources = [cache.get_or_load("a-new-key", loader)[1] for _ in range(3)]
    assert sources == [MISS, HIT, HIT] and loader.calls == 1


def test_stale_ttl_zero_keeps_no_copies(tmp_path):
    cache = CatalogCache.build(redis=None, instance_path=str(tmp_path), ttl=60, stale_ttl=0)
    cache.get_or_load("k", Loader("cached"))
    cache.invalidate()
    with pytest.raises(UpstreamError):
        cache.get_or_load("k", Loader(UpstreamError("down")))


class UnreadableVersion:
    def current(self):
        raise ConnectionError("redis is gone")

    def bump(self):
        pass


def test_an_unreadable_version_trusts_no_entry(tmp_path):
    backend = SimpleCache()
    backend.set("catalog:0:\"k\"", "old")  # what an older version left
    cache = CatalogCache(backend, UnreadableVersion(), ttl=60)
    assert cache.get_or_load("k", Loader("fresh")) == ("fresh", MISS)
