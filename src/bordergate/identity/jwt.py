"""JWT bearer tokens verified against a JWKS and mapped to a `Principal` through config.

Only asymmetric algorithms from an allow-list are accepted (never `none`, never HMAC with a
public key). The JWKS comes from a file or a URL; a URL is cached for `jwks_ttl_s` and
re-fetched early when a token names an unknown `kid` (key rotation at the IdP), at most once
per `jwks_min_refresh_s` so random kids cannot turn the gateway into a fetch amplifier.
Failures raise `JwtError` whose reason names the check that failed, never the token.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import jwt as pyjwt

from bordergate.identity.config import JwtConfig
from bordergate.identity.principal import Principal


class JwtError(Exception):
    """A token was rejected; `reason` is safe to show to the client."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def looks_like_jwt(token: str) -> bool:
    """Cheap shape test so API keys never reach the JWT parser."""
    return token.startswith("eyJ") and token.count(".") == 2


def claim_at(claims: dict[str, Any], path: str) -> Any:
    """Value at a dotted claim path (`org.team`), or None. An exact key wins over nesting."""
    if path in claims:
        return claims[path]
    node: Any = claims
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def _as_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return str(value[0]) if value else ""
    return str(value)


def _as_groups(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return tuple(g for g in value.replace(",", " ").split() if g)
    if isinstance(value, list):
        return tuple(str(g) for g in value)
    return (str(value),)


def principal_from_claims(claims: dict[str, Any], mapping: dict[str, str]) -> Principal:
    """Build the principal from verified claims as configured (`attribute: claim.path`)."""
    values = {attr: claim_at(claims, path) for attr, path in mapping.items()}
    user = _as_text(values.get("user"))
    if not user:
        raise JwtError(f"JWT missing claim {mapping['user']}")
    country = _as_text(values.get("country")).upper()
    org_country = _as_text(values.get("org_country")).upper()
    return Principal(
        id=user,
        team=_as_text(values.get("team")),
        groups=_as_groups(values.get("groups")),
        country=country,
        org=_as_text(values.get("org")),
        org_country=org_country,
        key_id="",
    )


_ERRORS: tuple[tuple[type[Exception], str], ...] = (
    (pyjwt.ExpiredSignatureError, "JWT expired"),
    (pyjwt.ImmatureSignatureError, "JWT not yet valid"),
    (pyjwt.InvalidAudienceError, "JWT bad audience"),
    (pyjwt.InvalidIssuerError, "JWT bad issuer"),
    (pyjwt.InvalidSignatureError, "JWT bad signature"),
    (pyjwt.InvalidAlgorithmError, "JWT algorithm not allowed"),
    (pyjwt.InvalidIssuedAtError, "JWT bad issued-at"),
)


class JwtVerifier:
    """Verifies tokens for one issuer; `verify` returns (principal, exp)."""

    def __init__(self, config: JwtConfig, *, clock: Callable[[], float] = time.time) -> None:
        self.config = config
        self._clock = clock
        self._keys: dict[str, Any] = {}
        self._single: Any = None
        self._loaded_at = float("-inf")
        self._lock = asyncio.Lock()
        self._session: aiohttp.ClientSession | None = None

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _install(self, jwks: dict[str, Any]) -> None:
        try:
            keyset = pyjwt.PyJWKSet.from_dict(jwks)
        except pyjwt.PyJWKSetError as exc:
            raise JwtError("JWKS has no usable keys") from exc
        self._keys = {k.key_id: k for k in keyset.keys if k.key_id}
        self._single = keyset.keys[0] if len(keyset.keys) == 1 else None
        self._loaded_at = self._clock()

    async def _fetch(self) -> dict[str, Any]:
        cfg = self.config
        if cfg.jwks_file is not None:
            path = Path(cfg.jwks_file)
            text = await asyncio.to_thread(path.read_text, encoding="utf-8")
            data: dict[str, Any] = json.loads(text)
            return data
        assert cfg.jwks_url is not None
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5))
        async with self._session.get(cfg.jwks_url) as resp:
            if resp.status != 200:
                raise JwtError(f"JWKS fetch failed with HTTP {resp.status}")
            fetched: dict[str, Any] = await resp.json(content_type=None)
            return fetched

    async def refresh(self, *, force: bool = False) -> None:
        """Load the JWKS if stale (or if `force` and the minimum refresh interval passed)."""
        async with self._lock:
            age = self._clock() - self._loaded_at
            if force and age < self.config.jwks_min_refresh_s:
                return
            if not force and age < self.config.jwks_ttl_s:
                return
            try:
                jwks = await self._fetch()
            except JwtError:
                raise
            except Exception as exc:
                if self._keys or self._single is not None:
                    return  # keep serving with the keys we have
                raise JwtError("JWKS unavailable") from exc
            self._install(jwks)

    async def _key_for(self, kid: str | None) -> Any:
        await self.refresh()
        key = self._keys.get(kid) if kid else self._single
        if key is None and kid:
            await self.refresh(force=True)
            key = self._keys.get(kid)
        if key is None:
            raise JwtError("JWT unknown key id" if kid else "JWT has no key id")
        return key

    async def verify(self, token: str) -> tuple[Principal, float]:
        """Check signature, algorithm, issuer, audience, exp and nbf; map the claims."""
        cfg = self.config
        try:
            header = pyjwt.get_unverified_header(token)
        except pyjwt.PyJWTError as exc:
            raise JwtError("malformed JWT") from exc
        alg = header.get("alg")
        if alg not in cfg.algorithms:
            raise JwtError("JWT algorithm not allowed")
        key = await self._key_for(header.get("kid"))
        try:
            claims = pyjwt.decode(
                token,
                key=key.key,
                algorithms=cfg.algorithms,
                audience=cfg.audience,
                issuer=cfg.issuer,
                leeway=cfg.leeway_s,
                options={"require": ["exp", "iss", "aud"]},
            )
        except pyjwt.MissingRequiredClaimError as exc:
            raise JwtError(f"JWT missing claim {exc.claim}") from exc
        except pyjwt.PyJWTError as exc:
            for cls, reason in _ERRORS:
                if isinstance(exc, cls):
                    raise JwtError(reason) from exc
            raise JwtError("malformed JWT") from exc
        except (TypeError, ValueError) as exc:
            # An allowed algorithm of another family than the key its `kid` names (ES256 with
            # an RSA key): the library refuses the key's type. A forged token, not a fault.
            raise JwtError("JWT algorithm does not match its key") from exc
        return principal_from_claims(claims, cfg.claims), float(claims["exp"])
