"""Server-Sent Events: an incremental parser and framing helpers.

Upstream providers stream over SSE and the network cuts their bytes wherever it likes: inside a
line, between ``\\r`` and ``\\n``, even inside a multi-byte UTF-8 character. The parser therefore
keeps undecoded bytes until a whole line has arrived (line terminators never occur inside a
UTF-8 sequence, so decoding whole lines is always safe) and follows the WHATWG event-stream
rules: ``\\r\\n``, ``\\n`` and ``\\r`` all end a line, ``:`` starts a comment, several ``data``
lines join with ``\\n``, and a blank line dispatches the event.

No I/O happens here; the server feeds bytes in and writes the returned events out.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["OPENAI_DONE", "SSEEvent", "SSEParser", "encode_comment", "encode_event"]

#: The sentinel that ends every OpenAI chat-completions stream.
OPENAI_DONE = b"data: [DONE]\n\n"

_BOM = b"\xef\xbb\xbf"


@dataclass(frozen=True, slots=True)
class SSEEvent:
    """One dispatched event: its ``event:`` name (``None`` when absent) and joined data."""

    event: str | None
    data: str


class SSEParser:
    """Turns a byte stream, fed in arbitrary pieces, into complete :class:`SSEEvent` objects.

    ``id`` and ``retry`` fields are accepted and ignored: a gateway relaying one upstream
    response never reconnects, so neither has a use here.
    """

    __slots__ = ("_buf", "_data", "_event", "_first_line", "_pending_cr")

    def __init__(self) -> None:
        self._buf = b""  # an incomplete line, already free of CR bytes
        self._pending_cr = False  # the last byte seen was CR: an LF next is part of it
        self._first_line = True
        self._event: str | None = None
        self._data: list[str] = []

    def feed(self, data: bytes) -> list[SSEEvent]:
        """Consume the next bytes; return every event they complete (often none)."""
        if self._pending_cr:
            # The previous piece ended in CR and was already taken as a line end; an LF
            # starting this piece is the second half of that CRLF, not a blank line.
            self._pending_cr = False
            if data[:1] == b"\n":
                data = data[1:]
        if b"\r" in data:
            self._pending_cr = data.endswith(b"\r")
            data = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        if b"\n" not in data:
            self._buf += data
            return []
        lines = (self._buf + data).split(b"\n")
        self._buf = lines.pop()
        events: list[SSEEvent] = []
        for line in lines:
            self._line(line, events)
        return events

    def finish(self) -> list[SSEEvent]:
        """Signal end of stream; return an event left without its closing blank line.

        The specification discards such an event. A gateway is kinder to upstreams that drop
        the final blank line, and a truncated JSON payload still fails loudly later.
        """
        events: list[SSEEvent] = []
        self._pending_cr = False
        if self._buf:
            line, self._buf = self._buf, b""
            self._line(line, events)
        self._line(b"", events)
        return events

    def _line(self, line: bytes, events: list[SSEEvent]) -> None:
        if self._first_line:
            self._first_line = False
            if line.startswith(_BOM):
                line = line[3:]
        if not line:
            if self._data:
                events.append(SSEEvent(self._event, "\n".join(self._data)))
                self._data = []
            self._event = None
            return
        if line[0] == 0x3A:  # ":" comment, e.g. keep-alive pings
            return
        field, sep, value = line.partition(b":")
        if sep and value[:1] == b" ":
            value = value[1:]
        if field == b"data":
            self._data.append(value.decode("utf-8", "replace"))
        elif field == b"event":
            self._event = value.decode("utf-8", "replace")
        # "id", "retry" and unknown fields are ignored by design.


def encode_event(data: bytes, event: str | None = None) -> bytes:
    """Frame one event. ``data`` may hold newlines; each line becomes its own ``data:`` line."""
    head = b"event: " + event.encode() + b"\n" if event is not None else b""
    if b"\n" not in data and b"\r" not in data:
        return head + b"data: " + data + b"\n\n"
    lines = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n").split(b"\n")
    return head + b"".join(b"data: " + line + b"\n" for line in lines) + b"\n"


def encode_comment(text: str = "") -> bytes:
    """A comment frame (``: text``), used as a keep-alive that every client ignores."""
    return b": " + text.replace("\n", " ").replace("\r", " ").encode() + b"\n\n"
