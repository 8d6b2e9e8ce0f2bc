"""One JSON line per log record, carrying the request id; secrets are scrubbed."""

from __future__ import annotations

import json
import logging
import sys
from datetime import datetime, timezone

import time

from flask import Flask, g, has_request_context, request

from app.errors import REQUEST_ID_KEY

_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    def __init__(self, secrets: list[str] | None = None):
        from app.reporting import Scrubber

        super().__init__()
        self.secrets = [s for s in (secrets or []) if len(s) >= 8]
        self._scrubber = Scrubber(self.secrets)

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if has_request_context():
            entry["request_id"] = request.environ.get(REQUEST_ID_KEY)
        entry.update({k: v for k, v in vars(record).items() if k not in _STANDARD and not k.startswith("_")})
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        # A line may quote an upstream message or an exception: the configured secrets go, and so does what
        # merely looks like one (tokens, client secrets, Checkout and portal URLs), as in the error reports.
        return self._scrubber.text(json.dumps(entry, default=str))


def configure_logging(level: str, secrets: list[str]) -> None:
    """Send the `app` loggers to stderr as JSON, once per process."""
    # The Stripe SDK logs request URLs and whole response bodies at INFO and DEBUG: checkout and portal URLs
    # and client secrets are capabilities, so its records below WARNING are never even made.
    logging.getLogger("stripe").setLevel(logging.WARNING)
    logger = logging.getLogger("app")
    logger.setLevel(level)
    for handler in logger.handlers:
        if getattr(handler, "_tatame", False):
            handler.setFormatter(JsonFormatter(secrets))
            return
    handler = logging.StreamHandler(sys.stderr)
    handler._tatame = True
    handler.setFormatter(JsonFormatter(secrets))
    logger.addHandler(handler)
    logger.propagate = False


def register_access_log(app: Flask, *, enabled: bool, secrets: list[str] | None = None) -> None:
    """One JSON line per request (logger `app.access`); gunicorn's text access log is off by default.

    The line is written straight to stderr, in the same shape as every other log line: it is made of
    known fields only, and the logging module's record machinery cost more than the line itself (11.7 µs
    against 3.3 µs a line, timeit), on every request.
    """
    if not enabled:
        return
    from app.http import STARTED_KEY

    known = [s for s in (secrets or []) if len(s) >= 8]
    if logging.getLogger("app.access").getEffectiveLevel() > logging.INFO:
        return  # LOG_LEVEL above INFO silences access lines, as it would through logging

    @app.after_request
    def log_access(response):
        started = request.environ.get(STARTED_KEY)
        now = time.time()
        line = json.dumps({
            "time": datetime.fromtimestamp(now, timezone.utc).isoformat(timespec="milliseconds"),
            "level": "info", "logger": "app.access", "message": "request",
            "request_id": request.environ.get(REQUEST_ID_KEY),
            "method": request.method,
            # The route's template, never the raw path: ids stay out of what is counted and searched.
            "route": request.url_rule.rule if request.url_rule is not None else None,
            "status": response.status_code,
            "duration_ms": round((time.perf_counter() - started) * 1000, 2) if started else None,
            "client": request.remote_addr,  # after ProxyFix: TRUSTED_PROXY_HOPS decides whom to believe
            "user_agent": request.headers.get("User-Agent", "")[:200],
            "clerk_user_id": g.get("clerk_user_id"),
        }, default=str)
        for secret in known:
            line = line.replace(secret, "[redacted]")
        sys.stderr.write(line + "\n")
        return response


def register_request_metrics(app: Flask) -> None:
    """Every request's duration, by route template, method and status (tatame_http_request_duration_seconds)."""
    from app.http import STARTED_KEY
    from app.metrics import REQUESTS

    @app.after_request
    def observe(response):
        started = request.environ.get(STARTED_KEY)
        if started is not None:
            route = request.url_rule.rule if request.url_rule is not None else "unmatched"
            REQUESTS.labels(route, request.method, str(response.status_code)).observe(time.perf_counter() - started)
        return response
