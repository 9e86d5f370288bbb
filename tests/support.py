"""Helpers for end-to-end tests: free ports, real server processes, readiness waits."""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pydantic
import yaml

ROOT = Path(__file__).resolve().parent.parent


_ONE_PROVIDER = """\
auth: {{mode: none}}
dlp: {{enabled: false}}
providers:
  {name}:
{provider}
models:
  claude:
    - {{provider: {name}, model: "{model}"}}
"""


def one_provider_config(
    provider: str, *, name: str, model: str, env: dict[str, str] | None = None
) -> Any:
    """A parsed config with one provider (`provider`: its YAML body) serving `claude` as
    `model`; what the upstream unit tests build deployments from."""
    indented = "\n".join("    " + line for line in provider.strip().splitlines())
    text = _ONE_PROVIDER.format(name=name, provider=indented, model=model)
    from bordergate.config import parse_config

    return parse_config(text, "test.yaml", env=env or {})


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


# Realistic signed storage URLs (formats from the AWS SigV4/SigV2, GCS V4/V2 and Azure SAS
# documentation; the key ids and signatures here are made up).
SIGNING_KEY_ID = "AKIA4TQZR7WNXKP2HM5V"
SIGNED_URLS = {
    "s3-sigv4": (
        "https://bucket.s3.amazonaws.com/cat.png?X-Amz-Algorithm=AWS4-HMAC-SHA256"
        f"&X-Amz-Credential={SIGNING_KEY_ID}%2F20261124%2Fus-east-1%2Fs3%2Faws4_request"
        "&X-Amz-Date=20261124T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host"
        "&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404"
    ),
    "s3-sigv2": (
        f"https://bucket.s3.amazonaws.com/cat.png?AWSAccessKeyId={SIGNING_KEY_ID}"
        "&Expires=1795600000&Signature=vjbyPxybdZaNmGa%2ByT272YEAiv4%3D"
    ),
    "gcs-v4": (
        "https://storage.googleapis.com/bucket/cat.jpeg?X-Goog-Algorithm=GOOG4-RSA-SHA256"
        "&X-Goog-Credential=signer%40my-proj.iam.gserviceaccount.com%2F20261124%2Fauto"
        "%2Fstorage%2Fgoog4_request&X-Goog-Date=20261124T181309Z&X-Goog-Expires=900"
        "&X-Goog-SignedHeaders=host&X-Goog-Signature=247a2aa45f169edf4d187d54e7cc46e4"
    ),
    "gcs-v2": (
        "https://storage.googleapis.com/bucket/cat.png?GoogleAccessId=signer%40my-proj.iam"
        ".gserviceaccount.com&Expires=1795600000&Signature=Zm9vYmFyYmF6cXV4%2Bc3RyaW5n%3D"
    ),
    "azure-sas": (
        "https://acct.blob.core.windows.net/c/cat.png?sv=2022-11-02&sp=r"
        "&se=2026-12-01T00:00:00Z&spr=https"
        "&sig=Zx8kq3Qm7%2Bv2Yp9rL4tN6wB1cE5hJ0sD3fG8aK2mX4U%3D"
    ),
}


class Forecast(pydantic.BaseModel):
    """A structured-output schema: the SDKs derive its JSON Schema and parse answers into it."""

    city: str
    days: list[int]


def audit_event(state: Path, request_id: str) -> dict[str, Any]:
    """The audit event of one request, from the SQLite log of a `derive_config` gateway.

    Polls briefly: a response can reach the client a moment before a batched event is read.
    """
    deadline = time.monotonic() + 10
    while True:
        with sqlite3.connect(state / "emulated.db") as db:
            for (text,) in db.execute("SELECT event FROM audit_events"):
                event: dict[str, Any] = json.loads(text)
                if event["request_id"] == request_id:
                    return event
        assert time.monotonic() < deadline, f"no audit event for {request_id}"
        time.sleep(0.05)


def service_account_info(
    key: Any, token_uri: str, project: str = "p", email: str = ""
) -> dict[str, str]:
    """A Google service-account key file's fields for an RSA private key (`cryptography`)."""
    from cryptography.hazmat.primitives import serialization

    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    return {
        "type": "service_account",
        "project_id": project,
        "private_key_id": "kid-1",
        "private_key": pem,
        "client_email": email or f"gateway@{project}.iam.gserviceaccount.com",
        "client_id": "1",
        "token_uri": token_uri,
    }


#: Environment variables through which AWS SDKs (and `aws_credentials: default`) find
#: credentials; tests clear them so the machine running them cannot choose the source.
AWS_CREDENTIAL_VARIABLES = (
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_ROLE_ARN",
    "AWS_ROLE_SESSION_NAME",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
    "AWS_EC2_METADATA_SERVICE_ENDPOINT",
    "AWS_EC2_METADATA_DISABLED",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_STS",
    "AWS_SHARED_CREDENTIALS_FILE",
    "AWS_CONFIG_FILE",
)
