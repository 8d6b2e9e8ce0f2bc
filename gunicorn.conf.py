"""gunicorn settings (Railway and `make serve`). Every number can be overridden by the environment
(the variables are declared with the app's in config.py; docs/configuration.md lists them)."""

import os
import sys
import tempfile

from config import Config

server = Config.server_from_env(os.environ)
bind = f"0.0.0.0:{server.port}"
# gevent: every connection is a greenlet, not a thread, so slow or idle clients (a slowloris: partial
# headers, bodies that never end, idle sockets) cost a socket each instead of holding the threads that
# health checks and Stripe's deliveries need. Railway's edge forwards requests as they arrive and does
# not buffer them for us (docs/api.md, "Slow clients"), so the server must not depend on clients being prompt.
worker_class = server.worker_class
if worker_class == "gevent" and "gunicorn.arbiter" in sys.modules:  # not when a script only reads these numbers
    # Before the app is imported (preload_app, below): every lock, socket and thread-local the app makes
    # at start-up must already be gevent's, or a greenlet could block its whole worker on an OS lock.
    from gevent import monkey

    monkey.patch_all()
if "gunicorn.arbiter" in sys.modules and not server.metrics_dir:
    # Before prometheus-client is imported (with the app): every worker writes its metrics here and a
    # scrape of /metrics adds them up. A fresh folder per server start, so no dead worker's values linger.
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="tatame-metrics-")
workers = server.workers
threads = server.threads  # gthread only
worker_connections = server.worker_connections  # gevent: connections per worker
# Build the app once in the master: a bad configuration stops start-up at once and loudly,
# instead of every worker crashing in a loop.
preload_app = True
timeout = server.worker_timeout
graceful_timeout = 20
# Also the deadline for a request's headers: gunicorn's gevent worker reads them under this timeout.
keepalive = 5
# Large enough for the app's own 8 KiB token limit to be what answers an oversized Authorization
# header (a JSON 401), not gunicorn's HTML 431.
limit_request_field_size = 16384
# The app writes one JSON access line per request itself (ACCESS_LOG); gunicorn's text line is off unless asked.
accesslog = server.server_access_log
errorlog = "-"
forwarded_allow_ips = server.forwarded_allow_ips


def when_ready(server):
    """Say, part by part, what this instance talks to."""
    services = getattr(server.app.wsgi(), "extensions", {}).get("tatame")
    if services is not None:  # not when gunicorn serves another app (the benchmark's ceiling): nor is app imported
        from app.banner import banner

        server.log.info("\n%s", banner(services))


def child_exit(server, worker):
    """A worker is gone: its live gauges leave the scrape (counters and histograms keep their totals)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)


def post_worker_init(worker):
    """What the served module asks of each worker once it runs (wsgi.py: the sandbox delivers its webhooks)."""
    module = sys.modules.get(str(getattr(worker.app, "app_uri", "")).partition(":")[0])
    hook = getattr(module, "post_worker_init", None)
    if callable(hook):
        hook(worker)
