"""One blueprint per concern. Each declares how it is authenticated (app/auth.py)."""

from app.blueprints import billing, docs, health, metrics, stripe, webhooks

BLUEPRINTS = (health.bp, docs.bp, stripe.bp, billing.bp, webhooks.bp, metrics.bp)
OPTIONAL = {"billing": "billing_enabled", "metrics": "metrics_token"}  # blueprint → the Config value that turns it on
