"""One blueprint per concern. Each declares how it is authenticated (app/auth.py)."""

from app.blueprints import billing, docs, health, stripe, webhooks

BLUEPRINTS = (health.bp, docs.bp, stripe.bp, billing.bp, webhooks.bp)
OPTIONAL = {"billing": "billing_enabled"}  # blueprint → the Config switch that turns it on
