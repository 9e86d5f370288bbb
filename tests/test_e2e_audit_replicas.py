"""Two `bordergate serve` processes writing one PostgreSQL audit log at the same time.

The design (README, "Several replicas, one log") is one chain whose sequence numbers
are assigned under a row lock, with checkpoints signed under the same lock by whichever replica
is due. Through the real gateways: concurrent traffic to both, then one dense, verifiable chain
holding every request of both, and a single linear checkpoint sequence.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

import openai
import psycopg

from tests.support import emulator, gateway
from tests.test_e2e_audit import DEMO_KEY, audit_config, bordergate

PER_CLIENT = 12


def send(url: str, ids: list[str], worker: int) -> None:
    client = openai.OpenAI(base_url=f"{url}/v1", api_key=DEMO_KEY, max_retries=0, timeout=20)
    for n in range(PER_CLIENT):
        if n % 3 == 2:
            stream = client.chat.completions.create(
                model="gpt-4o-mini",
                messages=[{"role": "user", "content": f"w{worker} n{n}\n@emulator chunks=3"}],
                stream=True,
            )
            for _ in stream:
                pass
            ids.append(stream.response.headers["x-request-id"])
        else:
            raw = client.chat.completions.with_raw_response.create(
                model="deepseek-chat", messages=[{"role": "user", "content": f"w{worker} n{n}"}]
            )
            raw.parse()
            ids.append(raw.headers["x-request-id"])


def test_two_gateways_one_postgresql_chain(pg_url: str, tmp_path: Path) -> None:
    keygen = bordergate("audit", "keygen", "--out-dir", str(tmp_path / "keys"))
    assert keygen.returncode == 0, keygen.stderr
    audit = {
        "database": pg_url,
        "signing_key": str(tmp_path / "keys" / "audit-signing.key"),
        "public_key": str(tmp_path / "keys" / "audit-signing.pub"),
        "checkpoint_every_events": 5,
    }
    ids: dict[str, list[str]] = {"a": [], "b": []}
    with emulator() as emu:
        configs = {}
        for name in ids:
            (tmp_path / name).mkdir()
            configs[name] = audit_config(tmp_path / name, emu, audit)
        with gateway(configs["a"]) as url_a, gateway(configs["b"]) as url_b:
            urls = {"a": url_a, "b": url_b}
            threads = [
                threading.Thread(target=send, args=(urls[name], ids[name], i))
                for i, name in enumerate(["a", "b", "a", "b"])
            ]
            for t in threads:
                t.start()
            for t in threads:
                t.join(120)
    assert len(ids["a"]) == len(ids["b"]) == 2 * PER_CLIENT
    with psycopg.connect(pg_url) as conn:
        rows = conn.execute("SELECT seq, event FROM audit_events ORDER BY seq").fetchall()
        sizes = [r[0] for r in conn.execute("SELECT size FROM audit_checkpoints ORDER BY size")]
    assert [r[0] for r in rows] == list(range(1, len(rows) + 1))  # dense
    logged = [json.loads(r[1])["request_id"] for r in rows]
    assert sorted(logged) == sorted(ids["a"] + ids["b"])  # both replicas, once each
    assert sizes and len(set(sizes)) == len(sizes)
    for config in configs.values():
        verify = bordergate("audit", "verify", "--config", str(config))
        assert verify.returncode == 0, verify.stdout + verify.stderr
        assert f"OK: {len(rows)} events" in verify.stdout
