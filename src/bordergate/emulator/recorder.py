"""A bounded in-memory log of the requests the emulator received.

Gateway tests use it to assert what actually reached the "provider": the translated body, the
headers the gateway added or stripped, and which credential it used. Credentials are never
stored: only the header name and a SHA-256 prefix of the secret (``auth_fingerprint``). Session
tokens that travel beside a credential (AWS's ``X-Amz-Security-Token``, an IMDSv2 session's
``X-aws-ec2-metadata-token``) stay in ``headers``, but only as ``sha256:<fingerprint>``.
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
# Headers kept, but with a fingerprint for their value.
FINGERPRINTED_HEADERS = frozenset({b"x-amz-security-token", b"x-aws-ec2-metadata-token"})

Entry = dict[str, object]


def _credential(name: bytes, value: bytes) -> str:
    """The secret inside an auth header: the token after ``Bearer`` or the whole value."""
    text = value.decode("latin-1").strip()
    if name == b"authorization" and text[:7].lower() == "bearer ":
        return text[7:].strip()
    return text


class Record:
    """One received request, kept raw; turned into JSON-ready form only when someone asks.

    Rendering lazily keeps recording off the hot path: a benchmark pays for a deque append,
    not for header decoding and hashing on every request.
    """

    __slots__ = ("body", "headers", "method", "path", "seq", "status", "time")

    def __init__(
        self,
        seq: int,
        method: str,
        path: str,
        headers: Iterable[tuple[bytes, bytes]],
        body: object,
    ) -> None:
        self.seq = seq
        self.time = time.time()
        self.method = method
        self.path = path
        self.headers = headers
        self.body = body
        self.status: int | None = None

    def render(self) -> Entry:
        """The JSON form: secrets reduced to ``{"header", "sha256"}`` (session tokens to
        ``sha256:<fingerprint>``), other headers kept."""
        kept: dict[str, str] = {}
        auth: dict[str, str] | None = None
        for name, value in self.headers:
            if name in SECRET_HEADERS:
                if auth is None and name != b"cookie":
                    secret = _credential(name, value)
                    auth = {"header": name.decode(), "sha256": auth_fingerprint(secret)}
                continue
            key = name.decode("latin-1")
            text = value.decode("latin-1")
            if name in FINGERPRINTED_HEADERS:
                text = f"sha256:{auth_fingerprint(text.strip())}"
            kept[key] = f"{kept[key]}, {text}" if key in kept else text
        return {
            "seq": self.seq,
            "time": self.time,
            "method": self.method,
            "path": self.path,
            "auth": auth,
            "headers": kept,
            "body": self.body,
            "status": self.status,
        }


class Recorder:
    """Keeps the last ``capacity`` requests, oldest first; capacity 0 records nothing."""

    def __init__(self, capacity: int = 100) -> None:
        self.capacity = capacity
        self._records: deque[Record] = deque(maxlen=max(capacity, 1))
        self._seq = 0

    def add(
        self, method: str, path: str, headers: Iterable[tuple[bytes, bytes]], body: object
    ) -> Record | None:
        """Record one request; returns the record so the response status can be filled in."""
        if self.capacity <= 0:
            return None
        self._seq += 1
        record = Record(self._seq, method, path, headers, body)
        self._records.append(record)
        return record

    def snapshot(self) -> list[Entry]:
        """All kept requests in JSON-ready form, oldest first."""
        return [record.render() for record in self._records]

    def clear(self) -> int:
        """Forget everything; returns how many entries were dropped."""
        count = len(self._records)
        self._records.clear()
        return count
