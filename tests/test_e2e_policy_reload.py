"""Policy hot reload in a running gateway: on file change and on SIGHUP, atomically.

A valid new policy decides new requests within seconds; an invalid one is rejected, the old
policy keeps deciding and the log says why; a stream that started before the reload finishes
normally.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager
from pathlib import Path

import openai
import pytest

from bordergate.emulator.content import digest_of
from tests.support import emulator
from tests.test_e2e_policy_common import DE, LoggedProcess, logged_gateway, policy_config, poll

ALLOW_ALL = """
@id("reload.baseline")
@reason("models are allowed unless a rule below forbids them")
permit (principal, action == Action::"invoke", resource);
"""
BAN_ANTHROPIC = (
    ALLOW_ALL
    + """
@id("reload-ban-anthropic")
@reason("Anthropic models are off as of this reload")
forbid (principal, action == Action::"invoke", resource)
when { resource.vendor == "anthropic" };
"""
)
# Two kinds of invalid: a syntax error, and a schema error (a misspelt attribute).
SYNTAX_ERROR = ALLOW_ALL + '@id("broken") forbid (principal, action, resource) when { ;'
SCHEMA_ERROR = (
    ALLOW_ALL
    + '@id("typo") forbid (principal, action, resource) when { resource.vendr == "openai" };'
)


def write_policy(path: Path, text: str) -> None:
    """Replace the file in one atomic step (a watcher never sees half a file, nor two changes).

    The new mtime is set on the temporary file before the rename, so the watcher sees exactly
    one change, strictly newer than the last.
    """
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text)
    previous = path.stat().st_mtime_ns if path.exists() else 0
    stamp = max(time.time_ns(), previous + 10_000_000)
    os.utime(tmp, ns=(stamp, stamp))
    os.replace(tmp, path)


def status_of(url: str, model: str = "claude-sonnet-4-5") -> int:
    client = openai.OpenAI(base_url=f"{url}/v1", api_key=DE, max_retries=0, timeout=20)
    try:
        client.chat.completions.create(model=model, messages=[{"role": "user", "content": "x"}])
    except openai.APIStatusError as exc:
        return exc.status_code
    return 200


def denied_by(url: str, model: str = "claude-sonnet-4-5") -> list[str]:
    client = openai.OpenAI(base_url=f"{url}/v1", api_key=DE, max_retries=0, timeout=20)
    with pytest.raises(openai.PermissionDeniedError) as exc:
        client.chat.completions.create(model=model, messages=[{"role": "user", "content": "x"}])
    body = exc.value.body
    assert isinstance(body, dict)
    return list(body["policy_ids"])


@pytest.fixture(scope="module")
def emu() -> Iterator[str]:
    with emulator() as url:
        yield url


def start(tmp: Path, emu: str, watch: bool) -> tuple[Path, AbstractContextManager[LoggedProcess]]:
    policy = tmp / "policy.cedar"
    write_policy(policy, ALLOW_ALL)
    cfg = policy_config(tmp, emu, [str(policy)], watch=watch, watch_interval_s=0.2)
    return policy, logged_gateway(cfg)


@pytest.fixture(scope="module")
def watched(
    emu: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Path, LoggedProcess]]:
    policy, ctx = start(tmp_path_factory.mktemp("watched"), emu, watch=True)
    with ctx as gw:
        yield policy, gw


@pytest.fixture(scope="module")
def hup(emu: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, LoggedProcess]]:
    policy, ctx = start(tmp_path_factory.mktemp("hup"), emu, watch=False)
    with ctx as gw:
        yield policy, gw


def test_file_change_applies_within_seconds_and_invalid_keeps_old(
    watched: tuple[Path, LoggedProcess],
) -> None:
    policy, gw = watched
    assert status_of(gw.url) == 200
    mark = gw.mark()
    write_policy(policy, BAN_ANTHROPIC)
    took = poll(lambda: status_of(gw.url) == 403, timeout=5.0)
    print(f"file change -> new decision in {took:.2f} s")
    assert denied_by(gw.url) == ["reload-ban-anthropic"]
    assert "policy generation" in gw.wait_log("policy file changed", mark)

    for bad, fragment in ((SYNTAX_ERROR, "syntax error"), (SCHEMA_ERROR, "vendr")):
        mark = gw.mark()
        write_policy(policy, bad)
        line = gw.wait_log("policy reload rejected", mark, also=(fragment,))
        assert str(policy) in line
        assert "ERROR" in line
        # The old policy still decides.
        assert denied_by(gw.url) == ["reload-ban-anthropic"]
        assert status_of(gw.url, "gpt-4o-mini") == 200

    write_policy(policy, ALLOW_ALL)
    poll(lambda: status_of(gw.url) == 200, timeout=5.0)

    # A change that keeps the file's modification time (same timestamp tick, or a restore
    # with `touch -r`) is a change: the watcher compares contents.
    before = policy.stat().st_mtime_ns
    policy.write_text(BAN_ANTHROPIC)
    os.utime(policy, ns=(before, before))
    poll(lambda: status_of(gw.url) == 403, timeout=5.0)
    write_policy(policy, ALLOW_ALL)
    poll(lambda: status_of(gw.url) == 200, timeout=5.0)


def reset(policy: Path, gw: LoggedProcess) -> None:
    """Back to the allow-all policy (tests sharing the gateway may run in any order)."""
    write_policy(policy, ALLOW_ALL)
    os.kill(gw.proc.pid, signal.SIGHUP)
    poll(lambda: status_of(gw.url) == 200, timeout=5.0)


def test_sighup_reloads_and_invalid_keeps_old(hup: tuple[Path, LoggedProcess]) -> None:
    policy, gw = hup
    reset(policy, gw)
    write_policy(policy, BAN_ANTHROPIC)
    # No watcher here: the file alone changes nothing until SIGHUP.
    assert status_of(gw.url) == 200
    mark = gw.mark()
    os.kill(gw.proc.pid, signal.SIGHUP)
    took = poll(lambda: status_of(gw.url) == 403, timeout=5.0)
    print(f"SIGHUP -> new decision in {took:.2f} s")
    assert "policy generation" in gw.wait_log("SIGHUP", mark)
    assert denied_by(gw.url) == ["reload-ban-anthropic"]

    mark = gw.mark()
    write_policy(policy, SCHEMA_ERROR)
    os.kill(gw.proc.pid, signal.SIGHUP)
    line = gw.wait_log("policy reload rejected", mark, also=("vendr",))
    assert "SIGHUP" in line and str(policy) in line and "vendr" in line
    assert denied_by(gw.url) == ["reload-ban-anthropic"]

    reset(policy, gw)
    assert gw.proc.poll() is None  # SIGHUP reloads; it never stops the gateway


def test_stream_in_flight_is_unaffected_by_a_reload(hup: tuple[Path, LoggedProcess]) -> None:
    policy, gw = hup
    reset(policy, gw)
    client = openai.OpenAI(base_url=f"{gw.url}/v1", api_key=DE, max_retries=0, timeout=30)
    stream = client.chat.completions.create(
        model="claude-sonnet-4-5",
        messages=[{"role": "user", "content": "slow\n@emulator chunks=40 chunk_delay_ms=100"}],
        stream=True,
    )
    chunks = iter(stream)
    pieces = [next(chunks)]
    write_policy(policy, BAN_ANTHROPIC)
    os.kill(gw.proc.pid, signal.SIGHUP)
    poll(lambda: status_of(gw.url) == 403, timeout=5.0)  # new requests: the new policy
    after_reload = list(chunks)
    pieces += after_reload
    text = "".join(c.choices[0].delta.content or "" for c in pieces if c.choices)
    finish = [
        c.choices[0].finish_reason for c in pieces if c.choices and c.choices[0].finish_reason
    ]
    assert after_reload, "the stream should still have been in flight during the reload"
    assert finish == ["stop"]
    assert digest_of("slow") in text
    reset(policy, gw)
