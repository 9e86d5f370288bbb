"""The current policy engine, swapped atomically on reload.

Readers take `store.engine` once per request and keep that reference, so a reload never changes
the policy under an in-flight request. A new policy set that fails to load or validate leaves
the current engine in place, and `reload()` says why (the server logs it).
"""

from __future__ import annotations

import threading
from collections import Counter
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
            emptied = _emptied(self.engine, new)
            if emptied:
                # An editor that truncates before it writes, or a write cut short, leaves a
                # file that parses but has lost its rules: keep the ones in force.
                return False, (
                    f"policy reload rejected, keeping generation {self.generation}: "
                    f"{', '.join(emptied)} now holds no policies (still being written?); "
                    "to lift its rules, leave a permit in it, or take it out of policy.files "
                    "and restart"
                )
            self.engine = new  # a single reference assignment: atomic for readers
            self.generation += 1
            count = len(new.policies)
            return True, f"policy generation {self.generation} loaded ({count} policies)"


def _emptied(old: PolicyEngine, new: PolicyEngine) -> list[str]:
    """The files that held policies in `old` and hold none in `new`."""
    before = Counter(p.source for p in old.policies.values())
    after = Counter(p.source for p in new.policies.values())
    return [source for source in before if after[source] == 0]
