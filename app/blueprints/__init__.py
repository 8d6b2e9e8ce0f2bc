"""One blueprint per concern. Each declares how it is authenticated (app/auth.py)."""

from app.blueprints import docs, health, stripe, webhooks

BLUEPRINTS = (health.bp, docs.bp, stripe.bp, webhooks.bp)
