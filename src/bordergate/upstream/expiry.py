"""When to replace a cloud credential that expires: the one rule AWS and Google credentials share.

Replacing ahead of expiry keeps a request from setting out with a credential that dies on the
way; half-way for short-lived ones, so a credential is never replaced before it was any use.
"""

from __future__ import annotations

#: A cached credential is replaced this long before it expires (at most half its life).
REFRESH_MARGIN_S = 300.0


def refresh_time(expires_at: float, now: float) -> float:
    """When to replace a credential that expires at `expires_at` (both on the same clock)."""
    lifetime = max(0.0, expires_at - now)
    return expires_at - min(REFRESH_MARGIN_S, lifetime / 2)
