"""Bounded memory of what the emulator issued (tokens, credentials), for as long as it is valid.

A long benchmark issues without end; what expired can go, and if that is not enough the oldest
tenth goes too, so memory stays bounded and the recently issued keep working.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

#: Entries kept at most per kind of thing issued.
MEMORY = 100_000


def forget_expired(memory: dict[str, T], now: float, expiry: Callable[[T], float]) -> dict[str, T]:
    """`memory` without the expired entries; if that frees too little, the oldest tenth too."""
    live = {key: value for key, value in memory.items() if expiry(value) > now}
    if len(live) > MEMORY - MEMORY // 10:
        live = dict(list(live.items())[MEMORY // 10 :])
    return live
