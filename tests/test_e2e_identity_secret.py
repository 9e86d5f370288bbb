"""`identity.server_secret_file`: concurrent starters agree on one generated secret.

`server.workers: N`, several replicas on one host, or `bordergate keys create` next to a
starting server all resolve the secret at the same moment; each must end with the same secret
(else keys issued by one would be unknown to the others), and none may fail or read a
half-written file.
"""

from __future__ import annotations

import stat
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from bordergate.identity.config import IdentityConfig, with_server_secret


@pytest.fixture
def fast_switching() -> Iterator[None]:
    """Switch threads as often as possible so the starters really interleave."""
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        yield
    finally:
        sys.setswitchinterval(old)


def _race(path: Path, starters: int) -> list[str | BaseException]:
    config = IdentityConfig(server_secret_file=str(path))
    barrier = threading.Barrier(starters)
    results: list[str | BaseException] = [""] * starters

    def start(i: int) -> None:
        barrier.wait()
        try:
            results[i] = with_server_secret(config).server_secret
        except BaseException as exc:  # collected and asserted on below
            results[i] = exc

    threads = [threading.Thread(target=start, args=(i,)) for i in range(starters)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    return results


def test_concurrent_starters_share_one_generated_secret(
    tmp_path: Path, fast_switching: None
) -> None:
    for round_ in range(20):
        path = tmp_path / f"round{round_}" / "server-secret"
        results = _race(path, 6)
        errors = [r for r in results if isinstance(r, BaseException)]
        assert not errors, errors
        assert len(set(results)) == 1
        secret = results[0]
        assert isinstance(secret, str) and len(secret) >= 32
        assert path.read_text().strip() == secret
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert [p.name for p in path.parent.iterdir()] == ["server-secret"]  # no temp files


def test_existing_secret_file_is_used_as_is(tmp_path: Path) -> None:
    path = tmp_path / "server-secret"
    path.write_text("an-operator-chosen-secret-value\n")
    config = with_server_secret(IdentityConfig(server_secret_file=str(path)))
    assert config.server_secret == "an-operator-chosen-secret-value"
