"""The circuit breaker's state machine, with a clock the test moves by hand."""

from __future__ import annotations

import pytest

from bordergate.config import ConfigError, parse_config
from bordergate.upstream.breaker import Breaker, Breakers, BreakerSettings


def test_opens_after_the_configured_failures_in_a_row() -> None:
    b = Breaker(BreakerSettings(failures=3, cooldown_s=10))
    assert b.failed(0.0, "upstream_error") is None
    assert b.failed(0.1, "upstream_error") is None
    assert b.allow(0.2)
    change = b.failed(0.2, "upstream_timeout")
    assert change is not None and change.state == "open" and change.failures == 3
    assert change.reason == "upstream_timeout" and change.cooldown_s == 10
    assert b.state(0.3) == "open" and not b.allow(0.3)
    assert b.retry_in(5.2) == pytest.approx(5.0)


def test_an_answer_resets_the_count() -> None:
    b = Breaker(BreakerSettings(failures=2))
    b.failed(0.0, "upstream_error")
    assert b.succeeded() is None  # it was never open: nothing to announce
    assert b.failed(1.0, "upstream_error") is None  # one in a row again, not two
    assert b.state(1.0) == "closed"


def test_one_trial_after_the_cooldown_and_it_decides() -> None:
    b = Breaker(BreakerSettings(failures=1, cooldown_s=10, max_cooldown_s=25))
    b.failed(0.0, "upstream_unreachable")
    assert not b.allow(9.9)
    assert b.state(10.0) == "half_open"
    assert b.allow(10.0)  # the trial
    assert not b.allow(10.1)  # only one at a time
    again = b.failed(11.0, "upstream_unreachable")
    assert again is not None and again.state == "open" and again.cooldown_s == 20
    assert not b.allow(30.9) and b.allow(31.0)
    third = b.failed(31.5, "upstream_unreachable")
    assert third is not None and third.cooldown_s == 25  # capped
    assert b.allow(56.5)
    closed = b.succeeded()
    assert closed is not None and closed.state == "closed"
    assert b.state(56.6) == "closed" and b.failures == 0
    b.failed(57.0, "upstream_error")  # a fresh opening starts from the first cool-down
    assert b.retry_in(57.0) == pytest.approx(10.0)


def test_a_trial_never_sent_frees_the_slot_for_the_next_request() -> None:
    b = Breaker(BreakerSettings(failures=1, cooldown_s=10))
    b.failed(0.0, "upstream_error")
    assert b.allow(10.0) and not b.allow(10.1)
    b.withdrawn()  # e.g. the request could not be put in this deployment's format
    assert b.state(10.2) == "half_open" and b.allow(10.2)


def test_while_a_trial_is_out_clients_are_told_one_second() -> None:
    b = Breaker(BreakerSettings(failures=1, cooldown_s=30))
    b.failed(0.0, "upstream_timeout")
    assert b.retry_after(10.0) == pytest.approx(20.0) and not b.trial_in_flight(10.0)
    assert b.allow(30.0)
    assert b.trial_in_flight(31.0) and b.retry_after(31.0) == 1.0
    assert b.retry_in(31.0) == pytest.approx(29.0)  # when another trial may go if this hangs


def test_recovery_clears_the_last_failure() -> None:
    b = Breaker(BreakerSettings(failures=1, cooldown_s=1))
    b.failed(0.0, "upstream_error")
    assert b.last_reason == "upstream_error"
    b.allow(1.0)
    b.succeeded()
    assert b.last_reason == ""


def test_a_trial_that_never_reports_does_not_wedge_the_breaker() -> None:
    b = Breaker(BreakerSettings(failures=1, cooldown_s=5))
    b.failed(0.0, "upstream_timeout")
    assert b.allow(5.0)  # trial goes out, and its task is cancelled: no report
    assert not b.allow(9.9)
    assert b.allow(10.0)  # another trial, a cool-down after the first one started


def test_late_failures_from_before_the_opening_do_not_extend_it() -> None:
    b = Breaker(BreakerSettings(failures=1, cooldown_s=5))
    b.failed(0.0, "upstream_error")
    assert b.failed(1.0, "upstream_error") is None  # was in flight when it opened
    assert b.retry_in(1.0) == pytest.approx(4.0)


def test_zero_failures_turns_it_off() -> None:
    b = Breaker(BreakerSettings(failures=0))
    for t in range(100):
        assert b.failed(float(t), "upstream_error") is None
    assert b.allow(100.0) and b.state(100.0) == "closed"


def test_settings_are_checked() -> None:
    with pytest.raises(ValueError, match="max_cooldown_s"):
        BreakerSettings(cooldown_s=10, max_cooldown_s=5)


def test_snapshot_lists_every_deployment_asked_for() -> None:
    breakers = Breakers()
    settings = BreakerSettings(failures=1, cooldown_s=10)
    assert breakers.get("a/x", settings) is breakers.get("a/x", settings)
    breakers.get("a/x", settings).failed(0.0, "rate_limited")
    view = breakers.snapshot(2.0, ["a/x", "b/y"])
    assert view["a/x"] == {
        "state": "open",
        "consecutive_failures": 1,
        "retry_in_s": 8.0,
        "trial_in_flight": False,
        "last_failure": "rate_limited",
    }
    assert view["b/y"]["state"] == "closed" and view["b/y"]["consecutive_failures"] == 0


def test_config_validates_the_breaker_and_the_provider_carries_it() -> None:
    base = """
providers:
  p: {{preset: openai, base_url: "http://127.0.0.1:1/v1", api_key: k, circuit_breaker: {cb}}}
models:
  m: [{{provider: p, model: x}}]
"""
    cfg = parse_config(base.format(cb="{failures: 2, cooldown_s: 1.5}"), "t.yaml")
    breaker = cfg.providers["p"].circuit_breaker
    assert (breaker.failures, breaker.cooldown_s, breaker.max_cooldown_s) == (2, 1.5, 120.0)
    with pytest.raises(ConfigError, match="max_cooldown_s must be at least cooldown_s"):
        parse_config(base.format(cb="{cooldown_s: 30, max_cooldown_s: 10}"), "t.yaml")
    with pytest.raises(ConfigError, match=r"circuit_breaker\.failures"):
        parse_config(base.format(cb="{failures: -1}"), "t.yaml")
