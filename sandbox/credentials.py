"""The sandbox's credentials, so the API works with no accounts at all.

When no Clerk key source is configured, the sandbox makes a local RSA key pair and the app
verifies tokens against it with the same code path as real Clerk keys (`make token` mints
one); when no webhook secret is configured, it makes a local one (`make event` signs with it), and
the same for Clerk's webhooks (`make event SOURCE=clerk`).
Both live in the git-ignored instance folder. Production never loads the sandbox.
"""

from __future__ import annotations

import base64
import os
import secrets
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

ISSUER = "https://clerk.tatame.localhost"
KID = "tatame-dev-key"
KEY_FILE = "dev-clerk-key.pem"
SECRET_FILE = "dev-webhook-secret"
CLERK_SECRET_FILE = "dev-clerk-webhook-secret"


@dataclass(frozen=True)
class SandboxCredentials:
    private_key_pem: bytes
    webhook_secret: str
    clerk_webhook_secret: str   # Svix's form: whsec_ + base64 of the key

    @property
    def public_key_pem(self) -> str:
        key = serialization.load_pem_private_key(self.private_key_pem, password=None)
        return key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ).decode()

    def token(self, user_id: str, *, ttl: int = 3600, authorized_party: str = "http://localhost:3001",
              extra: dict | None = None) -> str:
        """A Clerk-shaped session token for `user_id`, signed with the sandbox's key; `extra`: custom claims (the
        session-token template's, such as `billing`)."""
        now = int(time.time())
        claims = {
            "azp": authorized_party, "exp": now + ttl, "iat": now, "iss": ISSUER, "nbf": now - 5,
            "sid": f"sess_dev_{secrets.token_hex(8)}", "sts": "active", "sub": user_id, "v": 2,
            **(extra or {}),
        }
        return jwt.encode(claims, self.private_key_pem, algorithm="RS256", headers={"kid": KID})


def load_or_create(instance_path: str | Path) -> SandboxCredentials:
    """Read the sandbox's credentials, creating them the first time (safe across processes)."""
    folder = Path(instance_path)
    folder.mkdir(parents=True, exist_ok=True)

    def make_key() -> bytes:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                 serialization.NoEncryption())

    private_key = _create_once(folder / KEY_FILE, make_key)
    secret = _create_once(folder / SECRET_FILE, lambda: f"whsec_dev{secrets.token_hex(24)}".encode())
    clerk_secret = _create_once(folder / CLERK_SECRET_FILE,
                                lambda: b"whsec_" + base64.b64encode(secrets.token_bytes(24)))
    return SandboxCredentials(private_key, secret.decode().strip(), clerk_secret.decode().strip())


def _create_once(path: Path, make) -> bytes:
    if not path.exists():
        fd, temp = tempfile.mkstemp(dir=path.parent)
        try:
            os.write(fd, make())
            os.close(fd)
            os.chmod(temp, 0o600)
            os.link(temp, path)  # fails if another process got there first: theirs wins
        except FileExistsError:
            pass
        finally:
            os.unlink(temp)
    return path.read_bytes()
