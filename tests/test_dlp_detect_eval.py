"""The committed labelled corpus meets the accuracy targets (Bordergate only; no peers)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parent.parent


def _load_eval() -> ModuleType:
    spec = importlib.util.spec_from_file_location("dlp_eval", ROOT / "bench/dlp_eval.py")
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    sys.modules["dlp_eval"] = mod
    spec.loader.exec_module(mod)
    return mod


def test_corpus_targets() -> None:
    ev = _load_eval()
    samples = ev.load_corpus()
    assert len(samples) >= 1500
    metrics, lines, _ = ev.evaluate_bordergate(samples, ev.Scanner.from_config(ev.EVAL_CONFIG))
    for cls in ("secret", "personal_data", "confidential"):
        assert metrics[cls]["precision"] >= 0.95, (cls, metrics[cls])
        assert metrics[cls]["recall"] >= 0.95, (cls, metrics[cls])
    line = ev.line_metrics(samples, lines)
    assert line["precision"] >= 0.95 and line["recall"] >= 0.95


def test_presidio_recall_for_claimed_types() -> None:
    ev = _load_eval()
    if not ev.PRESIDIO.exists():
        import pytest

        pytest.skip("presidio-synth data not present")
    result = ev.evaluate_presidio(ev.Scanner.from_config(ev.EVAL_CONFIG))
    for etype, m in result.items():
        assert m["recall"] >= 0.95, (etype, m)
