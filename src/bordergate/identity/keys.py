"""Virtual API keys: issued once, stored only as an HMAC under the server secret.

The plaintext leaves the process exactly once (at create/rotate); the database holds
HMAC-SHA256(server_secret, key), so a leaked database cannot be replayed against the gateway
and a key cannot be recovered. Every change that must reach other replicas (revoke, rotate,
create) appends a row to `bg_key_events`; replicas poll that log cheaply and may also get the
same event immediately over Redis pub/sub (see `cache.py`).
"""

from __future__ import annotations

import builtins
import contextlib
import hmac
import re
import secrets
import string
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from bordergate.identity.principal import Principal
from bordergate.identity.types import KeyLimits
from bordergate.store.db import Database, migrate

__all__ = ["KeyLimits", "KeyNotFound", "KeyRecord", "KeyStore", "generate_key", "hash_key"]

KEY_PREFIX = "bg-"
_ALPHABET = string.ascii_letters + string.digits
_KEY_BODY_LEN = 32  # 32 base62 chars ~ 190 bits

MIGRATIONS: list[dict[str, str]] = [
    {
        "sqlite": """
CREATE TABLE bg_keys (
  id TEXT PRIMARY KEY,
  key_hash TEXT NOT NULL UNIQUE,
  user_id TEXT NOT NULL,
  team TEXT NOT NULL DEFAULT '',
  groups_csv TEXT NOT NULL DEFAULT '',
  country TEXT NOT NULL DEFAULT '',
  org TEXT NOT NULL DEFAULT '',
  org_country TEXT NOT NULL DEFAULT '',
  created REAL NOT NULL,
  expires REAL,
  revoked REAL,
  rpm INTEGER,
  tpm INTEGER,
  budget_usd REAL,
  budget_period TEXT NOT NULL DEFAULT 'month',
  rotated_from TEXT
);
CREATE TABLE bg_key_events (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  key_hash TEXT NOT NULL,
  kind TEXT NOT NULL,
  at REAL NOT NULL
);
""",
        "postgresql": """
CREATE TABLE bg_keys (
  id TEXT PRIMARY KEY,
  key_hash TEXT NOT NULL UNIQUE,
  user_id TEXT NOT NULL,
  team TEXT NOT NULL DEFAULT '',
  groups_csv TEXT NOT NULL DEFAULT '',
  country TEXT NOT NULL DEFAULT '',
  org TEXT NOT NULL DEFAULT '',
  org_country TEXT NOT NULL DEFAULT '',
  created DOUBLE PRECISION NOT NULL,
  expires DOUBLE PRECISION,
  revoked DOUBLE PRECISION,
  rpm BIGINT,
  tpm BIGINT,
  budget_usd DOUBLE PRECISION,
  budget_period TEXT NOT NULL DEFAULT 'month',
  rotated_from TEXT
);
CREATE TABLE bg_key_events (
  seq BIGSERIAL PRIMARY KEY,
  key_hash TEXT NOT NULL,
  kind TEXT NOT NULL,
  at DOUBLE PRECISION NOT NULL
);
""",
    },
]

_COLUMNS = (
    "id, key_hash, user_id, team, groups_csv, country, org, org_country, created, expires, "
    "revoked, rpm, tpm, budget_usd, budget_period, rotated_from"
)


class KeyNotFound(LookupError):
    """A key operation named a key id that does not exist (or is already revoked)."""


@dataclass(frozen=True, slots=True)
class KeyRecord:
    """One stored key, without its plaintext (which is never stored)."""

    id: str
    key_hash: str
    user: str
    team: str = ""
    groups: tuple[str, ...] = field(default_factory=tuple)
    country: str = ""
    org: str = ""
    org_country: str = ""
    created: float = 0.0
    expires: float | None = None
    revoked: float | None = None
    rpm: int | None = None
    tpm: int | None = None
    budget_usd: float | None = None
    budget_period: str = "month"
    rotated_from: str | None = None

    def principal(self) -> Principal:
        """The caller as the policy sees it."""
        return Principal(
            id=self.user,
            team=self.team,
            groups=self.groups,
            country=self.country,
            org=self.org,
            org_country=self.org_country,
            key_id=self.id,
        )

    def limits(self) -> KeyLimits:
        return KeyLimits(self.rpm, self.tpm, self.budget_usd, self.budget_period)

    def is_expired(self, now: float) -> bool:
        return self.expires is not None and now >= self.expires

    def public_dict(self) -> dict[str, Any]:
        """JSON-safe view for CLI and admin API output (no hash: it is not needed outside)."""
        return {
            "id": self.id,
            "user": self.user,
            "team": self.team,
            "groups": list(self.groups),
            "country": self.country,
            "org": self.org,
            "org_country": self.org_country,
            "created": self.created,
            "expires": self.expires,
            "revoked": self.revoked,
            "rpm": self.rpm,
            "tpm": self.tpm,
            "budget_usd": self.budget_usd,
            "budget_period": self.budget_period,
            "rotated_from": self.rotated_from,
        }


