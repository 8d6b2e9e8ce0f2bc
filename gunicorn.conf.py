"""gunicorn settings (Railway and `make serve`). Every number can be overridden by the environment."""

import os

bind = f"0.0.0.0:{os.environ.get('PORT', '3000')}"
# Chosen with `make bench` on 2 cores (see the README): threads, because a request that misses
# the cache waits on Stripe or the store and releases the GIL meanwhile; three processes, because
# a cached catalog read is pure Python and one process's threads share one GIL.
worker_class = "gthread"
workers = int(os.environ.get("WEB_CONCURRENCY", "3"))
threads = int(os.environ.get("GUNICORN_THREADS", "8"))
# Build the app once in the master: a bad configuration stops start-up at once and loudly,
# instead of every worker crashing in a loop.
preload_app = True
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
graceful_timeout = 20
keepalive = 5
accesslog = os.environ.get("GUNICORN_ACCESS_LOG", "-") or None
errorlog = "-"
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")


def when_ready(server):
    """Say, part by part, what this instance talks to."""
    from app.banner import banner

    services = getattr(server.app.wsgi(), "extensions", {}).get("tatame")
    if services is not None:  # not when gunicorn serves another app (the benchmark's ceiling)
        server.log.info("\n%s", banner(services))
