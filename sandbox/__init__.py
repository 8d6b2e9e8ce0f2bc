"""The sandbox: the development world, outside the product package, so production never loads it.

It stands in for the accounts a developer has not configured: Stripe (the sandbox's Stripe, its
local Checkout and portal pages, its clock and webhook deliverer), Clerk (a local signing key) and
the webhook secret. wsgi.py composes it outside production (compose.py); app/ never imports it.
"""
