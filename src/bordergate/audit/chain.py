"""Hash-chain arithmetic: RFC 6962 domain-separated leaves, chained one event at a time.

leaf(e)      = SHA-256(0x00 || canonical(e))
chain(n)     = SHA-256(0x01 || chain(n-1) || leaf(e_n))
chain(0)     = 32 zero bytes (genesis)

The 0x00 / 0x01 prefixes keep a leaf from ever being confused with an interior value, as in
Certificate Transparency. Sequence numbers are dense and start at 1, so chain(n) commits to
exactly the first n events in order.
"""

from __future__ import annotations

import hashlib

GENESIS = bytes(32)
LEAF_PREFIX = b"\x00"
NODE_PREFIX = b"\x01"


def leaf_hash(canonical_event: bytes) -> bytes:
    """The RFC 6962 leaf hash of one canonical event."""
    return hashlib.sha256(LEAF_PREFIX + canonical_event).digest()


def chain_hash(previous: bytes, leaf: bytes) -> bytes:
    """The chain value after appending `leaf` to a chain whose value was `previous`."""
    if len(previous) != 32 or len(leaf) != 32:
        raise ValueError("chain inputs must be 32-byte SHA-256 values")
    return hashlib.sha256(NODE_PREFIX + previous + leaf).digest()


def chain_of(canonical_events: list[bytes], previous: bytes = GENESIS) -> list[bytes]:
    """Chain values for consecutive events starting after `previous`."""
    out: list[bytes] = []
    for event in canonical_events:
        previous = chain_hash(previous, leaf_hash(event))
        out.append(previous)
    return out
