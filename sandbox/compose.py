"""The development composition: the sandbox's parts, handed to create_app for what is not configured.

wsgi.py calls `compose(config)` outside production (production never imports this package) and
hands `collaborators()` to create_app. Each part stands in only for what the configuration lacks:

- no STRIPE_SECRET_KEY: the sandbox's Stripe (sandbox/stripe/) over a state file in the instance
  folder, reached by the production StripeGateway in process (in_process.py); its local Checkout
  and portal pages under /dev (blueprint.py); `flask stripe clock` and `flask stripe pay`; and, in
  each gunicorn worker, a deliverer posting its events to this server's /webhooks/stripe.
- no Clerk key source: a local key pair (credentials.py), which `make token` signs tokens with.
- no webhook secret: a local one, which `make event` and the deliverer sign with.
- no CLERK_SECRET_KEY: the sandbox's Clerk (clerk.py) takes each member's published plan, and
  `make token` puts it in its tokens' `billing` claim, as Clerk's session-token template would.
- no CLERK_WEBHOOK_SECRET: a local Svix-style one, which `make event SOURCE=clerk` signs Clerk's events with.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from app.gateways.bounded import BoundedGateway
from app.services.clerk import ClerkVerifier, StaticKey, build_verifier
from config import Config
from sandbox import credentials
from sandbox.blueprint import pages
from sandbox.clerk import SandboxClerk
from sandbox.commands import commands
from sandbox.in_process import sandbox_gateway
from sandbox.stripe import SandboxStripe
from sandbox.stripe.delivery import Deliverer, http_poster

STATE_FILE = "sandbox-stripe.sqlite3"
CLERK_FILE = "sandbox-clerk.sqlite3"
# What the start-up banner says backs each part the sandbox stands in for, and how to switch to the real one.
MODES = {
    "billing": "the sandbox's Stripe: offline catalog (sandbox/stripe/catalog.json), cus_demo_ customers, pages"
               " under /dev  (real: STRIPE_SECRET_KEY)",
    "auth": "the sandbox's key; get a token with `make token`"
            "  (real: CLERK_PUBLISHABLE_KEY, CLERK_JWKS_URL, CLERK_JWT_KEY or CLERK_SECRET_KEY)",
    "webhooks": "the sandbox's secret; send one with `make event`"
                "  (real: STRIPE_WEBHOOK_SECRET from the Stripe dashboard or `stripe listen`)",
    "publishing": "each member's plan to the sandbox's Clerk; `make token` carries it as the `billing` claim"
                  "  (real: CLERK_SECRET_KEY)",
    "accounts": "the sandbox's Clerk webhook secret; send one with `make event SOURCE=clerk`"
                "  (real: CLERK_WEBHOOK_SECRET from the Clerk dashboard)",
}


def sandbox_clerk_for(config: Config) -> SandboxClerk:
    """The sandbox's Clerk over the instance's file (every worker and `make token` see the same users)."""
    return SandboxClerk(str(Path(config.instance_path) / CLERK_FILE))


def sandbox_stripe_for(config: Config) -> SandboxStripe:
    """The sandbox's Stripe over the instance's state file (every SandboxStripe on that file shares its state and
    clock); its Checkout and portal URLs open the local pages on this server."""
    return SandboxStripe(str(Path(config.instance_path) / STATE_FILE), page_base=f"http://localhost:{config.port}/dev")


@dataclass
class Sandbox:
    """What the sandbox stands in for under one configuration."""

    config: Config
    stripe: SandboxStripe | None                       # None: Stripe itself is configured
    credentials: credentials.SandboxCredentials | None  # None: Clerk and both webhook secrets are configured
    signs_tokens: bool                                  # no Clerk key source: the app checks the sandbox's key
    clerk: SandboxClerk | None = None                   # None: CLERK_SECRET_KEY is configured (Clerk itself)

    @property
    def clerk_webhook_secret(self) -> str:
        """The secret the app checks Clerk's deliveries with: the first configured one, else the sandbox's."""
        configured = self.config.clerk_webhook_secrets
        return configured[0] if configured else self.credentials.clerk_webhook_secret

    @property
    def webhook_secret(self) -> str:
        """The secret the app checks deliveries with: the first configured one, else the sandbox's."""
        configured = self.config.stripe_webhook_secrets
        return configured[0] if configured else self.credentials.webhook_secret

    def collaborators(self) -> dict:
        """Keyword arguments for create_app: the parts it stands in for, its pages and commands, their modes."""
        parts: dict = {"blueprints": [], "commands": commands(self), "modes": {}}
        if self.stripe is not None:
            gateway = sandbox_gateway(self.stripe, self.config.stripe_api_version)
            parts["gateway"] = BoundedGateway(gateway, self.config.stripe_max_concurrency)
            parts["blueprints"].append(pages(self.stripe))
            parts["modes"]["billing"] = MODES["billing"]
        if self.signs_tokens:
            parts["verifier"] = ClerkVerifier(StaticKey(self.credentials.public_key_pem), issuer=credentials.ISSUER,
                                              authorized_parties=self.config.clerk_authorized_parties,
                                              require_azp=self.config.clerk_require_azp)
            parts["modes"]["auth"] = MODES["auth"]
        if not self.config.stripe_webhook_secrets:
            parts["webhook_secrets"] = (self.credentials.webhook_secret,)
            parts["modes"]["webhooks"] = MODES["webhooks"]
        if self.clerk is not None:
            parts["clerk"] = self.clerk.client(timeout=self.config.clerk_publish_timeout)
            parts["modes"]["publishing"] = MODES["publishing"]
        if not self.config.clerk_webhook_secrets:
            parts["clerk_webhook_secrets"] = (self.credentials.clerk_webhook_secret,)
            parts["modes"]["accounts"] = MODES["accounts"]
        return parts

    def deliverer(self) -> Deliverer | None:
        """The sandbox's webhook deliverer, posting to this server's /webhooks/stripe; None over Stripe itself."""
        if self.stripe is None:
            return None
        return Deliverer(sandbox_stripe_for(self.config).state, self.webhook_secret,
                         http_poster(f"http://127.0.0.1:{self.config.port}/webhooks/stripe"),
                         mode=self.config.sandbox_delivery)

    def post_worker_init(self, worker=None) -> None:
        """In each gunicorn worker once it runs (gunicorn.conf.py, through wsgi.py): deliver the sandbox's events."""
        deliverer = self.deliverer()
        if deliverer is not None:
            deliverer.start()


def compose(config: Config) -> Sandbox:
    """The sandbox for `config`: a part for each account that is not configured. Never in production."""
    if config.is_production:
        raise RuntimeError("the sandbox never runs in production")
    signs_tokens = build_verifier(config) is None
    needs_credentials = signs_tokens or not config.stripe_webhook_secrets or not config.clerk_webhook_secrets
    return Sandbox(config=config,
                   stripe=None if config.stripe_secret_key else sandbox_stripe_for(config),
                   credentials=credentials.load_or_create(config.instance_path) if needs_credentials else None,
                   signs_tokens=signs_tokens,
                   clerk=None if config.clerk_secret_key else sandbox_clerk_for(config))
