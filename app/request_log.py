"""What every request leaves behind once it is answered: its access line (logger `app.access`, a log
record like any other, app/logs.py) and its duration in the request metric (app/metrics.py)."""

from __future__ import annotations

import logging
import time

from flask import Flask, g, request

from app.metrics import observe_request

ACCESS = logging.getLogger("app.access")


def register_request_log(app: Flask, *, access_log: bool) -> None:
    """Time every request; once answered, observe it and (ACCESS_LOG) write its access line.

    Register it before the other hooks: it starts the clock first and, as after_request hooks run in the
    reverse order, sees the answer last."""

    @app.before_request
    def start_clock():
        g.started = time.perf_counter()

    @app.after_request
    def log_request(response):
        seconds = time.perf_counter() - g.get("started", time.perf_counter())
        rule = request.url_rule
        route = rule.rule if rule is not None else None  # the template, never the raw path (ids stay out)
        observe_request(route, request.method, response.status_code, seconds)
        if access_log and ACCESS.isEnabledFor(logging.INFO):  # LOG_LEVEL above INFO silences them too
            fields = {
                "method": request.method[:16], "route": route, "status": response.status_code,
                "duration_ms": round(seconds * 1000, 2),
                "client": request.remote_addr,  # after ProxyFix: TRUSTED_PROXY_HOPS decides whom to believe
                "user_agent": request.headers.get("User-Agent", "")[:200],
                "clerk_user_id": g.get("clerk_user_id"),
            }
            # Logger.handle with a record of our own: the caller's file and line are not looked up.
            ACCESS.handle(ACCESS.makeRecord(ACCESS.name, logging.INFO, __file__, 0, "request", None, None,
                                            extra=fields))
        return response
