"""Ed25519-signed checkpoints: a signed statement "the log had N events and this chain head".

A checkpoint body is canonical JSON:
`{"head": hex, "key_id": hex, "log": "bordergate-audit", "prev": hex, "size": N, "time": T,
"v": 1}` where `prev` is SHA-256 of the previous checkpoint's body bytes (64 zeros for the
first), so checkpoints form their own chain and a deleted one is noticed. The signature is
Ed25519 over the body bytes. Hashes alone cannot stop someone with write access from
rewriting the whole log and recomputing every hash; a signed checkpoint kept where that person
cannot reach (an off-box copy of `checkpoint_dir`) can: verification against it fails unless
the first `size` events are exactly the ones that were signed.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from bordergate.audit.event import canonical_json, now_time
from bordergate.audit.store import AuditStore, StoredCheckpoint

LOG_NAME = "bordergate-audit"
NO_PREVIOUS = "0" * 64
PRIVATE_KEY_FILE = "audit-signing.key"
PUBLIC_KEY_FILE = "audit-signing.pub"

log = logging.getLogger("bordergate.audit")


def key_id(public: Ed25519PublicKey) -> str:
    """Short fingerprint of a public key (first 16 bytes of SHA-256 of its raw form)."""
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:32]


def generate_keypair(out_dir: Path) -> tuple[Path, Path]:
    """Write a new key pair; the private key is created 0600 and never overwritten."""
    out_dir.mkdir(parents=True, exist_ok=True)
    private_path, public_path = out_dir / PRIVATE_KEY_FILE, out_dir / PUBLIC_KEY_FILE
    for path in (private_path, public_path):
        if path.exists():
            raise FileExistsError(f"refusing to overwrite {path}")
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    # O_EXCL + mode at creation: the secret is never readable by others, not even briefly.
    fd = os.open(private_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(pem)
    public_path.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return private_path, public_path


def load_private_key(path: Path) -> Ed25519PrivateKey:
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError(f"{path} is not an Ed25519 private key")
    return key


def load_public_key(path: Path) -> Ed25519PublicKey:
    key = serialization.load_pem_public_key(path.read_bytes())
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError(f"{path} is not an Ed25519 public key")
    return key


def body_hash(body: str) -> str:
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


def make_checkpoint(
    key: Ed25519PrivateKey, size: int, head: bytes, previous: StoredCheckpoint | None
) -> StoredCheckpoint:
    """Build and sign the checkpoint of (size, head) following `previous`."""
    stamp = now_time()
    body_obj: dict[str, object] = {
        "head": head.hex(),
        "key_id": key_id(key.public_key()),
        "log": LOG_NAME,
        "prev": body_hash(previous.body) if previous is not None else NO_PREVIOUS,
        "size": size,
        "time": stamp,
        "v": 1,
    }
    body = canonical_json(body_obj).decode("utf-8")
    signature = base64.b64encode(key.sign(body.encode("utf-8"))).decode("ascii")
    return StoredCheckpoint(size, stamp, head.hex(), body, signature)


def checkpoint_to_file_json(cp: StoredCheckpoint) -> dict[str, Any]:
    """The off-box file form: the body object plus its signature."""
    return {"body": json.loads(cp.body), "signature": cp.signature}


def checkpoint_from_file(path: Path) -> StoredCheckpoint:
    """Read a checkpoint file; the body is re-canonicalised to the signed bytes."""
    data = json.loads(path.read_text("utf-8"))
    body_obj = data["body"]
    body = canonical_json(body_obj).decode("utf-8")
    return StoredCheckpoint(
        int(body_obj["size"]), str(body_obj["time"]), str(body_obj["head"]), body, data["signature"]
    )


def write_checkpoint_file(directory: Path, cp: StoredCheckpoint) -> Path:
    """Write atomically (temp file + rename) so a copier never picks up half a checkpoint.

    A signed checkpoint already there for the same size is never replaced: a different one
    means the database was rolled back past it (a restored backup, or history rewritten), and
    that file is the evidence. The new one goes beside it (`checkpoint-<size>-2.json`), where
    `audit verify` sees two signed versions of one size, and the gateway logs an error.
    """
    directory.mkdir(parents=True, exist_ok=True)
    text = json.dumps(checkpoint_to_file_json(cp), sort_keys=True) + "\n"
    path = directory / f"checkpoint-{cp.size:012d}.json"
    copy = 1
    while path.exists():
        if path.read_text("utf-8") == text:
            return path  # written before (another replica, or a retry)
        if copy == 1:
            log.error(
                "checkpoint at size %d already exists in %s with different content: the audit "
                "log was rolled back or rewritten past a signed checkpoint; keeping both",
                cp.size,
                directory,
            )
        copy += 1
        path = directory / f"checkpoint-{cp.size:012d}-{copy}.json"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text, "utf-8")
    os.replace(tmp, path)
    return path


def signature_ok(public: Ed25519PublicKey, cp: StoredCheckpoint) -> bool:
    """True when the signature is valid and the body agrees with the row's columns."""
    try:
        public.verify(base64.b64decode(cp.signature), cp.body.encode("utf-8"))
        body = json.loads(cp.body)
    except Exception:  # any failure means "not a valid checkpoint"
        return False
    return (
        body.get("log") == LOG_NAME and body.get("size") == cp.size and body.get("head") == cp.head
    )


@dataclass
class Checkpointer:
    """Decides when to checkpoint (every N events or T seconds) and does it.

    Called by the writer thread after each committed batch and on idle ticks; the store
    de-duplicates under the head lock, so several replicas may run one each.
    """

    key: Ed25519PrivateKey
    every_events: int = 1000
    every_seconds: float = 300.0
    directory: Path | None = None
    _last_size: int = -1
    _last_time: float = 0.0

    def due(self, size: int) -> bool:
        """Every `every_events` events, or after `every_seconds` when anything is new."""
        if size <= self._last_size:
            return False
        if size - self._last_size >= self.every_events:
            return True
        return time.monotonic() - self._last_time >= self.every_seconds

    def maybe_checkpoint(self, store: AuditStore, size: int) -> StoredCheckpoint | None:
        """Checkpoint if due; returns the new checkpoint, if one was made."""
        if self._last_size < 0:
            # First look in this process: continue from what is stored, clock starts now.
            stored = store.checkpoints()
            self._last_size = stored[-1].size if stored else 0
            self._last_time = time.monotonic()
        if not self.due(size):
            return None
        return self.checkpoint_now(store)

    def checkpoint_now(self, store: AuditStore) -> StoredCheckpoint | None:
        made = store.checkpoint(lambda s, h, prev: make_checkpoint(self.key, s, h, prev))
        self._last_time = time.monotonic()
        if made is not None:
            self._last_size = made.size
            if self.directory is not None:
                write_checkpoint_file(self.directory, made)
        else:
            stored = store.checkpoints()
            self._last_size = stored[-1].size if stored else 0
        return made
