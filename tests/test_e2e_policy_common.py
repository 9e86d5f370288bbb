"""Shared by the policy end-to-end tests: callers, pack paths and configs derived from the demo.

No tests here. Every config starts from `examples/emulated.yaml` (the shipped offline demo) and
changes only what a test needs: which policy pack, which callers, extra models.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml

from tests.support import ROOT, free_port, wait_http

PACKS = ROOT / "examples" / "policies"

# Callers as static keys (plain `key:`; the demo's hashed key stays too).
KEYS: dict[str, dict[str, Any]] = {
    "bg-test-de-0123456789": {
        "user": "dana", "team": "eng", "country": "DE", "org": "acme", "org_country": "DE",
    },
    "bg-test-cn-0123456789": {
        "user": "li", "team": "eng", "country": "SG", "org": "acme-asia", "org_country": "CN",
    },
    "bg-test-us-0123456789": {
        "user": "sam", "team": "sales", "country": "US", "org": "acme-us", "org_country": "US",
    },
    "bg-test-rs-0123456789": {
        "user": "rita", "team": "lab", "groups": ["research"], "country": "DE",
        "org": "acme", "org_country": "DE",
    },
}  # fmt: skip
DE, CN, US, RESEARCH = list(KEYS)


def pack(name: str) -> str:
    """Absolute path of a shipped pack's policy (the gateway's cwd must not matter)."""
    return str(PACKS / name / "policy.cedar")


def policy_config(
    tmp: Path,
    emulator_url: str,
    policy_files: Sequence[str],
    *,
    extra_models: dict[str, list[dict[str, Any]]] | None = None,
    extra_providers: dict[str, dict[str, Any]] | None = None,
    watch_interval_s: float | None = None,
    watch: bool = True,
    redactable: Sequence[str] = ("personal_data",),
) -> Path:
    """`examples/emulated.yaml` with state under `tmp`, the given policies and test callers."""
    text = (ROOT / "examples" / "emulated.yaml").read_text()
    text = text.replace("${EMULATOR_URL:-http://127.0.0.1:9000}", emulator_url)
    text = text.replace("${BORDERGATE_VAR:-var}", str(tmp))
    data = yaml.safe_load(text)
    data["identity"]["static_keys"] += [{"key": k, **v} for k, v in KEYS.items()]
    data["policy"] = {"files": list(policy_files), "watch": watch}
    if watch_interval_s is not None:
        data["policy"]["watch_interval_s"] = watch_interval_s
    # The demo's fingerprint index of src/ is not needed here: markings and secrets suffice.
    data["dlp"] = {"redactable_classes": list(redactable)}
    data["providers"].update(extra_providers or {})
    data["models"].update(extra_models or {})
    out = tmp / "gateway.yaml"
    out.write_text(yaml.safe_dump(data, sort_keys=False))
    return out


class LoggedProcess:
    """A `bordergate serve` process whose output is drained by a thread (never blocks it)."""

    def __init__(self, proc: subprocess.Popen[bytes], url: str) -> None:
        self.proc = proc
        self.url = url
        self.lines: list[str] = []
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._drain, daemon=True)
        self._thread.start()

    def _drain(self) -> None:
        assert self.proc.stdout is not None
        for raw in self.proc.stdout:
            with self._lock:
                self.lines.append(raw.decode(errors="replace").rstrip("\n"))

    def log(self) -> str:
        with self._lock:
            return "\n".join(self.lines)

    def wait_log(
        self, needle: str, after: int = 0, timeout: float = 15.0, also: Sequence[str] = ()
    ) -> str:
        """The first log line (from line index `after`) containing `needle` and all of `also`."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                for line in self.lines[after:]:
                    if needle in line and all(a in line for a in also):
                        return line
            time.sleep(0.05)
        raise AssertionError(f"log never said {needle!r}; log:\n{self.log()}")

    def mark(self) -> int:
        with self._lock:
            return len(self.lines)


@contextmanager
def logged_gateway(config: Path) -> Iterator[LoggedProcess]:
    """Like `tests.support.gateway`, but keeps the process and its log for the test."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen(
        [sys.executable, "-m", "bordergate", "serve", "--config", str(config), "--port", str(port)],
        cwd=ROOT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        wait_http(f"{url}/healthz", proc)
        yield LoggedProcess(proc, url)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, 15)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, 9)
                proc.wait(5)


def poll(check: Callable[[], bool], timeout: float = 10.0, interval: float = 0.05) -> float:
    """Seconds until `check()` held; AssertionError after `timeout`."""
    start = time.monotonic()
    while True:
        if check():
            return time.monotonic() - start
        if time.monotonic() - start > timeout:
            raise AssertionError(f"condition not met within {timeout} s")
        time.sleep(interval)
