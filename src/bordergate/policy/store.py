"""The current policy engine, swapped atomically on reload.

Readers take `store.engine` once per request and keep that reference, so a reload never changes
the policy under an in-flight request. A new policy set that fails to load or validate leaves
the current engine in place, and `reload()` says why (the server logs it).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path

from bordergate.policy.engine import PolicyEngine, PolicyError


class PolicyStore:
    """Holds the engine built from `paths`; `reload()` re-reads them."""

    def __init__(self, paths: Sequence[str | Path], engine: PolicyEngine | None = None):
        self.paths = tuple(str(p) for p in paths)
        self._lock = threading.Lock()
        self.engine: PolicyEngine = engine or PolicyEngine.from_files(self.paths)
        self.generation = 1

    def reload(self) -> tuple[bool, str]:
        """Re-read the policy files; swap on success, keep the old engine on error."""
        with self._lock:
            try:
                new = PolicyEngine.from_files(self.paths)
            except PolicyError as exc:
                return False, f"policy reload rejected, keeping generation {self.generation}: {exc}"
            self.engine = new  # a single reference assignment: atomic for readers
            self.generation += 1
            count = len(new.policies)
            return True, f"policy generation {self.generation} loaded ({count} policies)"
