"""The generated configuration reference matches the code (docs that match behaviour)."""

from __future__ import annotations

import subprocess
import sys

from tests.support import ROOT


def test_config_reference_is_current() -> None:
    result = subprocess.run(
        [sys.executable, "scripts/config_reference.py", "--check"], cwd=ROOT, check=False
    )
    assert result.returncode == 0, "run: python scripts/config_reference.py"
