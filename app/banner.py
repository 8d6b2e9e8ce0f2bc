"""The start-up banner: part by part, what is real and what is embedded, and how to switch.

A part handed to create_app says what backs it in its mode (the sandbox's do: sandbox/compose.py)."""

from __future__ import annotations

from app.services_container import Services

SWITCH = {
    "store": {"sqlite": "embedded SQLite at {sqlite_path}  (real: SUPABASE_URL + SUPABASE_SERVICE_ROLE_KEY)",
              "supabase": "Supabase at {supabase_url}"},
    "billing": {"stripe": "Stripe API{stripe_base}"},
    "auth": {"clerk": "Clerk session tokens",
             "none": "NO key source: every protected request is refused"},
    "webhooks": {"none": "NO signing secret: every delivery is refused"},
    "publishing": {"clerk": "each member's plan to Clerk's public_metadata.billing",
                   "off": "off: the plan is not published to Clerk  (real: CLERK_SECRET_KEY)"},
    "accounts": {"none": "NO Clerk webhook secret: every delivery to /webhooks/clerk is refused"
                         "  (CLERK_WEBHOOK_SECRET)"},
}


def banner(services: Services) -> str:
    config = services.config
    values = {"sqlite_path": config.sqlite_path, "supabase_url": config.supabase_url,
              "stripe_base": f" at {config.stripe_api_base}" if config.stripe_api_base else ""}
    lines = [f"Tatame payments API ({config.app_env}) on port {config.port}"]
    for part in ("store", "billing", "auth", "webhooks", "accounts", "publishing"):
        mode = services.modes.get(part, "given by the caller")
        text = SWITCH.get(part, {}).get(mode, mode).format(**values)
        lines.append(f"  {part:<10} {text}")
    lines.append(f"  cors      {', '.join(config.cors_origins) or 'no origin allowed'}")
    return "\n".join(lines)
