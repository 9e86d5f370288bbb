"""The limiter interface and the pure planning shared by both backends.

A request is admitted against a set of counters (requests/min and tokens/min per key and per
team; spend per key and per team per calendar period). `check` reserves the request's
estimated tokens and cost on every counter atomically, or reserves nothing and raises
`LimitExceeded`; `settle` later moves each counter by (actual - estimate). Because spend is
reserved up front, a budget can only be overrun by what in-flight requests cost beyond their
estimate. Money is counted in integer micro-dollars so Redis and memory agree exactly.
"""

from __future__ import annotations

import calendar
import functools
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import NamedTuple, Protocol

from bordergate.identity.types import Identity
from bordergate.limits.config import LimitRule, LimitsConfig

MICRO = 1_000_000
RATE_WINDOW_S = 60


def to_micro(usd: float) -> int:
    return round(usd * MICRO)


class LimitExceeded(Exception):
    """A limit would be exceeded; the server answers 429 with `Retry-After: retry_after_s`."""

    def __init__(
        self,
        retry_after_s: float,
        kind: str,
        message: str,
        *,
        scope: str = "key",
        period: str = "minute",
        resets_at: float = 0.0,
    ) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s
        self.kind = kind  # "rpm" | "tpm" | "budget"
        self.message = message
        self.scope = scope  # "key" | "team"
        self.period = period  # "minute" | "day" | "month"
        self.resets_at = resets_at  # epoch seconds (UTC)

    def as_dict(self) -> dict[str, object]:
        """Fields for the client-facing error body (the server wraps them per wire format)."""
        return {
            "kind": self.kind,
            "scope": self.scope,
            "period": self.period,
            "message": self.message,
            "retry_after_s": self.retry_after_s,
            "resets_at": self.resets_at,
        }

    @property
    def retry_after_header(self) -> str:
        """Whole seconds, at least 1, as HTTP `Retry-After` wants."""
        return str(max(1, int(-(-self.retry_after_s // 1))))


@dataclass(frozen=True, slots=True)
class Counter:
    """One counter a request is checked against (its key already includes the window)."""

    key: str
    kind: str
    scope: str
    subject: str
    limit: int
    amount: int
    ttl_s: int
    period: str
    resets_at: float


@dataclass(frozen=True, slots=True)
class Reservation:
    """What `check` reserved; pass it back to `settle` exactly once."""

    counters: tuple[Counter, ...]
    estimated_tokens: int
    estimated_micro: int


class Limiter(Protocol):
    """Rate limits and budgets; implementations: MemoryLimiter, RedisLimiter."""

    async def check(
        self, identity: Identity, estimated_tokens: int, estimated_cost_usd: float = 0.0
    ) -> Reservation:
        """Admit and reserve (tokens: prompt + expected completion; cost: priced estimate)
        on every applicable counter atomically, or raise LimitExceeded reserving nothing."""
        ...

    async def settle(self, reservation: Reservation, actual_tokens: int, cost_usd: float) -> None:
        """Reconcile a reservation with actual usage; call once per admitted request, also
        for failed ones (`settle(r, 0, 0.0)` releases the estimate)."""
        ...

    async def close(self) -> None: ...


def period_bounds(period: str, now: float) -> tuple[str, float]:
    """(label, reset epoch) of the calendar UTC day or month containing `now`."""
    return _period_of_day(period, int(now // 86400))


@functools.lru_cache(maxsize=64)
def _period_of_day(period: str, day: int) -> tuple[str, float]:
    # Cached per UTC day: the hot path would otherwise format dates on every request.
    t = datetime.fromtimestamp(day * 86400, UTC)
    if period == "day":
        return t.strftime("%Y-%m-%d"), float((day + 1) * 86400)
    if period == "month":
        days = calendar.monthrange(t.year, t.month)[1]
        start = datetime(t.year, t.month, 1, tzinfo=UTC).timestamp()
        return t.strftime("%Y-%m"), start + days * 86400
    raise ValueError(f"unknown budget period {period!r}")


def format_usd(usd: float) -> str:
    """Dollars with cents, or more digits when cents would hide the amount ($0.0005, not $0.00)."""
    if round(usd, 2) == usd:
        return f"${usd:,.2f}"
    return "$" + f"{usd:,.6f}".rstrip("0")


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class _Rule(NamedTuple):
    rpm: int | None
    tpm: int | None
    budget_usd: float | None
    budget_period: str


def _key_rule(identity: Identity, config: LimitsConfig) -> _Rule:
    """The key's own limits, with the configured defaults where it set none."""
    own, dflt = identity.limits, config.defaults
    return _Rule(
        own.rpm if own.rpm is not None else dflt.rpm,
        own.tpm if own.tpm is not None else dflt.tpm,
        own.budget_usd if own.budget_usd is not None else dflt.budget_usd,
        own.budget_period if own.budget_usd is not None else dflt.budget_period,
    )


def subject_of(identity: Identity) -> str:
    """Per-key counters are per key id; keyless callers (JWT) count per user."""
    p = identity.principal
    return p.key_id or f"user:{p.id}"


def plan(
    identity: Identity,
    config: LimitsConfig,
    estimated_tokens: int,
    estimated_micro: int,
    now: float,
) -> tuple[Counter, ...]:
    """The counters this request is checked against, for the window containing `now`."""
    key_rule = _key_rule(identity, config)
    team = identity.principal.team
    team_rule = config.teams.get(team, config.team_defaults) if team else None
    unlimited = key_rule.rpm is None and key_rule.tpm is None and key_rule.budget_usd is None
    if unlimited and team_rule is None:
        return ()  # the common unlimited caller: nothing to build
    scopes: list[tuple[str, str, _Rule | LimitRule]] = [("key", subject_of(identity), key_rule)]
    if team_rule is not None:
        scopes.append(("team", team, team_rule))
    window = int(now // RATE_WINDOW_S)
    window_end = float((window + 1) * RATE_WINDOW_S)
    p = config.prefix
    out: list[Counter] = []
    for scope, subject, rule in scopes:
        if rule.rpm is not None:
            out.append(
                Counter(
                    f"{p}rpm:{scope}:{subject}:{window}",
                    "rpm",
                    scope,
                    subject,
                    rule.rpm,
                    1,
                    2 * RATE_WINDOW_S,
                    "minute",
                    window_end,
                )
            )
        if rule.tpm is not None:
            out.append(
                Counter(
                    f"{p}tpm:{scope}:{subject}:{window}",
                    "tpm",
                    scope,
                    subject,
                    rule.tpm,
                    max(0, estimated_tokens),
                    2 * RATE_WINDOW_S,
                    "minute",
                    window_end,
                )
            )
        if rule.budget_usd is not None:
            label, resets = period_bounds(rule.budget_period, now)
            out.append(
                Counter(
                    f"{p}budget:{scope}:{subject}:{label}",
                    "budget",
                    scope,
                    subject,
                    to_micro(rule.budget_usd),
                    max(0, estimated_micro),
                    int(resets - now) + 86400,
                    rule.budget_period,
                    resets,
                )
            )
    return tuple(out)


def admits(current: int, counter: Counter) -> bool:
    """The one admission rule both backends implement (Redis in Lua)."""
    return current < counter.limit and current + counter.amount <= counter.limit


def exceeded(counter: Counter, now: float) -> LimitExceeded:
    """The error for a counter that refused a request, with its reset time."""
    retry = max(0.0, counter.resets_at - now)
    who = f"{counter.scope} {counter.subject!r}" if counter.scope == "team" else "key"
    if counter.kind == "budget":
        usd = counter.limit / MICRO
        msg = (
            f"{who} budget of {format_usd(usd)} per {counter.period} is exhausted; "
            f"resets at {_iso(counter.resets_at)}"
        )
    elif counter.kind == "rpm":
        msg = f"{who} limit of {counter.limit} requests per minute reached"
    else:
        if counter.amount > counter.limit:
            msg = (
                f"request needs ~{counter.amount} tokens, above the {who} limit of "
                f"{counter.limit} tokens per minute"
            )
        else:
            msg = f"{who} limit of {counter.limit} tokens per minute reached"
    return LimitExceeded(
        retry,
        counter.kind,
        msg,
        scope=counter.scope,
        period=counter.period,
        resets_at=counter.resets_at,
    )


def settle_deltas(
    reservation: Reservation, actual_tokens: int, cost_usd: float
) -> list[tuple[str, int]]:
    """(counter key, delta) moving each tokens/budget counter from estimate to actual."""
    dt = max(0, actual_tokens) - reservation.estimated_tokens
    dc = max(0, to_micro(cost_usd)) - reservation.estimated_micro
    out: list[tuple[str, int]] = []
    for c in reservation.counters:
        if c.kind == "tpm" and dt:
            out.append((c.key, dt))
        elif c.kind == "budget" and dc:
            out.append((c.key, dc))
    return out
