"""One blueprint per concern. Each declares how it is authenticated (app/auth.py)."""

from app.blueprints import health, stripe, webhooks

BLUEPRINTS = (health.bp, stripe.bp, webhooks.bp)
