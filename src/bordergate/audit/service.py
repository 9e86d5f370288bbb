"""One object the server holds: the configured store, writer, checkpointer and body cipher.

Typical wiring:

    audit = AuditLog.open(config.audit)            # at start-up
    event.prompt_enc = audit.seal_body(rid, "prompt", body)   # only if audit.stores_bodies
    await audit.append(event)                      # before completing the response (strict)
    await audit.close()                            # at shutdown: flush + final checkpoint
"""

from __future__ import annotations

from dataclasses import dataclass

from bordergate.audit.bodies import BodyCipher
from bordergate.audit.checkpoints import Checkpointer, load_private_key
from bordergate.audit.config import AuditConfig
from bordergate.audit.event import AuditEvent
from bordergate.audit.store import AuditStore, PreparedEvent
from bordergate.audit.writer import AuditWriter


@dataclass
class AuditLog:
    """The audit subsystem of one gateway process."""

    config: AuditConfig
    store: AuditStore
    writer: AuditWriter
    cipher: BodyCipher | None

    @classmethod
    def open(cls, config: AuditConfig) -> AuditLog:
        """Open (and migrate) the store and start the writer thread."""
        store = AuditStore(config.database)
        checkpointer = None
        if config.signing_key is not None:
            checkpointer = Checkpointer(
                load_private_key(config.signing_key),
                every_events=config.checkpoint_every_events,
                every_seconds=config.checkpoint_every_seconds,
                directory=config.checkpoint_dir,
            )
        writer = AuditWriter(
            store,
            durability=config.durability,
            max_batch=config.batch_max_events,
            max_delay_ms=config.batch_max_delay_ms,
            checkpointer=checkpointer,
            tick_seconds=min(1.0, config.checkpoint_every_seconds),
        )
        key = config.encryption_key()
        return cls(config, store, writer, BodyCipher(key) if key is not None else None)

    @property
    def stores_bodies(self) -> bool:
        return self.cipher is not None

    def seal_body(self, request_id: str, kind: str, body: bytes) -> str | None:
        """Encrypted body for the event, or None when bodies are not stored."""
        return self.cipher.seal(request_id, kind, body) if self.cipher is not None else None

    async def append(self, event: AuditEvent) -> int | None:
        """See `AuditWriter.append`."""
        return await self.writer.append(event)

    async def append_prepared(self, prepared: PreparedEvent, request_id: str) -> int | None:
        """See `AuditWriter.append_prepared`."""
        return await self.writer.append_prepared(prepared, request_id)

    async def close(self) -> None:
        await self.writer.close()
        self.store.close()
