"""Authentication of callers by the static keys in config (the identity store plugs in here)."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping
from typing import Protocol

from bordergate.config import AuthConfig
from bordergate.identity.principal import Principal
from bordergate.server.errors import unauthorized

log = logging.getLogger("bordergate.auth")

ANONYMOUS = Principal(id="anonymous")


class Authenticator(Protocol):
    """Turns request headers into the caller, or raises a 401 GatewayError."""

    async def authenticate(self, headers: Mapping[bytes, bytes]) -> Principal: ...


def presented_key(headers: Mapping[bytes, bytes]) -> str | None:
    """The key from `Authorization: Bearer ...` or `x-api-key` (what the two SDKs send)."""
    auth = headers.get(b"authorization")
    if auth:
        scheme, _, value = auth.decode("latin-1").partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip()
        return None
    key = headers.get(b"x-api-key")
    if key:
        return key.decode("latin-1").strip() or None
    return None


class StaticKeys:
    """Keys declared in config, looked up by SHA-256 digest (plaintext is never kept)."""

    def __init__(self, cfg: AuthConfig) -> None:
        self._by_digest: dict[str, Principal] = {
            k.digest(): Principal(
                id=k.user,
                team=k.team,
                groups=tuple(k.groups),
                country=k.country,
                org=k.org,
                org_country=k.org_country,
                key_id=f"static:{k.digest()[:12]}",
            )
            for k in cfg.keys
        }

    async def authenticate(self, headers: Mapping[bytes, bytes]) -> Principal:
        key = presented_key(headers)
        if key is None:
            raise unauthorized(
                "missing API key: send it as 'Authorization: Bearer <key>' or 'x-api-key'"
            )
        digest = hashlib.sha256(key.encode()).hexdigest()
        # Looked up by digest: lookup timing reveals nothing about the key itself.
        principal = self._by_digest.get(digest)
        if principal is None:
            raise unauthorized("invalid API key")
        return principal


class NoAuth:
    """`auth: {mode: none}`: every caller is the anonymous principal (warned about at start)."""

    async def authenticate(self, headers: Mapping[bytes, bytes]) -> Principal:
        return ANONYMOUS


def build_authenticator(cfg: AuthConfig) -> Authenticator:
    """The authenticator for the configured mode."""
    if cfg.mode == "none":
        log.warning(
            "auth.mode is 'none': the gateway accepts requests WITHOUT a key. "
            "Use this only on a trusted network."
        )
        return NoAuth()
    if not cfg.keys:
        log.warning("auth.mode is 'keys' but no keys are configured: every request gets 401")
    return StaticKeys(cfg)
