"""gunicorn settings (Railway and `make serve`). Every number can be overridden by the environment."""

import os

bind = f"0.0.0.0:{os.environ.get('PORT', '3000')}"
# Threads, because almost all of a request's time is spent waiting on Stripe or the store.
worker_class = "gthread"
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
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

    app = server.app.wsgi()
    server.log.info("\n%s", banner(app.extensions["tatame"]))
