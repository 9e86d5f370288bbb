"""A bounded in-memory log of the requests the emulator received.

Gateway tests use it to assert what actually reached the "provider": the translated body, the
headers the gateway added or stripped, and which credential it used. Credentials are never
stored: only the header name and a SHA-256 prefix of the secret (``auth_fingerprint``).
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Iterable

from bordergate.emulator.content import auth_fingerprint

# Headers whose values are secrets; they are summarised in "auth", never kept verbatim.
SECRET_HEADERS = frozenset(
    {b"authorization", b"x-api-key", b"api-key", b"proxy-authorization", b"cookie"}
)

Entry = dict[str, object]


def _credential(name: bytes, value: bytes) -> str:
    """The secret inside an auth header: the token after ``Bearer`` or the whole value."""
    text = value.decode("latin-1").strip()
    if name == b"authorization" and text[:7].lower() == "bearer ":
        return text[7:].strip()
    return text


class Recorder:
    """Keeps the last ``capacity`` requests, oldest first; capacity 0 records nothing."""

    def __init__(self, capacity: int = 100) -> None:
        self.capacity = capacity
        self._entries: deque[Entry] = deque(maxlen=max(capacity, 1))
        self._seq = 0

    def add(
        self, method: str, path: str, headers: Iterable[tuple[bytes, bytes]], body: object
    ) -> Entry | None:
        """Record one request; returns the entry so the response status can be filled in."""
        if self.capacity <= 0:
            return None
        self._seq += 1
        kept: dict[str, str] = {}
        auth: dict[str, str] | None = None
        for name, value in headers:
            if name in SECRET_HEADERS:
                if auth is None and name != b"cookie":
                    secret = _credential(name, value)
                    auth = {"header": name.decode(), "sha256": auth_fingerprint(secret)}
                continue
            key = name.decode("latin-1")
            text = value.decode("latin-1")
            kept[key] = f"{kept[key]}, {text}" if key in kept else text
        entry: Entry = {
            "seq": self._seq,
            "time": time.time(),
            "method": method,
            "path": path,
            "auth": auth,
            "headers": kept,
            "body": body,
            "status": None,
        }
        self._entries.append(entry)
        return entry

    def snapshot(self) -> list[Entry]:
        """All kept entries, oldest first."""
        return list(self._entries)

    def clear(self) -> int:
        """Forget everything; returns how many entries were dropped."""
        count = len(self._entries)
        self._entries.clear()
        return count
