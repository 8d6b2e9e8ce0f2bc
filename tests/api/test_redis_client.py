"""One Redis client: the catalog cache, the rate limiter and the membership cache share its connections."""

import redis
import responses

from app import create_app
from tests import stripe_canned as fake
from tests.conftest import with_config


def test_every_part_talks_to_redis_over_one_connection_pool(config, redis_server, auth_headers, stripe_api):
    stripe_api.add(responses.GET, fake.url("/v1/products"), json=fake.listing([fake.product()], "/v1/products"))
    probe = redis.Redis.from_url(redis_server.url)
    before = probe.client_id()  # connection ids only grow: the app's are the ones made after this
    client = create_app(with_config(config, redis_url=redis_server.url, rate_limit_enabled=True)).test_client()
    for _ in range(2):
        assert client.get("/stripe/products", headers=auth_headers()).status_code == 200  # cache and limiter
        assert client.get("/stripe/subscription", headers=auth_headers()).status_code == 200  # membership version
    assert client.get("/health/ready").status_code == 200
    assert probe.keys("tatame:catalog:*")  # the cache is in Redis
    assert any(key.startswith(b"LIMITS") for key in probe.keys())  # and so are the limiter's counters
    opened = [c for c in probe.client_list() if int(c["id"]) > before]
    assert len(opened) == 1, opened
