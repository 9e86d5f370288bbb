"""Small pure checks shared by the rule families: entropy, placeholders, checksums."""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
import zlib
from collections import Counter

_B62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def shannon_entropy(value: str) -> float:
    """Bits per character of `value` (0.0 for empty strings)."""
    n = len(value)
    if n == 0:
        return 0.0
    return -sum(c / n * math.log2(c / n) for c in Counter(value).values())


def entropy_ok(value: str, minimum: float) -> bool:
    """Entropy test scaled to the length: short random strings cannot reach log2(alphabet)."""
    n = len(value)
    if n == 0:
        return False
    return shannon_entropy(value) >= min(minimum, 0.78 * math.log2(n))


_PLACEHOLDER_WORDS = re.compile(
    r"(?i:example|xxxx|your[_\-\s]?|placeholder|dummy|sample|changeme|change_me|redacted|"
    r"fake|insert|replace|abcdefgh|12345678|0123456789|qwerty|lorem|foobar|test[_\-]?key|"
    r"secret[_\-]?here|my[_\-]?(?:secret|token|key|pass))|"
    r"<[^>]*>|\$\{|\{\{|%\(|\$[A-Z_]{3,}\b|\*\*\*|\.\.\.|…"
)
_RUN = re.compile(r"(.)\1{5,}")


def is_placeholder(value: str) -> bool:
    """True for documentation examples, templates and obviously fake values."""
    if _PLACEHOLDER_WORDS.search(value):
        return True
    if _RUN.search(value):
        return True
    n = len(value)
    return n >= 12 and len(set(value)) <= max(3, n // 8)


def luhn_ok(digits: str) -> bool:
    """The Luhn (mod 10) check used by payment card numbers."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def base62(n: int, width: int) -> str:
    """Base62 encoding, zero-padded to `width` (GitHub's token checksum alphabet)."""
    out = []
    while n:
        n, r = divmod(n, 62)
        out.append(_B62[r])
    return "".join(reversed(out)).rjust(width, "0")


def github_checksum_ok(token: str) -> bool:
    """GitHub's public token format: 30 random base62 chars then CRC32 of them in base62."""
    body = token.rsplit("_", 1)[-1]
    if len(body) != 36:
        return False
    return base62(zlib.crc32(body[:30].encode()) & 0xFFFFFFFF, 6) == body[30:]


def b64url_json(part: str) -> object | None:
    """Decode one base64url JWT part into JSON, or None."""
    try:
        raw = base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))
        return json.loads(raw)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        return None


def char_classes(value: str) -> int:
    """How many of lower, upper, digit, other a value uses."""
    lower = upper = digit = other = 0
    for ch in value:
        if ch.islower():
            lower = 1
        elif ch.isupper():
            upper = 1
        elif ch.isdigit():
            digit = 1
        else:
            other = 1
    return lower + upper + digit + other
