"""What happens to every request around its route, in two hooks. When it starts, it gets its id
(app/request_ids.py) and a clock, and an oversized body is refused (app/request_limits.py). Once it is
answered, the answer gets the headers every answer carries (X-Request-ID, nosniff, a default
Cache-Control), and the request is measured (the request metric, app/metrics.py) and logged (its access
line: a line of logger `app.access`, shaped and scrubbed by the one JsonFormatter, app/logs.py)."""

from __future__ import annotations

import logging
import time

from flask import Flask, g, request

from app.logs import access_line
from app.metrics import observe_request
from app.request_ids import assign_request_id
from app.request_limits import refuse_oversized_body

ACCESS = logging.getLogger("app.access")


def register_request_cycle(app: Flask, *, access_log: bool) -> None:
    """Register it before every other hook: it starts first and, as after_request hooks run in the reverse
    order of their registration, it sees the answer last."""

    @app.before_request
    def start_request():
        current, scope = request._get_current_object(), g._get_current_object()  # once each, as below
        scope.started = time.perf_counter()
        assign_request_id(current, scope)
        refuse_oversized_body(current)

    @app.after_request
    def finish_request(response):
        now = time.perf_counter()
        # The objects behind the proxies, looked up once: this runs for every request.
        current, scope = request._get_current_object(), g._get_current_object()
        seconds = now - scope.get("started", now)  # (unset only if a URL value preprocessor failed first)
        request_id = scope.get("request_id") or assign_request_id(current, scope)
        headers = response.headers  # none of these is set anywhere else
        headers.add("X-Request-ID", request_id)
        headers.add("X-Content-Type-Options", "nosniff")
        if "Cache-Control" not in headers:  # nothing is stored unless the route says otherwise
            headers.add("Cache-Control", "no-store")
        rule, method, status = current.url_rule, current.method, response.status_code
        route = rule.rule if rule is not None else None  # the template, never the raw path (ids stay out)
        observe_request(route, method, status, seconds)
        if access_log and ACCESS.isEnabledFor(logging.INFO):  # LOG_LEVEL above INFO silences them too
            access_line({
                "request_id": request_id, "method": method[:16], "route": route, "status": status,
                "duration_ms": round(seconds * 1000, 2),
                "client": current.remote_addr,  # after ProxyFix: TRUSTED_PROXY_HOPS decides whom to believe
                "user_agent": current.headers.get("User-Agent", "")[:200],
                "clerk_user_id": scope.get("clerk_user_id"),
            })
        return response
