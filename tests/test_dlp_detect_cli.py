"""`bordergate dlp scan`: JSON and JSONL output, offsets only, config from the dlp: key."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import pytest

from bordergate.cli import main

TOKEN = "ghp_" + "k3J9xQ2mVb7RtL5nWc8ZpF1sHd4YgA6eUo0i"


def run(argv: list[str], stdin: str, monkeypatch: pytest.MonkeyPatch) -> str:
    out = io.BytesIO()

    class _Out:
        buffer = out

    monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    monkeypatch.setattr(sys, "stdout", _Out())
    assert main(argv) == 0
    return out.getvalue().decode()


def test_json_prints_spans_never_values(monkeypatch: pytest.MonkeyPatch) -> None:
    text = f"token {TOKEN} mail bob@corp.io"
    out = run(["dlp", "scan", "-", "--json"], text, monkeypatch)
    assert TOKEN not in out and "bob@corp.io" not in out
    got = json.loads(out)
    assert [(d["class"], d["rule"], text[d["start"] : d["end"]]) for d in got] == [
        ("secret", "github-pat", TOKEN),
        ("personal_data", "email", "bob@corp.io"),
    ]


def test_jsonl_with_config(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    cfg = tmp_path / "gw.yaml"
    cfg.write_text(
        "server: {port: 1}\ndlp:\n  future_key: 1\n  dictionaries:\n    code: [Nightjar]\n"
    )
    rows_in = [{"id": "a", "text": "Nightjar ships"}, {"id": 2, "text": "ok"}]
    lines = "\n".join(json.dumps(r) for r in rows_in)
    out = run(["dlp", "scan", "--config", str(cfg), "--jsonl"], lines + "\n", monkeypatch)
    rows = [json.loads(x) for x in out.splitlines()]
    assert rows == [
        {
            "id": "a",
            "findings": [
                {"class": "confidential", "rule": "dictionary-code", "start": 0, "end": 8}
            ],
        },
        {"id": 2, "findings": []},
    ]


def test_file_argument(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    f = tmp_path / "t.txt"
    f.write_text("ip 10.1.2.3", encoding="utf-8")
    out = run(["dlp", "scan", str(f)], "", monkeypatch)
    assert json.loads(out) == [{"class": "personal_data", "rule": "ipv4", "start": 3, "end": 11}]
