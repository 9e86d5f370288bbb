"""Recompute the chain from the stored events and hold it against the signed checkpoints.

What each kind of tampering looks like to this check:
- a changed event: its leaf hash (or canonical form) no longer matches — named by its seq;
- a deleted event: a gap in the dense sequence — the missing seq is named;
- an inserted or reordered event: the chain value at that position no longer follows;
- an attacker who rewrote events and recomputed every hash: the chain no longer matches the
  next signed checkpoint — the seqs after the last matching checkpoint are named;
- truncation: the log ends before a checkpoint's size (or before the recorded head);
- forged or removed checkpoints: bad signature, or a break in the checkpoints' own chain.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from bordergate.audit.chain import GENESIS, chain_hash, leaf_hash
from bordergate.audit.checkpoints import NO_PREVIOUS, body_hash, signature_ok
from bordergate.audit.event import canonical_json
from bordergate.audit.store import AuditStore, StoredCheckpoint, columns_of


@dataclass
class VerifyReport:
    """The outcome: `ok` only when every check passed."""

    size: int = 0
    head: str = GENESIS.hex()
    first_bad_seq: int | None = None
    problems: list[str] = field(default_factory=list)
    checkpoints_checked: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems

    def fail(self, message: str, seq: int | None = None) -> None:
        self.problems.append(message)
        if seq is not None and (self.first_bad_seq is None or seq < self.first_bad_seq):
            self.first_bad_seq = seq


def _check_checkpoints(
    report: VerifyReport,
    public_key: Ed25519PublicKey | None,
    stored: list[StoredCheckpoint],
    external: list[tuple[str, StoredCheckpoint]],
) -> dict[int, StoredCheckpoint]:
    """Validate signatures and the checkpoint chain; return the trusted ones by size."""
    everything = [("database", cp) for cp in stored] + external
    if not everything:
        return {}
    if public_key is None:
        report.fail(f"cannot check {len(everything)} checkpoint(s): no public key configured")
        return {}
    trusted: dict[int, StoredCheckpoint] = {}
    for origin, cp in everything:
        report.checkpoints_checked += 1
        if not signature_ok(public_key, cp):
            report.fail(f"checkpoint at size {cp.size} ({origin}): bad signature")
            continue
        previous = trusted.get(cp.size)
        if previous is not None and previous.body != cp.body:
            report.fail(f"checkpoint at size {cp.size}: two different signed versions")
            continue
        trusted[cp.size] = cp
    # The checkpoints chain to each other; a gap means one was removed from the database.
    previous_hash = NO_PREVIOUS
    for cp in stored:
        if cp.size not in trusted or trusted[cp.size].body != cp.body:
            continue
        if json.loads(cp.body).get("prev") != previous_hash:
            report.fail(f"checkpoint at size {cp.size}: previous checkpoint missing or altered")
        previous_hash = body_hash(cp.body)
    stored_sizes = {cp.size for cp in stored}
    for origin, cp in external:
        if cp.size in trusted and cp.size not in stored_sizes:
            report.fail(f"checkpoint at size {cp.size} ({origin}) is missing from the database")
    return trusted


def verify_log(
    store: AuditStore,
    public_key: Ed25519PublicKey | None = None,
    external: list[tuple[str, StoredCheckpoint]] | None = None,
) -> VerifyReport:
    """Check the whole log; `external` are (origin, checkpoint) read from off-box files."""
    report = VerifyReport()
    trusted = _check_checkpoints(report, public_key, store.checkpoints(), external or [])
    head_before, _ = store.head()
    expected, previous, proven = 1, GENESIS, 0
    broken = False
    for row in store.iter_events(with_columns=True):
        seq = row.seq
        if seq != expected:
            if seq > expected:
                report.fail(f"seq {expected}: missing (next stored event is seq {seq})", expected)
            else:
                report.fail(f"seq {seq}: unexpected sequence number", seq)
            broken = True
            break
        raw = row.event.encode("utf-8")
        parsed: Any = None
        try:
            parsed = json.loads(row.event)
            canonical_ok = canonical_json(parsed) == raw
        except (ValueError, TypeError):  # TypeError: an integer past 64 bits
            canonical_ok = False
        if not canonical_ok:
            report.fail(f"seq {seq}: event is not canonical JSON (edited)", seq)
            broken = True
            break
        leaf = leaf_hash(raw)
        if leaf.hex() != row.leaf_hash:
            report.fail(f"seq {seq}: event changed (leaf hash mismatch)", seq)
            broken = True
            break
        if isinstance(parsed, dict) and (
            row.time != parsed.get("time")
            or (row.columns is not None and tuple(row.columns) != columns_of(parsed))
        ):
            # Reports and `--since`/`--until` read the row's indexed copies, not the hashed
            # event: a changed copy would hide an event from them while the chain holds.
            report.fail(f"seq {seq}: indexed columns differ from the event (edited)", seq)
            broken = True
            break
        current = chain_hash(previous, leaf)
        if current.hex() != row.chain_hash:
            report.fail(f"seq {seq}: chain broken (event inserted, removed or reordered)", seq)
            broken = True
            break
        checkpoint = trusted.get(seq)
        if checkpoint is not None:
            if checkpoint.head != current.hex():
                report.fail(
                    f"seqs {proven + 1}..{seq}: log rewritten (chain differs from the signed "
                    f"checkpoint at size {seq})",
                    proven + 1,
                )
                broken = True
                break
            proven = seq
        previous = current
        expected = seq + 1
    report.size = expected - 1
    report.head = previous.hex()
    if broken:
        return report
    for size in sorted(trusted):
        if size > report.size:
            report.fail(
                f"seq {report.size + 1}: log truncated (signed checkpoint at size {size}, "
                f"log ends at {report.size})",
                report.size + 1,
            )
            break
    head_after, _ = store.head()
    if report.size < head_before:
        report.fail(
            f"seq {report.size + 1}: log truncated (head records {head_before} events)",
            report.size + 1,
        )
    elif report.size > head_after:
        report.fail(
            f"seq {head_after + 1}: events beyond the recorded head ({head_after})",
            head_after + 1,
        )
    return report
