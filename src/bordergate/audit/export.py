"""Export for SIEMs: one JSON object per line, the event's fields plus `seq` and `chain_hash`.

Removing `seq` and `chain_hash` from a line and canonicalising the rest gives back the exact
bytes the chain covers, so an exported stream can be re-verified independently.
"""

from __future__ import annotations

import json
from typing import TextIO

from bordergate.audit.store import AuditStore


def export_jsonl(
    store: AuditStore,
    out: TextIO,
    since: str | None = None,
    until: str | None = None,
    after_seq: int = 0,
) -> int:
    """Write matching events in sequence order; return how many were written."""
    written = 0
    for row in store.iter_events(after_seq=after_seq, since=since, until=until):
        record = json.loads(row.event)
        record["seq"] = row.seq
        record["chain_hash"] = row.chain_hash
        out.write(json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False))
        out.write("\n")
        written += 1
    return written
