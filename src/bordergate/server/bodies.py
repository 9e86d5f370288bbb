"""The bodies one request's audit event stores, when the operator turned `audit.store_bodies` on.

What is stored, and why this way:
- the prompt: the client's request as the gateway parsed it (its own format), once it has been
  scanned; every value the scan found is masked (`[SECRET]`), so the log never holds what the
  gateway exists to keep in, whatever the policy let through. Requests refused before the scan
  (bad input, authentication, rate limits) store none.
- the answer: what the provider answered, before any placeholder was restored for the client,
  with the request's values and whatever a fresh scan of the answer finds masked too. A stream
  is stored as the answer it assembles to (see `wire.assemble`), not as SSE.
- each side at most `audit.body_max_bytes` once masked; a larger one is cut there and says so.

Both are sealed with the audit's body key and bound to the request id (`audit.bodies`), and
hashed into the chain with the rest of the event. Nothing here runs unless bodies are stored.
"""

from __future__ import annotations

import logging
from typing import Any

import orjson

from bordergate.audit.service import AuditLog
from bordergate.dlp.mask import Masker, found_values
from bordergate.dlp.request import RequestFindings
from bordergate.dlp.scanner import ScanError
from bordergate.dlp.types import Detector
from bordergate.wire.assemble import assemble_anthropic, assemble_openai

log = logging.getLogger("bordergate.audit")

# Streams are kept as SSE until the event is recorded; SSE framing repeats ids and field names
# around every delta, so the raw stream may take several times the assembled answer's size.
_STREAM_OVERHEAD = 8


class BodyRecord:
    """Collects one request's prompt and answer, then masks and seals them for its event."""

    __slots__ = ("_answer", "_cut", "_known", "_limit", "_pieces", "_prompt", "_size", "_stream")

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._prompt: Any = None
        self._known: dict[str, str] = {}
        self._answer: bytes | None = None
        self._stream: str | None = None  # "openai" or "anthropic" once a stream started
        self._pieces: list[bytes] = []
        self._size = 0
        self._cut = False

    def take_prompt(self, body: Any, findings: RequestFindings | None) -> None:
        """The parsed request, once scanned (`findings` None: the scanner is off)."""
        self._prompt = body
        self._known = found_values(findings) if findings else {}

    def take_answer(self, data: bytes) -> None:
        """A whole (non-streamed) answer, as the provider's JSON bytes."""
        self._answer = data

    def start_stream(self, fmt: str) -> None:
        """A stream in `fmt` ("openai" SSE chunks, or Anthropic's "anthropic" events) begins."""
        self._stream = fmt

    def take_piece(self, data: bytes) -> None:
        """The next piece of the stream, as relayed before any value was restored."""
        if self._cut:
            return
        if self._size + len(data) > self._limit * _STREAM_OVERHEAD:
            self._cut = True
            return
        self._pieces.append(data)
        self._size += len(data)

    def seal(
        self, audit: AuditLog, request_id: str, detector: Detector | None
    ) -> tuple[str | None, str | None]:
        """(prompt_enc, response_enc) for the event; None where there is nothing to store."""
        prompt = answer = None
        if self._prompt is not None:
            prompt = self._sealed(audit, request_id, "prompt", self._prompt, Masker(self._known))
        parsed = self._parsed_answer()
        if parsed is not None:
            masker = Masker(self._known, detector)
            answer = self._sealed(audit, request_id, "response", parsed, masker)
        return prompt, answer

    def _parsed_answer(self) -> Any:
        if self._stream is not None:
            data = b"".join(self._pieces)
            parsed: Any = (
                assemble_anthropic(data) if self._stream == "anthropic" else assemble_openai(data)
            )
            if self._cut:
                parsed["bordergate_truncated"] = "the stream was longer than the stored part"
            return parsed
        if self._answer is None:
            return None
        try:
            return orjson.loads(self._answer)
        except orjson.JSONDecodeError:
            return {"bordergate_unreadable": "the provider's answer was not JSON"}

    def _sealed(
        self, audit: AuditLog, request_id: str, kind: str, value: Any, masker: Masker
    ) -> str | None:
        try:
            data = orjson.dumps(masker.json(value))
        except (ScanError, RecursionError, orjson.JSONEncodeError) as exc:
            # Never store what could not be masked; say so in its place.
            log.warning("request %s: %s body not stored (%s)", request_id, kind, exc)
            data = orjson.dumps({"bordergate_withheld": f"the {kind} could not be masked"})
        if len(data) > self._limit:
            head = data[: self._limit].decode("utf-8", "ignore")
            data = orjson.dumps({"bordergate_truncated": {"bytes": len(data), "stored": head}})
        return audit.seal_body(request_id, kind, data)
