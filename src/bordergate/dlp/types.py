"""Shared DLP types: what a detector reports, and the one method every detector offers.

A finding carries the class and rule that matched plus offsets into the ORIGINAL text — never
the matched value — so findings can be logged and audited without leaking what they point at.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

#: The data classes a finding can carry; the policy decides per class what may leave.
CLASSES: tuple[str, ...] = (
    "secret",
    "personal_data",
    "confidential",
    "source_code",
    "internal_code",
)


@dataclass(frozen=True, slots=True)
class Finding:
    """One detected span: `text[start:end]` of the original (un-normalised) text."""

    cls: str
    rule: str
    start: int
    end: int


class Detector(Protocol):
    """Anything that can scan a text for findings (pure; no I/O)."""

    def scan(self, text: str) -> list[Finding]: ...
