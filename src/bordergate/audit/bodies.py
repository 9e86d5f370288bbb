"""Encryption at rest for prompt and response bodies (stored only when configured).

AES-256-GCM with a random 96-bit nonce per body. The associated data binds each ciphertext to
its request id and kind ("prompt" / "response"), so a body cannot be moved to another event
without failing authentication. Stored form: base64(nonce || ciphertext-with-tag).
"""

from __future__ import annotations

import base64
import os

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

NONCE_BYTES = 12


class BodyCipher:
    """Seal and open bodies with one configured AES-256 key."""

    def __init__(self, key: bytes) -> None:
        if len(key) != 32:
            raise ValueError("body encryption key must be 32 bytes")
        self._aead = AESGCM(key)

    @staticmethod
    def _aad(request_id: str, kind: str) -> bytes:
        return f"bordergate-audit-body-v1\n{kind}\n{request_id}".encode()

    def seal(self, request_id: str, kind: str, body: bytes) -> str:
        """Encrypt one body for the event of `request_id`."""
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._aead.encrypt(nonce, body, self._aad(request_id, kind))
        return base64.b64encode(nonce + sealed).decode("ascii")

    def open(self, request_id: str, kind: str, token: str) -> bytes:
        """Decrypt; raises `cryptography.exceptions.InvalidTag` if altered or misplaced."""
        raw = base64.b64decode(token)
        return self._aead.decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], self._aad(request_id, kind))
