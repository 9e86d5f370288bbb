"""The bodies one request's audit event stores, when the operator turned `audit.store_bodies` on.

What is stored, and why this way:
- the prompt: the client's request as the gateway parsed it (its own format), once it has been
  scanned; every value the scan found is replaced by a placeholder as redaction writes them
  (`[EMAIL_1]`, see `Redactor.mask_request`), so the log never holds what the gateway exists
  to keep in, whatever the policy let through. Requests refused before the scan (bad input,
  authentication, rate limits) store none.
- the answer: what the provider answered, before any placeholder was restored for the client,
  with the request's values (as the same placeholders) and whatever a fresh scan of the answer
  finds (as its class: `[SECRET]`) masked too. A stream is stored as the answer it assembles
  to (see `wire.assemble`), not as SSE, assembled as it is relayed (what is held grows with
  its text, up to `audit.body_max_bytes` characters of it).
- each side at most `audit.body_max_bytes` once masked; a larger one is cut there and says so.

Both are sealed with the audit's body key and bound to the request id (`audit.bodies`), and
hashed into the chain with the rest of the event. Nothing here runs unless bodies are stored.
"""

from __future__ import annotations

import logging
from typing import Any

import orjson

from bordergate.audit.service import AuditLog
from bordergate.dlp.mask import Masker
from bordergate.dlp.redact import RedactionError, Redactor
from bordergate.dlp.request import RequestFindings
from bordergate.dlp.scanner import ScanError
from bordergate.dlp.types import Detector
from bordergate.wire.assemble import StreamAssembler

log = logging.getLogger("bordergate.audit")


class BodyRecord:
    """Collects one request's prompt and answer, then masks and seals them for its event."""

    __slots__ = ("_answer", "_findings", "_limit", "_prompt", "_stream")

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._prompt: Any = None
        self._findings: RequestFindings | None = None
        self._answer: bytes | None = None
        self._stream: StreamAssembler | None = None

    def take_prompt(self, body: Any, findings: RequestFindings | None) -> None:
        """The parsed request, once scanned (`findings` None: the scanner is off)."""
        self._prompt = body
        self._findings = findings

    def take_answer(self, data: bytes) -> None:
        """A whole (non-streamed) answer, as the provider's JSON bytes."""
        self._answer = data

    def start_stream(self, fmt: str) -> None:
        """A stream in `fmt` ("openai" SSE chunks, or Anthropic's "anthropic" events) begins."""
        self._stream = StreamAssembler(fmt, max_chars=self._limit)

    def take_piece(self, data: bytes) -> None:
        """The next piece of the stream, as relayed before any value was restored."""
        if self._stream is not None:
            self._stream.feed(data)

    def seal(
        self, audit: AuditLog, request_id: str, detector: Detector | None
    ) -> tuple[str | None, str | None]:
        """(prompt_enc, response_enc) for the event; None where there is nothing to store."""
        prompt = answer = None
        redactor = Redactor()
        if self._prompt is not None:
            data = self._masked_prompt(redactor, request_id, detector)
            prompt = audit.seal_body(request_id, "prompt", self._within_limit(data))
        parsed = self._parsed_answer()
        if parsed is not None:
            # The request's values, should the answer repeat them, become the same placeholders.
            known = {value: ph for ph, value in redactor.vault.items()}
            data = self._masked(request_id, "response", parsed, Masker(known, detector))
            cut = self._stream is not None and self._stream.cut
            answer = audit.seal_body(request_id, "response", self._within_limit(data, cut))
        return prompt, answer

    def _masked_prompt(
        self, redactor: Redactor, request_id: str, detector: Detector | None
    ) -> bytes:
        """The scan's findings as redaction placeholders, then every string, key and long number
        scanned once more: for what the request scan lets pass (code in a tool's description, a
        card number written as a JSON number, strings too short or plain to read)."""
        try:
            prompt = self._prompt
            if self._findings:
                prompt = redactor.mask_request(prompt, self._findings)
        except (RedactionError, RecursionError) as exc:
            return _withheld(request_id, "prompt", exc)
        known = {value: ph for ph, value in redactor.vault.items()}
        return self._masked(request_id, "prompt", prompt, Masker(known, detector))

    def _parsed_answer(self) -> Any:
        if self._stream is not None:
            return self._stream.result()
        if self._answer is None:
            return None
        try:
            return orjson.loads(self._answer)
        except orjson.JSONDecodeError:
            return {"bordergate_unreadable": "the provider's answer was not JSON"}

    def _masked(self, request_id: str, kind: str, value: Any, masker: Masker) -> bytes:
        try:
            return orjson.dumps(masker.json(value))
        except (ScanError, RecursionError, orjson.JSONEncodeError) as exc:
            return _withheld(request_id, kind, exc)

    def _within_limit(self, data: bytes, cut: bool = False) -> bytes:
        """`data`, or its first `limit` bytes marked as cut (`bytes`: the whole size, or None
        for a stream whose text went past the limit, which was not kept to be measured)."""
        if len(data) <= self._limit and not cut:
            return data
        head = data[: self._limit].decode("utf-8", "ignore")
        size = None if cut else len(data)
        return orjson.dumps({"bordergate_truncated": {"bytes": size, "stored": head}})


def _withheld(request_id: str, kind: str, exc: BaseException) -> bytes:
    """Never store what could not be masked; say so in its place."""
    log.warning("request %s: %s body not stored (%s)", request_id, kind, exc)
    return orjson.dumps({"bordergate_withheld": f"the {kind} could not be masked"})
