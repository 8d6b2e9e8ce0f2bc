"""Turns the environment (and `.env` when present) into one validated Config.

`create_app` takes a Config; it never reads the environment itself. Production
refuses to start on a missing or malformed value and names every such variable.
"""

from __future__ import annotations

import base64
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping
from urllib.parse import urlparse

BASE_DIR = Path(__file__).resolve().parent
ENVIRONMENTS = ("development", "test", "production")
DEV_CORS_ORIGIN = "http://localhost:3001"
# The API version this code was written and tested against; Stripe answers in it
# whatever the account's default version is.
STRIPE_API_VERSION = "2026-10-28.endive"
_RATE = re.compile(r"\s*\d+\s*(/|per)\s*\d*\s*(second|minute|hour|day)s?\s*", re.IGNORECASE)
SECRET_FIELDS = (
    "stripe_secret_key",
    "stripe_webhook_secrets",
    "clerk_secret_key",
    "clerk_jwt_key",
    "supabase_service_role_key",
    "redis_url",
    "metrics_token",
    "sentry_dsn",
)


class ConfigError(Exception):
    """The environment does not make a valid configuration; `problems` names each variable."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("invalid configuration: " + "; ".join(problems))


@dataclass(frozen=True)
class Config:
    app_env: str = "development"
    port: int = 3000
    log_level: str = "INFO"
    access_log: bool = True   # one JSON line per request from the app (gunicorn's text access log is off)
    access_log_buffer: int = 32768  # bytes of access lines written at once (0: a write per line); see app/logs.py
    access_log_flush: float = 1.0   # ... and at the latest this many seconds after the oldest
    prepared_answers: bool = True  # the request edge resends answers alike for every caller (app/answers.py)
    metrics_token: str | None = field(default=None, repr=False)  # GET /metrics exists only with one
    sentry_dsn: str | None = field(default=None, repr=False)  # error reports (app/reporting.py) only with one
    cors_origins: tuple[str, ...] = (DEV_CORS_ORIGIN,)

    stripe_secret_key: str | None = field(default=None, repr=False)
    stripe_webhook_secrets: tuple[str, ...] = field(default=(), repr=False)
    stripe_webhook_tolerance: int = 300
    stripe_api_base: str | None = None
    stripe_api_version: str = STRIPE_API_VERSION
    stripe_timeout: float = 5.0
    stripe_max_retries: int = 2
    stripe_max_concurrency: int = 20   # Stripe calls in flight at once per process; past it, 502 + Retry-After at once

    clerk_publishable_key: str | None = None
    clerk_secret_key: str | None = field(default=None, repr=False)
    clerk_jwt_key: str | None = field(default=None, repr=False)
    clerk_jwks_url: str | None = None
    clerk_authorized_parties: tuple[str, ...] = ()
    clerk_issuers: tuple[str, ...] = ()  # accepted `iss` besides the derived one (a Clerk proxy, satellites)
    clerk_require_azp: bool = False  # refuse tokens without `azp` (native apps' tokens have none)
    clerk_api_url: str = "https://api.clerk.com"
    clerk_jwks_ttl: int = 300
    clerk_jwks_cooldown: int = 5   # least seconds between fetches: how soon a rotated key is taken

    supabase_url: str | None = None
    supabase_service_role_key: str | None = field(default=None, repr=False)
    instance_path: str = str(BASE_DIR / "instance")  # local files: SQLite, development keys
    sqlite_path: str = str(BASE_DIR / "instance" / "tatame.sqlite3")

    redis_url: str | None = field(default=None, repr=False)
    catalog_cache_ttl: int = 300       # seconds a catalog answer is served without asking Stripe; 0: off
    catalog_stale_ttl: int = 86400     # how long a copy is kept to answer from when Stripe fails
    rate_limit_enabled: bool = True
    rate_limit_user: str = "60/minute"
    rate_limit_purchase: str = "10/minute"   # per user: checkout, payment sheet, portal, cancel, resume
    rate_limit_webhook: str = "1000/minute"
    stripe_in_flight_per_user: int = 2      # per user and process: requests that call Stripe at once

    trusted_proxy_hops: int = 0  # proxies in front (Railway: 1) whose X-Forwarded-For is believed

    # Billing (docs/billing.md): where Stripe sends the member back, who may be sent where, trials, grace.
    checkout_success_url: str | None = f"{DEV_CORS_ORIGIN}/billing/success"   # production: required, no default
    checkout_cancel_url: str | None = f"{DEV_CORS_ORIGIN}/billing/cancel"
    portal_return_url: str | None = f"{DEV_CORS_ORIGIN}/billing"
    billing_redirect_origins: tuple[str, ...] = ()   # extra allowed origins, or app schemes such as tatame://
    trial_days: int = 0
    stripe_publishable_key: str | None = None
    past_due_access: bool = False
    billing_enabled: bool = True                     # the billing routes (docs/billing.md); false: catalog and customer only
    purchase_lease_seconds: float = 60.0   # longer than a purchase's Stripe calls at their worst (3 x 15 s)
    stand_in_delivery: str = "normal"                # the stand-in's webhook deliveries: normal, or chaos (docs/sandbox.md)

    max_json_body: int = 64 * 1024
    max_webhook_body: int = 1024 * 1024
    webhook_lease_seconds: float = 60.0
    customer_lease_seconds: float = 30.0
    customer_wait_seconds: float = 10.0

    @property
    def is_production(self) -> bool:
        return self.app_env == "production"

    @property
    def uses_supabase(self) -> bool:
        return bool(self.supabase_url and self.supabase_service_role_key)

    def secrets(self) -> list[str]:
        """Every configured secret value, for scrubbing and for tests that look for leaks."""
        values: list[str] = []
        for name in SECRET_FIELDS:
            value = getattr(self, name)
            values.extend(value if isinstance(value, tuple) else [value] if value else [])
        return values

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, *, dotenv: bool = True) -> "Config":
        """Build and validate a Config from `environ` (default: os.environ plus `.env`)."""
        if environ is None:
            if dotenv:
                from dotenv import load_dotenv

                load_dotenv(BASE_DIR / ".env", override=False)
            environ = os.environ
        return _Reader(environ).build(cls)


class _Reader:
    """Reads variables one by one, collecting every problem before failing."""

    def __init__(self, environ: Mapping[str, str]):
        self.env = environ
        self.problems: list[str] = []

    def raw(self, name: str) -> str | None:
        value = self.env.get(name)
        if value is None:
            return None
        value = value.strip()
        return value or None

    def integer(self, name: str, default: int, low: int, high: int) -> int:
        text = self.raw(name)
        if text is None:
            return default
        if not re.fullmatch(r"\d+", text) or not low <= int(text) <= high:
            self.problems.append(f"{name} must be a whole number from {low} to {high}")
            return default
        return int(text)

    def number(self, name: str, default: float, low: float, high: float) -> float:
        text = self.raw(name)
        if text is None:
            return default
        try:
            value = float(text)
        except ValueError:
            value = float("nan")
        if not low <= value <= high:
            self.problems.append(f"{name} must be a number from {low} to {high}")
            return default
        return value

    def boolean(self, name: str, default: bool) -> bool:
        text = self.raw(name)
        if text is None:
            return default
        if text.lower() in ("1", "true", "yes", "on"):
            return True
        if text.lower() in ("0", "false", "no", "off"):
            return False
        self.problems.append(f"{name} must be true or false")
        return default

    def listing(self, name: str) -> tuple[str, ...]:
        return tuple(part.strip() for part in (self.raw(name) or "").split(",") if part.strip())

    def url(self, name: str, *, https: bool = False) -> str | None:
        text = self.raw(name)
        if text is None:
            return None
        parsed = urlparse(text)
        schemes = ("https",) if https else ("http", "https")
        if parsed.scheme not in schemes or not parsed.netloc:
            self.problems.append(f"{name} must be an {' or '.join(schemes)} URL")
            return None
        return text.rstrip("/")

    def issuers(self, name: str) -> tuple[str, ...]:
        # Compared exactly with a token's `iss`; a proxy URL may have a path (https://app.example/__clerk).
        values = tuple(value.rstrip("/") for value in self.listing(name))
        for value in values:
            parsed = urlparse(value)
            if parsed.scheme != "https" or not parsed.netloc or parsed.query or parsed.fragment:
                self.problems.append(f"{name} must be https URLs (e.g. https://clerk.example.com), comma-separated")
                return ()
        return values

    def prefixed(self, name: str, prefixes: tuple[str, ...]) -> str | None:
        text = self.raw(name)
        if text is not None and not text.startswith(prefixes):
            self.problems.append(f"{name} must start with {' or '.join(prefixes)}")
            return None
        return text

    def rate(self, name: str, default: str) -> str:
        text = self.raw(name)
        if text is None:
            return default
        if not all(_RATE.fullmatch(part) for part in text.split(";")):
            self.problems.append(f"{name} must look like '60/minute' (several joined by ';')")
            return default
        return text

    def build(self, cls: type[Config]) -> Config:
        app_env = (self.raw("APP_ENV") or "development").lower()
        if app_env not in ENVIRONMENTS:
            self.problems.append(f"APP_ENV must be one of {', '.join(ENVIRONMENTS)}")
            app_env = "production"  # judge the rest by the strictest rules
        production = app_env == "production"

        values = dict(
            app_env=app_env,
            port=self.integer("PORT", 3000, 1, 65535),
            log_level=(self.raw("LOG_LEVEL") or "INFO").upper(),
            access_log=self.boolean("ACCESS_LOG", True),
            prepared_answers=self.boolean("PREPARED_ANSWERS", True),
            access_log_buffer=self.integer("ACCESS_LOG_BUFFER", 32768, 0, 1 << 20),
            metrics_token=self.raw("METRICS_TOKEN"),
            sentry_dsn=self.url("SENTRY_DSN", https=production),
            stripe_secret_key=self.prefixed("STRIPE_SECRET_KEY", ("sk_", "rk_")),
            stripe_webhook_tolerance=self.integer("STRIPE_WEBHOOK_TOLERANCE", 300, 1, 86400),
            stripe_api_base=self.url("STRIPE_API_BASE", https=production),
            stripe_timeout=self.number("STRIPE_TIMEOUT", 5.0, 0.1, 60),
            stripe_max_retries=self.integer("STRIPE_MAX_RETRIES", 2, 0, 5),
            stripe_max_concurrency=self.integer("STRIPE_MAX_CONCURRENCY", 20, 1, 1000),
            clerk_publishable_key=self.prefixed("CLERK_PUBLISHABLE_KEY", ("pk_test_", "pk_live_")),
            clerk_secret_key=self.prefixed("CLERK_SECRET_KEY", ("sk_test_", "sk_live_")),
            clerk_jwt_key=self.pem("CLERK_JWT_KEY"),
            clerk_jwks_url=self.url("CLERK_JWKS_URL", https=production),
            clerk_authorized_parties=self.listing("CLERK_AUTHORIZED_PARTIES"),
            clerk_require_azp=self.boolean("CLERK_REQUIRE_AZP", False),
            clerk_issuers=self.issuers("CLERK_ISSUERS"),
            supabase_url=self.url("SUPABASE_URL", https=production),
            supabase_service_role_key=self.raw("SUPABASE_SERVICE_ROLE_KEY"),
            redis_url=self.redis("REDIS_URL"),
            catalog_cache_ttl=self.integer("CATALOG_CACHE_TTL", 300, 0, 86400),
            catalog_stale_ttl=self.integer("CATALOG_STALE_TTL", 86400, 0, 30 * 86400),
            rate_limit_enabled=self.boolean("RATE_LIMIT_ENABLED", True),
            rate_limit_user=self.rate("RATE_LIMIT_USER", "60/minute"),
            rate_limit_purchase=self.rate("RATE_LIMIT_PURCHASE", "10/minute"),
            stripe_in_flight_per_user=self.integer("STRIPE_IN_FLIGHT_PER_USER", 2, 1, 100),
            rate_limit_webhook=self.rate("RATE_LIMIT_WEBHOOK", "1000/minute"),
            max_json_body=self.integer("MAX_JSON_BODY_BYTES", 64 * 1024, 1024, 16 * 1024 * 1024),
            max_webhook_body=self.integer("MAX_WEBHOOK_BODY_BYTES", 1024 * 1024, 1024, 16 * 1024 * 1024),
            trusted_proxy_hops=self.integer("TRUSTED_PROXY_HOPS", 0, 0, 5),
            webhook_lease_seconds=self.number("WEBHOOK_LEASE_SECONDS", 60.0, 1, 3600),
        )
        if values["log_level"] not in ("DEBUG", "INFO", "WARNING", "ERROR"):
            self.problems.append("LOG_LEVEL must be DEBUG, INFO, WARNING or ERROR")
            values["log_level"] = "INFO"
        if self.raw("INSTANCE_PATH"):
            values["instance_path"] = self.raw("INSTANCE_PATH")
            values["sqlite_path"] = str(Path(values["instance_path"]) / "tatame.sqlite3")
        if self.raw("SQLITE_PATH"):
            values["sqlite_path"] = self.raw("SQLITE_PATH")

        # A secret is the HMAC key: "whsec_" alone (or a short one) would let anyone sign events.
        secrets = self.listing("STRIPE_WEBHOOK_SECRET")
        if any(not re.fullmatch(r"whsec_[A-Za-z0-9_+/=-]{16,}", secret) for secret in secrets):
            self.problems.append("STRIPE_WEBHOOK_SECRET must be whsec_ values (at least 16 characters after the"
                                 " prefix), comma-separated")
            secrets = ()
        values["stripe_webhook_secrets"] = secrets

        origins = self.listing("CORS_ORIGIN")
        for origin in origins:
            parsed = urlparse(origin)
            if origin != "*" and (parsed.scheme not in ("http", "https") or not parsed.netloc or parsed.path):
                self.problems.append("CORS_ORIGIN must be origins such as https://app.example.com, comma-separated")
                break
        if production and "*" in origins:
            self.problems.append("CORS_ORIGIN may not be * in production")
        values["cors_origins"] = origins or (() if production else (DEV_CORS_ORIGIN,))

        if values["clerk_publishable_key"] and clerk_frontend_api(values["clerk_publishable_key"]) is None:
            self.problems.append("CLERK_PUBLISHABLE_KEY is not a well-formed Clerk publishable key")
        if values["clerk_require_azp"] and not values["clerk_authorized_parties"]:
            # Requiring an `azp` without saying which ones would accept any: surely a mistake.
            self.problems.append("CLERK_REQUIRE_AZP needs CLERK_AUTHORIZED_PARTIES")
        if bool(values["supabase_url"]) != bool(values["supabase_service_role_key"]):
            self.problems.append("SUPABASE_URL and SUPABASE_SERVICE_ROLE_KEY go together: set both or neither")

        if values["metrics_token"] is not None and len(values["metrics_token"]) < 16:
            self.problems.append("METRICS_TOKEN must be at least 16 characters")
            values["metrics_token"] = None
        self.billing(values, production)
        if production:
            self.require_production(values)
        if self.problems:
            raise ConfigError(self.problems)
        return cls(**values)

    def billing(self, values: dict, production: bool) -> None:
        """The billing variables: default redirect addresses, allowed origins and schemes, trials, grace."""
        local = DEV_CORS_ORIGIN if not production else None
        values["checkout_success_url"] = self.url("CHECKOUT_SUCCESS_URL", https=production) or (
            local and f"{local}/billing/success")
        values["checkout_cancel_url"] = self.url("CHECKOUT_CANCEL_URL", https=production) or (
            local and f"{local}/billing/cancel")
        values["portal_return_url"] = self.url("PORTAL_RETURN_URL", https=production) or (
            local and f"{local}/billing")
        origins = self.listing("BILLING_REDIRECT_ORIGINS")
        for origin in origins:
            parsed = urlparse(origin)
            web = parsed.scheme in ("http", "https")
            app_scheme = re.fullmatch(r"[a-z][a-z0-9+.-]*://", origin) is not None  # "localhost:3001" is not one
            if not (web or app_scheme) or (web and (not parsed.netloc or parsed.path not in ("", "/"))) or (
                    production and parsed.scheme == "http"):
                self.problems.append("BILLING_REDIRECT_ORIGINS must be origins (https://app.example) or app schemes"
                                     " (tatame://), comma-separated; http only outside production")
                break
        values["billing_redirect_origins"] = origins
        values["trial_days"] = self.integer("TRIAL_DAYS", 0, 0, 730)
        values["stripe_publishable_key"] = self.prefixed("STRIPE_PUBLISHABLE_KEY", ("pk_test_", "pk_live_"))
        values["past_due_access"] = self.boolean("PAST_DUE_ACCESS", False)
        values["billing_enabled"] = self.boolean("BILLING_ENABLED", True)
        delivery = (self.raw("STAND_IN_DELIVERY") or "normal").lower()
        if delivery not in ("normal", "chaos"):
            self.problems.append("STAND_IN_DELIVERY must be normal or chaos")
            delivery = "normal"
        values["stand_in_delivery"] = delivery

    def require_production(self, values: dict) -> None:
        required = {
            "STRIPE_SECRET_KEY": values["stripe_secret_key"],
            "STRIPE_WEBHOOK_SECRET": values["stripe_webhook_secrets"],
            "SUPABASE_URL": values["supabase_url"],
            "SUPABASE_SERVICE_ROLE_KEY": values["supabase_service_role_key"],
            "CORS_ORIGIN": values["cors_origins"],
        }
        if values["billing_enabled"]:
            required.update({"CHECKOUT_SUCCESS_URL": values["checkout_success_url"],
                             "CHECKOUT_CANCEL_URL": values["checkout_cancel_url"],
                             "PORTAL_RETURN_URL": values["portal_return_url"],
                             "STRIPE_PUBLISHABLE_KEY": values["stripe_publishable_key"]})
        for name, value in required.items():
            if not value and not any(name in p for p in self.problems):
                self.problems.append(f"{name} is required in production")
        clerk_sources = ("clerk_jwt_key", "clerk_jwks_url", "clerk_publishable_key", "clerk_secret_key")
        if not any(values[name] for name in clerk_sources) and not any("CLERK" in p for p in self.problems):
            self.problems.append(
                "one of CLERK_JWT_KEY, CLERK_JWKS_URL, CLERK_PUBLISHABLE_KEY or CLERK_SECRET_KEY is required in production"
            )

    def pem(self, name: str) -> str | None:
        text = self.raw(name)
        if text is None:
            return None
        text = text.replace("\\n", "\n")  # one-line PEMs from dashboards and .env files
        from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
        from cryptography.hazmat.primitives.serialization import load_pem_public_key

        try:
            usable = isinstance(load_pem_public_key(text.encode()), RSAPublicKey)
        except (ValueError, TypeError):
            usable = False
        if not usable:
            self.problems.append(f"{name} must be an RSA public key in PEM form (-----BEGIN PUBLIC KEY-----)")
            return None
        return text

    def redis(self, name: str) -> str | None:
        text = self.raw(name)
        if text is not None and urlparse(text).scheme not in ("redis", "rediss", "unix"):
            self.problems.append(f"{name} must be a redis://, rediss:// or unix:// URL")
            return None
        return text


def clerk_frontend_api(publishable_key: str) -> str | None:
    """The Frontend API host encoded in a Clerk publishable key (`pk_test_<base64(host$)>`)."""
    encoded = publishable_key.split("_", 2)[-1]
    try:
        decoded = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True).decode("ascii")
    except (ValueError, UnicodeDecodeError):
        return None
    if not decoded.endswith("$") or not re.fullmatch(r"[A-Za-z0-9.-]+\.[A-Za-z]{2,}", decoded[:-1]):
        return None
    return decoded[:-1]
