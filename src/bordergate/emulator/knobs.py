"""Test knobs: how a request tells the emulator to misbehave in a controlled way.

Knobs arrive in two places so that both tests that own the prompt and tests that only own
configuration can use them:

* a model-name suffix, ``gpt-4o-mini@latency_ms=50@chunks=3`` — handy when a gateway deployment
  in YAML should always behave a certain way;
* a directive line ``@emulator KEY[=VALUE] ...`` anywhere in the last user message — handy for a
  single request. The line is removed before the text is echoed or digested.

The directive line wins over the model suffix when both set the same key. Only suffix segments
whose key is a known knob are taken off the model name, so Vertex-style names such as
``claude-3-5-sonnet@20240620`` survive unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

DIRECTIVE = "@emulator"

# key -> (kind, minimum). kind "flag" takes no value, "int" a decimal integer, "names" a list.
_SPEC: dict[str, tuple[str, int]] = {
    "echo": ("flag", 0),
    "tool": ("names", 0),
    "tools": ("int", 1),
    "latency_ms": ("int", 0),
    "chunks": ("int", 1),
    "chunk_delay_ms": ("int", 0),
    "status": ("int", 400),
    "status_times": ("int", 0),
    "retry_after": ("int", 0),
    "drop_after_chunks": ("int", 0),
    "stream_error_after_chunks": ("int", 0),
    "words": ("int", 0),
}
KNOWN_KEYS = frozenset(_SPEC)
_MAX_INT = 10_000_000


class KnobError(ValueError):
    """A directive the emulator cannot honour; surfaces as a 400 in the provider's format."""


@dataclass(frozen=True, slots=True)
class Knobs:
    """The behaviour of one request. Defaults give a plain, fast, well-formed reply.

    ``drop_after_chunks`` and ``stream_error_after_chunks`` use ``-1`` for "never";
    ``status`` uses ``0`` for "no injected error"; ``status_times`` ``0`` for "every time".
    """

    echo: bool = False
    tool: tuple[str, ...] = ()
    tools: int = 0
    latency_ms: int = 0
    chunks: int = 5
    chunk_delay_ms: int = 0
    status: int = 0
    status_times: int = 0
    retry_after: int = 1
    drop_after_chunks: int = -1
    stream_error_after_chunks: int = -1
    words: int = 0

    @property
    def wants_tools(self) -> bool:
        """Whether the reply is tool calls rather than text."""
        return bool(self.tool) or self.tools > 0


DEFAULT_KNOBS = Knobs()


def _coerce(key: str, value: str | None) -> object:
    kind, minimum = _SPEC[key]
    if kind == "flag":
        if value not in (None, "", "1", "true"):
            raise KnobError(f"knob {key!r} takes no value")
        return True
    if value is None or value == "":
        raise KnobError(f"knob {key!r} needs a value")
    if kind == "names":
        names = tuple(n for n in value.split(",") if n)
        if not names:
            raise KnobError(f"knob {key!r} needs at least one tool name")
        return names
    try:
        number = int(value)
    except ValueError:
        raise KnobError(f"knob {key!r} needs an integer, got {value!r}") from None
    if number < minimum or number > _MAX_INT:
        raise KnobError(f"knob {key!r} must be between {minimum} and {_MAX_INT}")
    if key == "status" and number > 599:
        raise KnobError("knob 'status' must be an HTTP error status (400-599)")
    return number


def _split_pair(token: str) -> tuple[str, str | None]:
    key, sep, value = token.partition("=")
    return key, (value if sep else None)


def split_model(model: str) -> tuple[str, dict[str, str | None]]:
    """Take known ``@key[=value]`` segments off the end of a model name.

    Returns the bare model name and the raw knob pairs (not yet validated).
    """
    if "@" not in model:
        return model, {}
    segments = model.split("@")
    pairs: dict[str, str | None] = {}
    while len(segments) > 1:
        key, value = _split_pair(segments[-1])
        if key not in KNOWN_KEYS:
            break
        pairs.setdefault(key, value)  # the right-most occurrence wins
        segments.pop()
    return "@".join(segments), pairs


def strip_directives(text: str) -> tuple[str, dict[str, str | None]]:
    """Remove ``@emulator ...`` lines from a message text and return their raw pairs.

    Unknown keys in a directive line are an error (a typo should fail loudly, not be ignored).
    """
    if DIRECTIVE not in text:
        return text, {}
    kept: list[str] = []
    pairs: dict[str, str | None] = {}
    for line in text.split("\n"):
        tokens = line.split()
        if tokens and tokens[0] == DIRECTIVE:
            for token in tokens[1:]:
                key, value = _split_pair(token)
                if key not in KNOWN_KEYS:
                    raise KnobError(f"unknown emulator knob {key!r}")
                pairs[key] = value
        else:
            kept.append(line)
    return "\n".join(kept), pairs


def build_knobs(*layers: dict[str, str | None]) -> Knobs:
    """Validate raw pairs into Knobs; later layers override earlier ones."""
    merged: dict[str, str | None] = {}
    for layer in layers:
        merged.update(layer)
    if not merged:
        return DEFAULT_KNOBS
    values = {key: _coerce(key, value) for key, value in merged.items()}
    return replace(DEFAULT_KNOBS, **values)  # type: ignore[arg-type]
