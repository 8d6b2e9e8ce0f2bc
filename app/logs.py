"""One JSON line per log record, carrying the request id; secrets are scrubbed."""

from __future__ import annotations

import json
import logging
import sys
import time
from datetime import datetime, timezone

from json.encoder import encode_basestring_ascii

from flask import Flask, has_request_context, request

from app.errors import REQUEST_ID_KEY
from app.http import ROUTE_KEY, USER_KEY

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

    The request edge (app/http.py) calls it once the app has answered. The line is written straight to
    stderr, in the same shape as every other log line: it is made of known fields only, and the logging
    module's record machinery cost more than the line itself (11.7 µs against 3.3 µs a line, timeit).
    """
    if enabled and logging.getLogger("app.access").getEffectiveLevel() <= logging.INFO:
        # (LOG_LEVEL above INFO silences access lines, as it would through logging.)
        app.extensions["tatame.edge"].observers.append(AccessLine(secrets or []))


class AccessLine:
    """Writes the access line of one request: fields the client chose are JSON-escaped, the rest is ours."""

    def __init__(self, secrets: list[str]):
        self.secrets = [s for s in secrets if len(s) >= 8]
        self._second = (0, "")  # (a whole second, its ISO text): one object, swapped whole

    def timestamp(self, now: float) -> str:
        second, text = self._second
        if int(now) != second:
            second = int(now)
            text = datetime.fromtimestamp(second, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
            self._second = (second, text)
        return f"{text}.{int((now - second) * 1000):03d}+00:00"

    def __call__(self, environ: dict, status: int, seconds: float) -> None:
        rule, user = environ.get(ROUTE_KEY), environ.get(USER_KEY)
        line = ACCESS_TEMPLATE % (
            self.timestamp(time.time()),
            _string(environ.get(REQUEST_ID_KEY)),
            _string(environ.get("REQUEST_METHOD", "")[:16]),
            # The route's template, never the raw path: ids stay out of what is counted and searched.
            _string(rule.rule) if rule is not None else "null",
            status,
            seconds * 1000,
            _string(environ.get("REMOTE_ADDR")),  # after ProxyFix: TRUSTED_PROXY_HOPS decides whom to believe
            _string(environ.get("HTTP_USER_AGENT", "")[:200]),
            _string(user),
        )
        for secret in self.secrets:
            if secret in line:
                line = line.replace(secret, "[redacted]")
        sys.stderr.write(line)


ACCESS_TEMPLATE = ('{"time": "%s", "level": "info", "logger": "app.access", "message": "request", "request_id": %s, '
                   '"method": %s, "route": %s, "status": %d, "duration_ms": %.2f, "client": %s, "user_agent": %s, '
                   '"clerk_user_id": %s}\n')


def _string(value: str | None) -> str:
    return "null" if value is None else encode_basestring_ascii(value)


def register_request_metrics(app: Flask) -> None:
    """Every request's duration, by route template, method and status (tatame_http_request_duration_seconds)."""
    from app.metrics import observe_request

    app.extensions["tatame.edge"].observers.append(observe_request)
