"""Access tokens: HS256 JWTs with a pinned algorithm and required claims.

Claims: ``sub`` (user id, UUID string), ``name`` (display name), ``iat``/``exp`` (epoch s),
``jti`` (random id). Lifetime defaults to 15 minutes (DESIGN.md section 1). The signing key
comes from settings or is generated once into ``<data_dir>/jwt_secret`` (mode 0600) so
tokens survive restarts of a zero-config server.
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from pathlib import Path

import jwt

from game_server.config import Settings

ALGORITHM = "HS256"
REQUIRED_CLAIMS = ["exp", "iat", "sub", "jti"]
MIN_KEY_BYTES = 32


class AuthError(Exception):
    """A token is missing, malformed, expired or signed with another key."""


@dataclass(frozen=True, slots=True)
class Identity:
    """Who a verified access token speaks for."""

    user_id: uuid.UUID
    display_name: str


def load_signing_key(settings: Settings) -> bytes:
    """The HS256 key: settings.jwt_secret, else the key file under data_dir (created with
    256 random bits on first use). Raises ValueError if a key file holds < 32 bytes."""
    if settings.jwt_secret is not None:
        return settings.jwt_secret.get_secret_value().encode()
    path = Path(settings.data_dir) / "jwt_secret"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600)
        path.write_text(secrets.token_urlsafe(48))
    key = path.read_text().strip().encode()
    if len(key) < MIN_KEY_BYTES:
        raise ValueError(f"{path} must hold at least {MIN_KEY_BYTES} bytes")
    return key


class TokenIssuer:
    """Issues and verifies access tokens with one key."""

    def __init__(self, key: bytes, ttl_s: int) -> None:
        if len(key) < MIN_KEY_BYTES:
            raise ValueError("JWT signing key must be at least 256 bits")
        self._key = key
        self.ttl_s = ttl_s

    def issue(self, identity: Identity, now_s: int) -> str:
        """A signed token valid from ``now_s`` (epoch s) for ``ttl_s`` seconds."""
        claims = {
            "sub": str(identity.user_id),
            "name": identity.display_name,
            "iat": now_s,
            "exp": now_s + self.ttl_s,
            "jti": secrets.token_hex(8),
        }
        return jwt.encode(claims, self._key, algorithm=ALGORITHM)

    def verify(self, token: object) -> Identity:
        """The identity of a valid token; raises AuthError with a reason otherwise."""
        if not isinstance(token, str) or not token or len(token) > 4096:
            raise AuthError("missing or malformed token")
        try:
            claims = jwt.decode(token, self._key, algorithms=[ALGORITHM],
                                options={"require": REQUIRED_CLAIMS})
            return Identity(uuid.UUID(claims["sub"]), str(claims.get("name", "")))
        except jwt.ExpiredSignatureError as exc:
            raise AuthError("token expired") from exc
        except (jwt.InvalidTokenError, ValueError, TypeError) as exc:
            raise AuthError("invalid token") from exc
