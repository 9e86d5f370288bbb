"""Findings of the data-egress detectors."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class Finding:
    """One detected span: class (secret, personal_data, confidential, source_code,
    internal_code), rule id, and offsets into the ORIGINAL text. Never the value."""

    cls: str
    rule: str
    start: int
    end: int


class Detector(Protocol):
    def scan(self, text: str) -> list[Finding]: ...
