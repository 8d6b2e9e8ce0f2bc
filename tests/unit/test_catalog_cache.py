"""The catalog cache: hits, one load per miss, invalidation shared by workers, stale copies."""

import threading
import time

import pytest
from cachelib import SimpleCache

from app.services.catalog_cache import HIT, MISS, STALE, CatalogCache, FileVersion, RedisVersion
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
    return CatalogCache(SimpleCache(), FileVersion(tmp_path / "catalog-version"), ttl=60, stale_ttl=600)


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
    assert cache._locks == {}  # nothing left behind


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
        backend = RedisCache(redis.Redis.from_url(redis_server.url), key_prefix="test-shared:", default_timeout=60)
        return CatalogCache(backend, RedisVersion(backend), ttl=60)

    a, b = instance(), instance()
    a.invalidate()  # a fresh version for this test
    loader = Loader({"data": ["p"]})
    assert a.get_or_load("k", loader)[1] == MISS
    assert b.get_or_load("k", loader) == ({"data": ["p"]}, HIT)
    b.invalidate()
    assert a.get_or_load("k", loader)[1] == MISS
    assert loader.calls == 2
