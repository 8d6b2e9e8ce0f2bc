"""The sandbox's Clerk: the Clerk Backend API calls we make, answered as Clerk answers them, over httpx.

Clerk's SDK (clerk-backend-api) speaks httpx, so the sandbox hands it an httpx client whose
transport answers here (`client()`), with no network, as the sandbox's Stripe does for the stripe
SDK. It keeps each user's public metadata in SQLite (a file in the instance folder, shared by every
worker and by `make token`, which puts the published `billing` claim in its tokens; or memory):

- `PATCH /v1/users/{id}/metadata`: deep-merges `public_metadata` (and the private and unsafe
  ones) as Clerk does (objects merge, a null removes a key, anything else replaces) and answers the
  user. Any user id exists: the sandbox signs tokens for whoever asks (`make token USER=...`).
- `GET /v1/users/{id}`: the user.

`down = True` (tests) makes it answer 503, as a Clerk outage would.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from pathlib import Path

import httpx

from app.gateways.clerk_metadata import build_clerk

SANDBOX_KEY = "sk_test_sandbox_clerk_not_a_real_key"
SCHEMA = """CREATE TABLE IF NOT EXISTS clerk_users (
    id TEXT PRIMARY KEY, public_metadata TEXT NOT NULL, private_metadata TEXT NOT NULL,
    unsafe_metadata TEXT NOT NULL, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL)"""
METADATA = ("public_metadata", "private_metadata", "unsafe_metadata")


def merge(stored: dict, change: dict) -> dict:
    """Clerk's deep merge of metadata: objects merge key by key, a null removes the key, anything else replaces."""
    merged = dict(stored)
    for key, value in change.items():
        if value is None:
            merged.pop(key, None)
        elif isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge(merged[key], value)
        else:
            merged[key] = value
    return merged


class SandboxClerk:
    """Users' metadata, as Clerk's Backend API keeps it, for the calls we make."""

    def __init__(self, path: str | None = None):
        self.path, self.down, self.requests = path, False, []
        self._lock = threading.Lock()
        if path:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._memory = sqlite3.connect(":memory:", check_same_thread=False) if not path else None
        with self._db() as db:
            db.execute(SCHEMA)

    def _db(self) -> sqlite3.Connection:
        return self._memory if self._memory is not None else sqlite3.connect(self.path, timeout=10)

    def client(self, timeout: float = 5.0):
        """Clerk's SDK client, answered here."""
        return build_clerk(SANDBOX_KEY, timeout=timeout, client=httpx.Client(transport=httpx.MockTransport(self.handle)))

    def public_metadata(self, user_id: str) -> dict:
        """What Clerk holds in the user's public metadata ({} for a user never written)."""
        row = self._row(user_id)
        return json.loads(row[1]) if row else {}

    def _row(self, user_id: str):
        with self._lock:
            db = self._db()
            try:
                return db.execute(f"SELECT id, {', '.join(METADATA)}, created_at, updated_at FROM clerk_users"
                                  " WHERE id = ?", (user_id,)).fetchone()
            finally:
                if db is not self._memory:
                    db.close()

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append((request.method, request.url.path))
        if self.down:
            return httpx.Response(503, text="upstream unavailable")
        if not request.headers.get("authorization", "").startswith("Bearer sk_test_"):
            return _error(401, "authentication_invalid", "The sandbox's Clerk takes sk_test_ keys only.")
        parts = request.url.path.strip("/").split("/")
        if len(parts) == 4 and parts[:2] == ["v1", "users"] and parts[3] == "metadata" and request.method == "PATCH":
            return self._update_metadata(parts[2], json.loads(request.content or b"{}"))
        if len(parts) == 3 and parts[:2] == ["v1", "users"] and request.method == "GET":
            return httpx.Response(200, json=self._user(parts[2]))
        return _error(404, "resource_not_found", "The sandbox's Clerk does not answer this call.")

    def _update_metadata(self, user_id: str, body: dict) -> httpx.Response:
        if not isinstance(body, dict) or not all(isinstance(body.get(k) or {}, dict) for k in METADATA):
            return _error(422, "form_param_format_invalid", "Metadata must be objects.")
        now = int(time.time() * 1000)
        with self._lock:
            db = self._db()
            try:
                row = db.execute(f"SELECT {', '.join(METADATA)} FROM clerk_users WHERE id = ?", (user_id,)).fetchone()
                stored = [json.loads(value) for value in row] if row else [{}, {}, {}]
                merged = [merge(old, body.get(name) or {}) for old, name in zip(stored, METADATA)]
                db.execute("INSERT INTO clerk_users (id, public_metadata, private_metadata, unsafe_metadata,"
                           " created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET"
                           " public_metadata = excluded.public_metadata, private_metadata = excluded.private_metadata,"
                           " unsafe_metadata = excluded.unsafe_metadata, updated_at = excluded.updated_at",
                           (user_id, *(json.dumps(m) for m in merged), now, now))
                db.commit()
            finally:
                if db is not self._memory:
                    db.close()
        return httpx.Response(200, json=self._user(user_id))

    def _user(self, user_id: str) -> dict:
        """The user as Clerk's Backend API shows it (only what the sandbox knows is filled in)."""
        row = self._row(user_id)
        public, private, unsafe = (json.loads(value) for value in row[1:4]) if row else ({}, {}, {})
        created, updated = (row[4], row[5]) if row else (0, 0)
        return {
            "id": user_id, "object": "user", "external_id": None, "primary_email_address_id": None,
            "primary_phone_number_id": None, "primary_web3_wallet_id": None, "username": None, "first_name": None,
            "last_name": None, "profile_image_url": "", "image_url": "", "has_image": False,
            "public_metadata": public, "private_metadata": private, "unsafe_metadata": unsafe,
            "email_addresses": [], "phone_numbers": [], "web3_wallets": [], "passkeys": [], "password_enabled": False,
            "two_factor_enabled": False, "totp_enabled": False, "backup_code_enabled": False,
            "mfa_enabled_at": None, "mfa_disabled_at": None, "external_accounts": [], "saml_accounts": [],
            "enterprise_accounts": [], "last_sign_in_at": None, "banned": False, "locked": False,
            "lockout_expires_in_seconds": None, "verification_attempts_remaining": None, "updated_at": updated,
            "created_at": created, "delete_self_enabled": True, "create_organization_enabled": True,
            "last_active_at": None, "legal_accepted_at": None,
        }


def _error(status: int, code: str, message: str) -> httpx.Response:
    return httpx.Response(status, json={"errors": [{"message": message, "long_message": message, "code": code}]})
