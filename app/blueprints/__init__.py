"""One blueprint per concern. Each declares how it is authenticated (app/auth.py)."""

from app.blueprints import billing, clerk_webhooks, docs, health, metrics, stripe, webhooks

BLUEPRINTS = (health.bp, docs.bp, stripe.bp, billing.bp, webhooks.bp, clerk_webhooks.bp, metrics.bp)
# blueprint → whether the built services want it (the others are always registered)
OPTIONAL = {
    "billing": lambda built: built.config.billing_enabled,
    "metrics": lambda built: bool(built.config.metrics_token),  # /metrics exists only behind a token
}
