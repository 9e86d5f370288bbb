"""One small synchronous database handle over SQLite and PostgreSQL, with versioned migrations.

Stores (keys, audit) run their statements off the event loop (in a thread), so a plain
synchronous driver is enough and keeps both back-ends behaving the same. SQL is written once
with `?` placeholders; the PostgreSQL handle rewrites them to `%s`.
"""

from __future__ import annotations

import hashlib
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg

MIGRATIONS_TABLE = "bordergate_migrations"


class Database:
    """A connection to SQLite (`sqlite:///path`) or PostgreSQL (`postgresql://...`).

    A lock serialises use of the single underlying connection so a handle can be shared by
    threads; each store opens its own handle when it needs concurrency.
    """

    def __init__(self, url: str) -> None:
        self.url = url
        self._lock = threading.RLock()
        if url.startswith("sqlite:///") or url.startswith("sqlite://"):
            self.kind = "sqlite"
            path = url.split("sqlite://", 1)[1]
            path = path[1:] if path.startswith("/") and not path.startswith("//") else path
            if path.startswith("/"):
                path = "/" + path.lstrip("/")
            if path not in ("", ":memory:"):
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            self._conn: Any = sqlite3.connect(
                path or ":memory:", check_same_thread=False, isolation_level=None
            )
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=FULL")
            self._conn.execute("PRAGMA busy_timeout=10000")
        elif url.startswith(("postgresql://", "postgres://")):
            self.kind = "postgresql"
            self._conn = psycopg.connect(url, autocommit=True)
        else:
            raise ValueError(f"unsupported database url (want sqlite:/// or postgresql://): {url}")

    def _sql(self, query: str) -> str:
        return query.replace("?", "%s") if self.kind == "postgresql" else query

    def execute(self, query: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Run one statement; return its rows (empty for statements without a result)."""
        with self._lock:
            cur = self._conn.execute(self._sql(query), tuple(params))
            if cur.description is None:
                return []
            return [tuple(r) for r in cur.fetchall()]

    def executemany(self, query: str, rows: Sequence[Sequence[Any]]) -> None:
        """Run one statement for many parameter rows."""
        with self._lock:
            if self.kind == "sqlite":
                self._conn.executemany(query, rows)
            else:
                with self._conn.cursor() as cur:
                    cur.executemany(self._sql(query), rows)

    def script(self, sql: str) -> None:
        """Run several statements (DDL) at once."""
        with self._lock:
            if self.kind == "sqlite":
                self._conn.executescript(sql)
            else:
                self._conn.execute(sql)

    @contextmanager
    def transaction(self) -> Iterator[Database]:
        """Group statements atomically (BEGIN IMMEDIATE on SQLite to take the write lock)."""
        with self._lock:
            if self.kind == "sqlite":
                self._conn.execute("BEGIN IMMEDIATE")
                try:
                    yield self
                except BaseException:
                    self._conn.execute("ROLLBACK")
                    raise
                self._conn.execute("COMMIT")
            else:
                with self._conn.transaction():
                    yield self

    def close(self) -> None:
        with self._lock:
            self._conn.close()


def migrate(db: Database, component: str, migrations: Sequence[dict[str, str]]) -> int:
    """Apply the not-yet-applied migrations of one component; return the resulting version.

    Each migration is `{"sqlite": sql, "postgresql": sql}`, applied in order; version N is the
    N-th entry (1-based). Components (keys, audit, ...) version their tables independently.
    """
    if not component.isidentifier():
        raise ValueError(f"component name must be an identifier: {component!r}")
    # Replicas starting together on one PostgreSQL must not race: a session advisory lock
    # serialises migration, and the applied version is read only once the lock is held.
    lock_id = int.from_bytes(hashlib.sha256(component.encode()).digest()[:7], "big")
    if db.kind == "postgresql":
        db.execute("SELECT pg_advisory_lock(?)", (lock_id,))
    try:
        db.script(
            f"CREATE TABLE IF NOT EXISTS {MIGRATIONS_TABLE} ("
            "component TEXT NOT NULL, version INTEGER NOT NULL, PRIMARY KEY (component, version))"
        )
        rows = db.execute(
            f"SELECT COALESCE(MAX(version), 0) FROM {MIGRATIONS_TABLE} WHERE component = ?",
            (component,),
        )
        current = int(rows[0][0]) if rows else 0
        for version, migration in enumerate(migrations, start=1):
            if version <= current:
                continue
            # One script per migration, so DDL and its bookkeeping row commit together.
            record = (
                f"INSERT INTO {MIGRATIONS_TABLE} (component, version) "
                f"VALUES ('{component}', {version});"
            )
            db.script(f"BEGIN;\n{migration[db.kind]}\n{record}\nCOMMIT;")
            current = version
    finally:
        if db.kind == "postgresql":
            db.execute("SELECT pg_advisory_unlock(?)", (lock_id,))
    return current
