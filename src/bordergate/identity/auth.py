"""Turn request headers into an `Identity` (principal + key limits) without touching the DB.

Order of checks for a presented credential: static keys from config (a SHA-256 dict lookup),
then JWT (by shape, when configured), then virtual keys (HMAC, then the in-memory cache; the
database is read only on a cache miss and then cached, positively or negatively).
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping

from bordergate.identity.cache import CachedKey, KeyCache, RevocationWatcher, redis_notifier
from bordergate.identity.config import IdentityConfig, StaticKeyConfig
from bordergate.identity.jwt import JwtError, JwtVerifier, looks_like_jwt
from bordergate.identity.keys import KeyRecord, KeyStore
from bordergate.identity.principal import Principal
from bordergate.identity.types import Identity, KeyLimits
from bordergate.store.db import Database

_JWT_CACHE_MAX = 10_000

__all__ = ["AuthError", "Authenticator", "Identity", "KeyLimits", "open_key_store"]


class AuthError(Exception):
    """Authentication failed; `reason` names what failed and never echoes the credential."""

    def __init__(self, reason: str, status: int = 401) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


def _header(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name)
    if value is not None:
        return value
    for k, v in headers.items():
        if k.lower() == name:
            return v
    return None


# The only request headers a credential is read from (lower-case, as ASGI names them).
CREDENTIAL_HEADERS = ("authorization", "x-api-key")


def extract_credential(headers: Mapping[str, str]) -> str:
    """The bearer token or `x-api-key` value; raises AuthError when absent or malformed."""
    auth = _header(headers, "authorization")
    if auth:
        scheme, _, token = auth.strip().partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise AuthError("malformed Authorization header (want: Bearer <token>)")
        return token.strip()
    key = _header(headers, "x-api-key")
    if key and key.strip():
        return key.strip()
    raise AuthError("missing credential (Authorization: Bearer or x-api-key)")


def _static_identity(s: StaticKeyConfig, index: int) -> Identity:
    principal = Principal(
        id=s.user,
        team=s.team,
        groups=tuple(s.groups),
        country=s.country.upper(),
        org=s.org,
        org_country=s.org_country.upper(),
        key_id=f"static:{index}",
    )
    return Identity(principal, KeyLimits(s.rpm, s.tpm, s.budget_usd, s.budget_period), "static")


class Authenticator:
    """Authenticates requests; one per worker process. Call `start()` on the running loop."""

    def __init__(
        self,
        config: IdentityConfig,
        store: KeyStore | None = None,
        *,
        jwt: JwtVerifier | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self.store = store
        self._clock = clock
        self.cache = KeyCache(
            ttl_s=config.cache_ttl_s,
            negative_ttl_s=config.negative_cache_ttl_s,
            max_entries=config.cache_max_entries,
        )
        self._static: dict[str, Identity] = {}
        for i, s in enumerate(config.static_keys):
            digest = s.key_sha256 or hashlib.sha256((s.key or "").encode()).hexdigest()
            self._static[digest] = _static_identity(s, i)
        if jwt is None and config.jwt is not None:
            jwt = JwtVerifier(config.jwt)
        self.jwt = jwt
        self._jwt_cache: OrderedDict[str, tuple[Identity, float]] = OrderedDict()
        self.watcher: RevocationWatcher | None = None
        self._owns_store = False
        self._loading: dict[str, asyncio.Task[CachedKey | None]] = {}
        if store is not None:
            self.watcher = RevocationWatcher(
                self.cache,
                store,
                poll_s=config.revocation_poll_s,
                redis_url=config.redis_url,
                channel=config.revocation_channel,
            )

    @classmethod
    def from_config(cls, config: IdentityConfig, *, upgrade: bool = True) -> Authenticator:
        """Build with a key store when a server secret is configured (migrating on start)."""
        store = open_key_store(config, upgrade=upgrade) if config.server_secret else None
        auth = cls(config, store)
        auth._owns_store = True
        return auth

    async def start(self) -> None:
        if self.watcher is not None:
            await self.watcher.start()

    async def close(self) -> None:
        if self.watcher is not None:
            await self.watcher.close()
        if self.jwt is not None:
            await self.jwt.close()
        if self._owns_store and self.store is not None:
            self.store.db.close()

    async def authenticate(self, headers: Mapping[str, str]) -> Identity:
        """Identify the caller of a request or raise AuthError(401, reason)."""
        token = extract_credential(headers)
        static = self._static.get(hashlib.sha256(token.encode()).hexdigest())
        if static is not None:
            return static
        if self.jwt is not None and looks_like_jwt(token):
            return await self._authenticate_jwt(token)
        if self.store is None:
            raise AuthError("unknown key")
        return await self._authenticate_key(token)

    async def _authenticate_key(self, token: str) -> Identity:
        assert self.store is not None
        key_hash = self.store.hash(token)
        hit, cached = self.cache.get(key_hash)
        if not hit:
            cached = await self._load(key_hash)
        if cached is None:
            raise AuthError("unknown key")
        record, identity = cached
        if record.revoked is not None:
            raise AuthError("key revoked")
        if record.is_expired(self._clock()):
            raise AuthError("key expired")
        return identity

    async def _load(self, key_hash: str) -> CachedKey | None:
        """One database read per key hash at a time, however many requests wait for it.

        The read runs as its own task, so a cancelled request does not cancel it for others.
        """
        task = self._loading.get(key_hash)
        if task is None:
            task = asyncio.create_task(self._fetch(key_hash))
            self._loading[key_hash] = task
            task.add_done_callback(lambda t: self._loading.pop(key_hash, None))
            task.add_done_callback(lambda t: t.cancelled() or t.exception())
        return await asyncio.shield(task)

    async def _fetch(self, key_hash: str) -> CachedKey | None:
        assert self.store is not None
        generation = self.cache.generation
        try:
            record = await asyncio.to_thread(self.store.lookup_hash, key_hash)
        except Exception as exc:
            raise AuthError("identity store unavailable", status=503) from exc
        cached = None if record is None else (record, self._identity_of(record))
        self.cache.put(key_hash, cached, generation)
        return cached

    @staticmethod
    def _identity_of(record: KeyRecord) -> Identity:
        return Identity(record.principal(), record.limits(), "key")

    async def _authenticate_jwt(self, token: str) -> Identity:
        assert self.jwt is not None
        now = self._clock()
        cached = self._jwt_cache.get(token)
        if cached is not None and now < cached[1]:
            return cached[0]
        try:
            principal, exp = await self.jwt.verify(token)
        except JwtError as exc:
            raise AuthError(exc.reason) from None
        identity = Identity(principal, KeyLimits(), "jwt")
        self._jwt_cache[token] = (identity, exp)
        while len(self._jwt_cache) > _JWT_CACHE_MAX:
            self._jwt_cache.popitem(last=False)
        return identity


def open_key_store(config: IdentityConfig, *, upgrade: bool = True) -> KeyStore:
    """Open the configured database as a KeyStore (publishing changes to Redis if set)."""
    notify = (
        redis_notifier(config.redis_url, config.revocation_channel) if config.redis_url else None
    )
    store = KeyStore(Database(config.database_url), config.server_secret, notify=notify)
    if upgrade:
        store.upgrade()
    return store
