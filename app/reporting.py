"""Error reports to Sentry (SENTRY_DSN): unexpected errors only, with every secret scrubbed before sending.

What is reported: every record the app logs at ERROR, through sentry-sdk's logging integration. That is
where unexpected exceptions show up: the app's catch-all error handler (app/errors.py) answers them with
the envelope and logs them with their traceback, so Flask never signals them and the Flask integration
alone would report nothing. The same path brings failed webhook handlers, store outages, an unusable Clerk
key set and Stripe refusing our calls: problems someone must look at. Domain errors (AppError: 4xx, the
502s) are answers, not faults, and are never logged at ERROR, so they are not reported.

What is not sent: local variables and request bodies (a payments request's locals and bodies hold tokens,
customers' emails and Stripe objects; the stack trace, route and request id are enough to find a fault),
and no personal data (send_default_pii=False). What is left (headers, query strings, exception messages,
log lines, breadcrumbs) goes through `scrub` in before_send.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from app.request_ids import current_request_id
from config import Config

REDACTED = "[redacted]"
SECRET_HEADERS = {"authorization", "cookie", "set-cookie", "stripe-signature", "svix-signature", "proxy-authorization",
                  "x-api-key"}
_PART = r"[A-Za-z0-9_-]"
# Each shape of secret, after the text that must be there for it to match: a substring test costs
# nanoseconds, while a pattern that starts with \b or a class costs microseconds per line even when it
# finds nothing, and every log line goes through all of them. A trigger is a string that the text must
# contain, or a pattern that starts with a literal (which the regex engine finds fast).
SECRET_PATTERNS: list[tuple[tuple, re.Pattern]] = [
    (("bearer",), re.compile(r"\b(?i:bearer)\s+\S+")),  # whatever follows Bearer (checked on the lowercased text)
    (("eyJ",), re.compile(rf"\beyJ{_PART}*\.{_PART}+\.{_PART}*")),  # a JWT (Clerk's session tokens): a JSON header
    ((re.compile(rf"\.{_PART}{{16,}}\."),),  # three long base64url parts, whatever the header
     re.compile(rf"{_PART}{{16,}}\.{_PART}{{16,}}\.{_PART}{{16,}}")),
    (("_test_", "_live_"), re.compile(r"\b(?:sk|rk)_(?:test|live)_[A-Za-z0-9_]+")),  # Stripe secret, restricted keys
    (("whsec_",), re.compile(r"\bwhsec_[A-Za-z0-9_+/=-]+")),  # webhook signing secrets
    (("_secret_",), re.compile(r"[A-Za-z0-9_]*_secret_[A-Za-z0-9_]+")),  # client secrets: pi_…_secret_…, seti_…
    (("cuss_",), re.compile(r"\bcuss_[A-Za-z0-9_]+")),  # customer session client secrets
    # Checkout and portal pages are capabilities: whoever has the URL can pay or manage the subscription.
    (("http",), re.compile(r"https?://[^\s\"'<>,()]*(?:checkout\.stripe\.com|billing\.stripe\.com|/c/pay/"
                           r"|/p/session/|/dev/checkout/|/dev/portal/)[^\s\"'<>,()]*")),
    (("_test_", "_live_"), re.compile(r"\b(?:cs|bps)_(?:test|live)_[A-Za-z0-9_]+")),  # the session ids in those URLs
]


class Scrubber:
    """Replaces secrets in every string of an event: the configured values and anything shaped like one."""

    def __init__(self, secrets: list[str]):
        # Short values would match everywhere (and are no secret worth the name); the access line takes this list.
        self.secrets = sorted((s for s in secrets if len(s) >= 8), key=len, reverse=True)

    def text(self, value: str) -> str:
        for secret in self.secrets:
            if secret in value:
                value = value.replace(secret, REDACTED)
        lowered = None
        for triggers, pattern in SECRET_PATTERNS:  # plain loops: this runs for every log line
            for trigger in triggers:
                if isinstance(trigger, re.Pattern):
                    found = trigger.search(value) is not None
                elif trigger == "bearer":
                    lowered = value.lower() if lowered is None else lowered
                    found = trigger in lowered
                else:
                    found = trigger in value
                if found:
                    value = pattern.sub(REDACTED, value)
                    break
        return value

    def walk(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {key: self.walk(item) for key, item in value.items()}
        if isinstance(value, (list, tuple)):
            return [self.walk(item) for item in value]
        return value

    def event(self, event: dict) -> dict:
        """The event with secret headers dropped and every string scrubbed."""
        headers = (event.get("request") or {}).get("headers")
        if isinstance(headers, dict):
            event["request"]["headers"] = {k: REDACTED if k.lower() in SECRET_HEADERS else v
                                           for k, v in headers.items()}
        return self.walk(event)


def configure_reporting(config: Config) -> bool:
    """Start the Sentry client when SENTRY_DSN is set; True when it was started."""
    if not config.sentry_dsn:
        return False
    import sentry_sdk
    from sentry_sdk.integrations.flask import FlaskIntegration
    from sentry_sdk.integrations.logging import LoggingIntegration, ignore_logger

    scrubber = Scrubber(config.secrets())

    def before_send(event: dict, hint: dict) -> dict:
        request_id = current_request_id()
        if request_id is not None:
            event.setdefault("tags", {})["request_id"] = request_id
        return scrubber.event(event)

    ignore_logger("app.access")  # one line per request, written once it is answered: no error, no breadcrumb
    sentry_sdk.init(
        dsn=config.sentry_dsn,
        environment=config.app_env,
        send_default_pii=False,
        include_local_variables=False,
        max_request_body_size="never",
        traces_sample_rate=None,  # error reports only, no performance tracing
        before_send=before_send,
        before_send_transaction=lambda event, hint: None,
        integrations=[FlaskIntegration(), LoggingIntegration(level=logging.INFO, event_level=logging.ERROR)],
    )
    return True