def generate_key() -> str:
    """A fresh random key `bg-<32 base62 chars>`; the prefix lets scanners recognise leaks."""
    return KEY_PREFIX + "".join(secrets.choice(_ALPHABET) for _ in range(_KEY_BODY_LEN))


def hash_key(server_secret: str, plaintext: str) -> str:
    """HMAC-SHA256 of a key under the server secret, hex encoded."""
    return hmac.digest(server_secret.encode(), plaintext.encode(), "sha256").hex()


_DURATION_RE = re.compile(r"^\s*(\d+)\s*([smhdw])\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_duration(text: str) -> float:
    """Parse `90d`, `12h`, `30m`, `45s`, `2w` into seconds."""
    m = _DURATION_RE.match(text)
    if not m:
        raise ValueError(f"invalid duration {text!r} (want e.g. 90d, 12h, 30m)")
    return float(int(m.group(1)) * _UNITS[m.group(2)])


def _row_to_record(row: Sequence[Any]) -> KeyRecord:
    groups = tuple(g for g in str(row[4]).split(",") if g)
    return KeyRecord(
        id=row[0],
        key_hash=row[1],
        user=row[2],
        team=row[3],
        groups=groups,
        country=row[5],
        org=row[6],
        org_country=row[7],
        created=float(row[8]),
        expires=None if row[9] is None else float(row[9]),
        revoked=None if row[10] is None else float(row[10]),
        rpm=None if row[11] is None else int(row[11]),
        tpm=None if row[12] is None else int(row[12]),
        budget_usd=None if row[13] is None else float(row[13]),
        budget_period=row[14],
        rotated_from=row[15],
    )


Notifier = Callable[[str, str], None]  # (key_hash, kind) -> None


class KeyStore:
    """Keys in SQLite or PostgreSQL. Synchronous: callers on the event loop use a thread.

    `notify(key_hash, kind)` is called after each committed change so a Redis publisher can
    tell other replicas at once; the event row in the database is the durable fallback.
    """

    def __init__(
        self,
        db: Database,
        server_secret: str,
        *,
        notify: Notifier | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not server_secret:
            raise ValueError("identity.server_secret is required to store keys")
        self.db = db
        self._secret_bytes = server_secret.encode()
        self._notify = notify
        self._clock = clock

    def upgrade(self) -> int:
        """Apply pending migrations of the `keys` component; return its schema version."""
        return migrate(self.db, "keys", MIGRATIONS)

    def hash(self, plaintext: str) -> str:
        """The stored form of a key (HMAC-SHA256 under the server secret, hex)."""
        return hmac.digest(self._secret_bytes, plaintext.encode(), "sha256").hex()

    def create(
        self,
        user: str,
        *,
        team: str = "",
        groups: Sequence[str] = (),
        country: str = "",
        org: str = "",
        org_country: str = "",
        expires_in_s: float | None = None,
        rpm: int | None = None,
        tpm: int | None = None,
        budget_usd: float | None = None,
        budget_period: str = "month",
        rotated_from: str | None = None,
    ) -> tuple[str, KeyRecord]:
        """Issue a key; the returned plaintext is the only copy that will ever exist."""
        if not user:
            raise ValueError("user is required")
        if budget_period not in ("day", "month"):
            raise ValueError("budget_period must be day or month")
        for g in groups:
            if "," in g or not g:
                raise ValueError(f"invalid group name {g!r}")
        plaintext = generate_key()
        now = self._clock()
        record = KeyRecord(
            id="key_" + secrets.token_hex(8),
            key_hash=self.hash(plaintext),
            user=user,
            team=team,
            groups=tuple(groups),
            country=country.upper(),
            org=org,
            org_country=org_country.upper(),
            created=now,
            expires=None if expires_in_s is None else now + expires_in_s,
            rpm=rpm,
            tpm=tpm,
            budget_usd=budget_usd,
            budget_period=budget_period,
            rotated_from=rotated_from,
        )
        with self.db.transaction() as tx:
            self._insert(tx, record)
            self._event(tx, record.key_hash, "create", now)
        self._publish(record.key_hash, "create")
        return plaintext, record

    def _insert(self, tx: Database, r: KeyRecord) -> None:
        tx.execute(
            f"INSERT INTO bg_keys ({_COLUMNS}) VALUES ({', '.join('?' * 16)})",
            (
                r.id,
                r.key_hash,
                r.user,
                r.team,
                ",".join(r.groups),
                r.country,
                r.org,
                r.org_country,
                r.created,
                r.expires,
                r.revoked,
                r.rpm,
                r.tpm,
                r.budget_usd,
                r.budget_period,
                r.rotated_from,
            ),
        )

    @staticmethod
    def _event(tx: Database, key_hash: str, kind: str, at: float) -> None:
        tx.execute(
            "INSERT INTO bg_key_events (key_hash, kind, at) VALUES (?, ?, ?)", (key_hash, kind, at)
        )

    def _publish(self, key_hash: str, kind: str) -> None:
        if self._notify is not None:
            # A lost publish only delays propagation to the next DB poll (<= 0.5 s).
            with contextlib.suppress(Exception):
                self._notify(key_hash, kind)

    def list(self, *, include_revoked: bool = True) -> list[KeyRecord]:
        """All keys, oldest first."""
        where = "" if include_revoked else " WHERE revoked IS NULL"
        rows = self.db.execute(f"SELECT {_COLUMNS} FROM bg_keys{where} ORDER BY created, id")
        return [_row_to_record(r) for r in rows]

    def get(self, key_id: str) -> KeyRecord | None:
        rows = self.db.execute(f"SELECT {_COLUMNS} FROM bg_keys WHERE id = ?", (key_id,))
        return _row_to_record(rows[0]) if rows else None

    def lookup_hash(self, key_hash: str) -> KeyRecord | None:
        rows = self.db.execute(f"SELECT {_COLUMNS} FROM bg_keys WHERE key_hash = ?", (key_hash,))
        return _row_to_record(rows[0]) if rows else None

    def lookup(self, plaintext: str) -> KeyRecord | None:
        """The record of a presented key (revoked/expired records are returned as they are)."""
        return self.lookup_hash(self.hash(plaintext))

    def revoke(self, key_id: str) -> KeyRecord:
        """Revoke a key now; raises KeyNotFound when no such key is live."""
        now = self._clock()
        with self.db.transaction() as tx:
            record = self._live(tx, key_id)
            tx.execute("UPDATE bg_keys SET revoked = ? WHERE id = ?", (now, key_id))
            self._event(tx, record.key_hash, "revoke", now)
        self._publish(record.key_hash, "revoke")
        return replace(record, revoked=now)

    def rotate(self, key_id: str) -> tuple[str, KeyRecord]:
        """Revoke a key and issue a new one with the same attributes and limits.

        The remaining lifetime is kept, so rotation cannot be used to extend an expiry.
        """
        now = self._clock()
        plaintext = generate_key()
        with self.db.transaction() as tx:
            old = self._live(tx, key_id)
            tx.execute("UPDATE bg_keys SET revoked = ? WHERE id = ?", (now, key_id))
            new = replace(
                old,
                id="key_" + secrets.token_hex(8),
                key_hash=self.hash(plaintext),
                created=now,
                revoked=None,
                rotated_from=old.id,
            )
            self._insert(tx, new)
            self._event(tx, old.key_hash, "revoke", now)
            self._event(tx, new.key_hash, "create", now)
        self._publish(old.key_hash, "revoke")
        self._publish(new.key_hash, "create")
        return plaintext, new

    def _live(self, tx: Database, key_id: str) -> KeyRecord:
        rows = tx.execute(f"SELECT {_COLUMNS} FROM bg_keys WHERE id = ?", (key_id,))
        if not rows:
            raise KeyNotFound(f"no key with id {key_id}")
        record = _row_to_record(rows[0])
        if record.revoked is not None:
            raise KeyNotFound(f"key {key_id} is already revoked")
        return record

    def last_event_seq(self) -> int:
        rows = self.db.execute("SELECT COALESCE(MAX(seq), 0) FROM bg_key_events")
        return int(rows[0][0])

    def events_since(self, seq: int) -> builtins.list[tuple[int, str, str]]:
        """Changes after `seq` as (seq, key_hash, kind): the replicas' revocation feed."""
        rows = self.db.execute(
            "SELECT seq, key_hash, kind FROM bg_key_events WHERE seq > ? ORDER BY seq", (seq,)
        )
        return [(int(r[0]), str(r[1]), str(r[2])) for r in rows]
