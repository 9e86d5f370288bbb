"""Circuit breakers: stop sending requests to a deployment that keeps failing.

Without them a dead or hung deployment costs every request its full deadline (connect timeout,
first-byte timeout) before the gateway falls back to the next candidate, and a flapping one
keeps receiving a share of traffic that it fails. With them, after `failures` retryable failures
in a row a deployment is *open*: skipped, so requests go straight to the next permitted
candidate, or, when none is left, get a fast 503 with Retry-After instead of a slow 502/504.

After the cool-down one request is let through as a trial (*half-open*). If it gets an answer
the breaker closes; if it fails the breaker opens again for twice as long, up to
`max_cooldown_s`. A trial that never reports back (its task was cancelled) does not wedge the
breaker: another trial is allowed once a cool-down has passed since it started.

What counts: the failures that make the gateway try the next candidate (connection refused or
reset, timeouts, HTTP 5xx, 429, the provider refusing the gateway's credentials). Any answer,
a 4xx about the request included, shows the deployment is up and counts as a success. Failures
after the first byte of a stream are not counted: the deployment did answer.

This module is pure: the clock is passed in. State lives in one process (per worker, as in
Envoy's outlier detection); replicas each learn about a failing deployment for themselves,
within `failures` requests.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

State = Literal["closed", "open", "half_open"]


@dataclass(frozen=True, slots=True)
class BreakerSettings:
    """Thresholds of one provider's breakers. `failures == 0` turns them off."""

    failures: int = 5
    cooldown_s: float = 10.0
    max_cooldown_s: float = 120.0

    def __post_init__(self) -> None:
        if self.failures < 0 or self.cooldown_s <= 0 or self.max_cooldown_s < self.cooldown_s:
            raise ValueError(
                "breaker: failures >= 0, cooldown_s > 0 and max_cooldown_s >= cooldown_s"
            )


@dataclass(frozen=True, slots=True)
class Transition:
    """What a report changed, for the log line that the operator reads."""

    state: State
    failures: int
    cooldown_s: float
    reason: str


class Breaker:
    """The state of one deployment. Not thread-safe: one event loop owns it."""

    __slots__ = (
        "cooldown_s",
        "failures",
        "last_reason",
        "opened_at",
        "settings",
        "trial_started",
    )

    def __init__(self, settings: BreakerSettings) -> None:
        self.settings = settings
        self.failures = 0  # retryable failures in a row
        self.opened_at: float | None = None  # None: closed
        self.cooldown_s = settings.cooldown_s
        self.trial_started: float | None = None  # half-open: when the trial went out
        self.last_reason = ""

    def state(self, now: float) -> State:
        if self.opened_at is None:
            return "closed"
        return "open" if now < self.opened_at + self.cooldown_s else "half_open"

    def retry_in(self, now: float) -> float:
        """Seconds until a request may be let through again (0 when one may go now)."""
        if self.opened_at is None:
            return 0.0
        if self.trial_started is not None:
            return max(0.0, self.trial_started + self.cooldown_s - now)
        return max(0.0, self.opened_at + self.cooldown_s - now)

    def trial_in_flight(self, now: float) -> bool:
        """Whether a trial request is out now (its outcome will decide the state)."""
        return self.trial_started is not None and now < self.trial_started + self.cooldown_s

    def retry_after(self, now: float) -> float:
        """What to tell a client that was turned away: while a trial is out, a second (it will
        settle soon, within the provider's deadline); otherwise the rest of the cool-down."""
        return 1.0 if self.trial_in_flight(now) else self.retry_in(now)

    def allow(self, now: float) -> bool:
        """May a request go to this deployment now? Half-open: True once, for the trial."""
        if self.opened_at is None:
            return True
        if self.retry_in(now) > 0:
            return False
        self.trial_started = now
        return True

    def withdrawn(self) -> None:
        """The request `allow` let through was never sent: a half-open trial is free again."""
        self.trial_started = None

    def succeeded(self) -> Transition | None:
        """The deployment answered. Returns a transition if this closed an open breaker."""
        if not self.failures and self.opened_at is None:
            return None  # the common case, on every request: nothing to change
        was_open = self.opened_at is not None
        self.failures = 0
        self.opened_at = None
        self.trial_started = None
        self.cooldown_s = self.settings.cooldown_s
        if was_open:
            self.last_reason = ""  # healthy again: an old failure is no current fault
            return Transition("closed", 0, 0.0, "answered again")
        return None

    def failed(self, now: float, reason: str) -> Transition | None:
        """A retryable failure. Returns a transition if this opened (or re-opened) the breaker."""
        self.failures += 1
        self.last_reason = reason
        if self.opened_at is not None:
            if self.trial_started is None:
                return None  # a request from before the breaker opened, reporting late
            # The trial failed: open again, for longer.
            self.cooldown_s = min(self.cooldown_s * 2, self.settings.max_cooldown_s)
            self.opened_at, self.trial_started = now, None
            return Transition("open", self.failures, self.cooldown_s, reason)
        if self.settings.failures and self.failures >= self.settings.failures:
            self.opened_at = now
            return Transition("open", self.failures, self.cooldown_s, reason)
        return None


class Breakers:
    """Every deployment's breaker, created on first use from its provider's settings."""

    def __init__(self) -> None:
        self._by_id: dict[str, Breaker] = {}

    def get(self, deployment_id: str, settings: BreakerSettings) -> Breaker:
        breaker = self._by_id.get(deployment_id)
        if breaker is None:
            breaker = self._by_id[deployment_id] = Breaker(settings)
        return breaker

    def snapshot(self, now: float, ids: Iterable[str]) -> dict[str, dict[str, object]]:
        """The state of each of `ids` (a deployment never called is closed), for the admin API."""
        out: dict[str, dict[str, object]] = {}
        for dep_id in ids:
            b = self._by_id.get(dep_id)
            out[dep_id] = {
                "state": "closed" if b is None else b.state(now),
                "consecutive_failures": 0 if b is None else b.failures,
                "retry_in_s": 0.0 if b is None else round(b.retry_in(now), 3),
                "trial_in_flight": False if b is None else b.trial_in_flight(now),
                "last_failure": None if b is None else (b.last_reason or None),
            }
        return out
