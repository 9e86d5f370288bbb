"""Shared pieces of the data-egress end-to-end tests (no tests here): data, journal, SSE.

Secret values are generated per run with random bodies (never committed), in formats the
scanner detects; personal data uses well-formed values with valid check digits.
"""

from __future__ import annotations

import re
import secrets
import string
import zlib
from collections.abc import Iterable
from typing import Any

import httpx
import openai

from bordergate.dlp.rules_checks import base62

DEMO_KEY = "bg-demo-key"

# Personal data the detectors find (valid IBAN mod 97, PRC ID with a valid check digit).
EMAIL = "alice.zhang@example-corp.de"
CN_MOBILE = "13812345678"
PRC_ID = "11010519491231002X"
IBAN = "DE89370400440532013000"
PERSONAL = (EMAIL, CN_MOBILE, PRC_ID, IBAN)
PERSONAL_PROSE = (
    f"Please draft a note to {EMAIL} (mobile {CN_MOBILE}); her resident ID is {PRC_ID} and "
    f"the refund goes to IBAN {IBAN}. Copy {EMAIL} again at the end."
)
PLACEHOLDER = re.compile(r"\[(?:EMAIL|PHONE|ID_NUMBER|IBAN)_\d+\]")

_ALNUM = string.ascii_letters + string.digits


def _random(alphabet: str, n: int) -> str:
    return "".join(secrets.choice(alphabet) for _ in range(n))


def aws_secret_value() -> str:
    """A 40-character AWS secret access key body (base64 alphabet, random)."""
    return _random(_ALNUM + "/+", 39) + secrets.choice(_ALNUM)


def github_token() -> str:
    """A `ghp_` token with GitHub's CRC-32 checksum, so the structural check accepts it."""
    body = _random(_ALNUM, 30)
    return "ghp_" + body + base62(zlib.crc32(body.encode()) & 0xFFFFFFFF, 6)


def pem_private_key() -> tuple[str, str]:
    """A PEM RSA private key block and one of its (random) body lines."""
    lines = [_random(_ALNUM + "+/", 64) for _ in range(4)]
    block = (
        "-----BEGIN RSA PRIVATE KEY-----\n" + "\n".join(lines) + "\n-----END RSA PRIVATE KEY-----"
    )
    return block, lines[1]


def secret_cases() -> list[tuple[str, str, str]]:
    """(text carrying a secret, the value that must never leave, rule id expected) triples."""
    aws = aws_secret_value()
    gh = github_token()
    pem, pem_line = pem_private_key()
    return [
        (f"deploy with AWS_SECRET_ACCESS_KEY={aws} please", aws, "aws-secret-access-key"),
        (f"why does `git push` fail with token {gh}?", gh, "github-pat"),
        (f"is this key valid?\n{pem}\n", pem_line, "private-key-rsa"),
    ]


# --------------------------------------------------------------------------- the emulator
def journal(emu: str) -> list[dict[str, Any]]:
    """Every request the emulator recorded (newest last)."""
    entries: list[dict[str, Any]] = httpx.get(f"{emu}/_emulator/requests", timeout=10).json()
    return entries


def last_seq(emu: str) -> int:
    """Sequence number of the newest recorded upstream request (0 when none)."""
    entries = journal(emu)
    return max((int(e["seq"]) for e in entries), default=0)


def since(emu: str, seq: int) -> list[dict[str, Any]]:
    """Upstream requests recorded after `seq`."""
    return [e for e in journal(emu) if int(e["seq"]) > seq]


def only_since(emu: str, seq: int) -> dict[str, Any]:
    """The single upstream request recorded after `seq` (fails if there is not exactly one)."""
    entries = since(emu, seq)
    assert len(entries) == 1, [e["path"] for e in entries]
    return entries[0]


def texts_of(body: Any) -> str:
    """Every string inside a JSON value, joined: what a provider could read in a request."""
    out: list[str] = []

    def walk(v: Any) -> None:
        if isinstance(v, str):
            out.append(v)
        elif isinstance(v, dict):
            for x in v.values():
                walk(x)
        elif isinstance(v, list):
            for x in v:
                walk(x)

    walk(body)
    return "\n".join(out)


# --------------------------------------------------------------------------- the client side
def openai_client(gw: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{gw}/v1", api_key=DEMO_KEY, max_retries=0, timeout=30)


def fold_stream(chunks: Iterable[Any]) -> tuple[str, dict[int, str], dict[int, str], str | None]:
    """Content text, tool-call names and arguments by index, and finish reason of a stream."""
    text: list[str] = []
    names: dict[int, str] = {}
    args: dict[int, str] = {}
    finish: str | None = None
    for chunk in chunks:
        if not chunk.choices:
            continue
        delta = chunk.choices[0].delta
        text.append(delta.content or "")
        for tc in delta.tool_calls or []:
            if tc.function and tc.function.name:
                names[tc.index] = tc.function.name
            if tc.function and tc.function.arguments:
                args[tc.index] = args.get(tc.index, "") + tc.function.arguments
        finish = chunk.choices[0].finish_reason or finish
    return "".join(text), names, args, finish
