"""The scan's time limit, checked inside the detectors' long loops, not only between them.

A detector's loop is linear, but over a few megabytes of adversarial text (tens of thousands
of keyword hits, each reading far ahead) one detector alone can take seconds, and the scan
runs on the event loop. The scanner sets a deadline for the calling thread; the loops call
`check()` every few hundred steps. Pure apart from the clock.
"""

from __future__ import annotations

import threading
import time

_local = threading.local()

#: Loops call `check()` once per this many steps (a power of two: `step & EVERY - 1`).
EVERY = 256


class ScanTimeout(Exception):
    """The scan of one text ran past its deadline."""


def start(seconds: float) -> None:
    """Give this thread's scan `seconds` from now."""
    _local.at = time.perf_counter() + seconds


def clear() -> None:
    """No deadline for this thread (outside a scan)."""
    _local.at = None


def check() -> None:
    """Raise `ScanTimeout` once this thread's deadline has passed."""
    at = getattr(_local, "at", None)
    if at is not None and time.perf_counter() > at:
        raise ScanTimeout
