"""Helpers for end-to-end tests: free ports, real server processes, readiness waits."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import httpx
import yaml

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_http(url: str, proc: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    """Poll `url` until it answers (any status), or fail with the process output."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            out = proc.stdout.read().decode(errors="replace") if proc.stdout else ""
            raise RuntimeError(f"process exited with {proc.returncode}:\n{out}")
        try:
            httpx.get(url, timeout=1.0)
            return
        except httpx.HTTPError:
            time.sleep(0.05)
    raise TimeoutError(f"{url} did not answer within {timeout} s")


@contextmanager
def run_process(
    args: Sequence[str], ready_url: str, env: dict[str, str] | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    """Start `python -m bordergate ARGS`, wait until `ready_url` answers, stop it afterwards."""
    full_env = {**os.environ, **(env or {})}
    full_env.setdefault("PYTHONUNBUFFERED", "1")
    proc = subprocess.Popen(
        [sys.executable, "-m", "bordergate", *args],
        cwd=ROOT,
        env=full_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        wait_http(ready_url, proc)
        yield proc
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(5)


@contextmanager
def emulator() -> Iterator[str]:
    """A real `bordergate emulate` process; yields its base URL (without /v1)."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with run_process(
        ["emulate", "--host", "127.0.0.1", "--port", str(port)], f"{url}/_emulator/requests"
    ):
        yield url


@contextmanager
def gateway(config_path: Path | str, env: dict[str, str] | None = None) -> Iterator[str]:
    """A real `bordergate serve` process on a free port; yields its base URL (without /v1)."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with run_process(
        ["serve", "--config", str(config_path), "--port", str(port)], f"{url}/healthz", env
    ):
        yield url


def derive_config(
    tmp: Path,
    emulator_url: str,
    *,
    base: Path | None = None,
    drop: Sequence[str] = (),
    **sections: object,
) -> Path:
    """A config file derived from `examples/emulated.yaml`: state under `tmp`, sections replaced.

    Tests run the shipped example, changed only where a test needs it (e.g. no policy, so the
    Anthropic translation can be exercised with Claude).
    """
    text = (base or ROOT / "examples" / "emulated.yaml").read_text()
    text = text.replace("${EMULATOR_URL:-http://127.0.0.1:9000}", emulator_url)
    text = text.replace("${BORDERGATE_VAR:-var}", str(tmp))
    data = yaml.safe_load(text)
    for key in drop:
        data.pop(key, None)
    data.update(sections)
    out = tmp / "gateway.yaml"
    out.write_text(yaml.safe_dump(data, sort_keys=False))
    return out


def build_fingerprints(out: Path) -> Path:
    """The demo's fingerprint index of this repository's own src/."""
    from bordergate.dlp.fingerprint import build_index

    build_index([ROOT / "src"]).save(out)
    return out


def established_connections(port: int) -> int:
    """Established TCP connections whose local port is `port` (an emulator's side)."""
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if int(fields[1].rsplit(":", 1)[1], 16) == port and fields[3] == "01":
                count += 1
    return count
