"""The hot-path key cache and the feed that keeps every replica's cache honest.

Authenticating a request must not cost a database round trip, so records (and "no such key")
are cached in memory. Correctness then rests on invalidation: every key change is written to
the `bg_key_events` log (durable) and, when Redis is configured, published on a channel
(immediate). `RevocationWatcher` listens to both; the poll interval (<= 0.5 s) bounds how long
a revoked key can still be accepted when Redis is absent or a message is lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import OrderedDict
from collections.abc import Callable

from bordergate.identity.keys import KeyRecord, KeyStore
from bordergate.identity.types import Identity

log = logging.getLogger(__name__)

# A known key: its record (for revocation/expiry checks) and the Identity built from it once.
CachedKey = tuple[KeyRecord, Identity]

# Events can commit out of sequence order on PostgreSQL (BIGSERIAL is assigned before
# commit), so each poll re-reads a short tail; evicting twice is harmless.
_POLL_LOOKBACK = 64


class KeyCache:
    """Bounded LRU of key hash -> (record, identity) or None ("unknown key"), with TTLs.

    `generation` changes on every eviction; a loader that read the database before an
    eviction passes the generation it saw to `put`, which then refuses the stale record.
    """

    def __init__(
        self,
        *,
        ttl_s: float,
        negative_ttl_s: float,
        max_entries: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._entries: OrderedDict[str, tuple[CachedKey | None, float]] = OrderedDict()
        self._ttl = ttl_s
        self._neg_ttl = negative_ttl_s
        self._max = max_entries
        self._clock = clock
        self.generation = 0

    def get(self, key_hash: str) -> tuple[bool, CachedKey | None]:
        """(hit, record): a hit with None means the key is known not to exist."""
        entry = self._entries.get(key_hash)
        if entry is None:
            return False, None
        record, deadline = entry
        if self._clock() >= deadline:
            del self._entries[key_hash]
            return False, None
        self._entries.move_to_end(key_hash)
        return True, record

    def put(self, key_hash: str, record: CachedKey | None, generation: int) -> None:
        if generation != self.generation:
            return
        ttl = self._ttl if record is not None else self._neg_ttl
        self._entries[key_hash] = (record, self._clock() + ttl)
        self._entries.move_to_end(key_hash)
        while len(self._entries) > self._max:
            self._entries.popitem(last=False)

    def evict(self, key_hash: str) -> None:
        self.generation += 1
        self._entries.pop(key_hash, None)

    def clear(self) -> None:
        self.generation += 1
        self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)


def redis_notifier(redis_url: str, channel: str) -> Callable[[str, str], None]:
    """A `KeyStore` notifier publishing `kind:key_hash` on a Redis channel (sync client)."""
    import redis

    # Short timeouts: a CLI must not hang on an unreachable Redis (the DB log still works).
    client = redis.Redis.from_url(redis_url, socket_connect_timeout=1, socket_timeout=1)

    def notify(key_hash: str, kind: str) -> None:
        client.publish(channel, f"{kind}:{key_hash}")

    return notify


class RevocationWatcher:
    """Evicts changed keys from a `KeyCache`: DB event-log poll plus optional Redis pub/sub."""

    def __init__(
        self,
        cache: KeyCache,
        store: KeyStore,
        *,
        poll_s: float,
        redis_url: str | None = None,
        channel: str = "bordergate:keys:events",
    ) -> None:
        self._cache = cache
        self._store = store
        self._poll_s = poll_s
        self._redis_url = redis_url
        self._channel = channel
        self._seq = 0
        self._seen: set[int] = set()
        self._tasks: list[asyncio.Task[None]] = []
        self.subscribed = asyncio.Event()

    async def start(self) -> None:
        """Start watching. Events before start are irrelevant: the cache starts empty."""
        await self.catch_up()
        self._tasks.append(asyncio.create_task(self._poll_loop()))
        if self._redis_url:
            self._tasks.append(asyncio.create_task(self._redis_loop()))

    async def catch_up(self) -> None:
        """Mark every event already in the log as seen, without evicting anything."""
        last = await asyncio.to_thread(self._store.last_event_seq)
        tail = await asyncio.to_thread(self._store.events_since, max(0, last - _POLL_LOOKBACK))
        self._seen = {seq for seq, _, _ in tail}
        self._seq = max([last, *self._seen])

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()

    async def poll_once(self) -> int:
        """Apply new events from the database log; return how many were new."""
        floor = max(0, self._seq - _POLL_LOOKBACK)
        events = await asyncio.to_thread(self._store.events_since, floor)
        fresh = 0
        for seq, key_hash, _kind in events:
            if seq in self._seen:
                continue
            self._seen.add(seq)
            self._cache.evict(key_hash)
            fresh += 1
            self._seq = max(self._seq, seq)
        floor = self._seq - _POLL_LOOKBACK
        self._seen = {seq for seq in self._seen if seq > floor}
        return fresh

    async def _poll_loop(self) -> None:
        while True:
            try:
                await self.poll_once()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # keep polling through transient DB errors
                log.warning("key event poll failed: %s", exc)
            await asyncio.sleep(self._poll_s)

    async def _redis_loop(self) -> None:
        import redis.asyncio as aioredis

        assert self._redis_url is not None
        while True:
            client = aioredis.Redis.from_url(self._redis_url)
            try:
                pubsub = client.pubsub()
                await pubsub.subscribe(self._channel)
                self.subscribed.set()
                async for message in pubsub.listen():
                    if message.get("type") != "message":
                        continue
                    data = message["data"]
                    text = data.decode() if isinstance(data, bytes) else str(data)
                    _kind, _, key_hash = text.partition(":")
                    if key_hash:
                        self._cache.evict(key_hash)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # reconnect; the DB poll covers the gap
                log.warning("key event subscription failed: %s", exc)
                await asyncio.sleep(1.0)
            finally:
                self.subscribed.clear()
                with contextlib.suppress(Exception):
                    await client.aclose()
