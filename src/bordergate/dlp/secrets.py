"""Credential detector: one Aho-Corasick keyword pass, then each rule's regex near its hits.

Running 100+ regexes over every prompt would cost far more than the whole proxy budget; almost
every credential format has a literal anchor (a prefix like `ghp_`, or a name like `password`),
so one automaton pass finds the few places worth looking at and each rule's pattern only runs
in a small window around its own keywords.
"""

from __future__ import annotations

from collections.abc import Iterable

import ahocorasick

from bordergate.dlp.rules_checks import entropy_ok, is_placeholder
from bordergate.dlp.rules_secrets import SECRET_RULES, SecretRule
from bordergate.dlp.types import Finding

SECRET = "secret"


def _lower_same_length(text: str) -> str:
    """Lower-case without changing offsets (a few characters lower-case to two)."""
    low = text.lower()
    if len(low) == len(text):
        return low
    return "".join(c if len(c.lower()) != 1 else c.lower() for c in text)


class SecretDetector:
    """Detects credentials; pure and thread-safe after construction."""

    def __init__(self, rules: Iterable[SecretRule] = SECRET_RULES, disabled: Iterable[str] = ()):
        off = set(disabled)
        self.rules: tuple[SecretRule, ...] = tuple(r for r in rules if r.id not in off)
        auto = ahocorasick.Automaton()
        index: dict[str, list[int]] = {}
        for i, rule in enumerate(self.rules):
            for kw in rule.keywords:
                index.setdefault(kw.lower(), []).append(i)
        for kw, ids in index.items():
            auto.add_word(kw, (len(kw), tuple(ids)))
        self._auto = auto
        self._empty = not index
        if index:
            auto.make_automaton()

    def scan(self, text: str) -> list[Finding]:
        """All credential findings in `text`, most specific rule first on overlap."""
        if self._empty or not text:
            return []
        windows: dict[int, list[tuple[int, int]]] = {}
        n = len(text)
        rules = self.rules
        for end, (klen, ids) in self._auto.iter(_lower_same_length(text)):
            start = end - klen + 1
            for i in ids:
                rule = rules[i]
                windows.setdefault(i, []).append(
                    (max(0, start - rule.before), min(n, start + rule.after))
                )
        if not windows:
            return []
        found: list[tuple[int, int, int, str]] = []  # (rule index, start, end, rule id)
        for i in sorted(windows):
            rule = rules[i]
            for ws, we in _merge(windows[i]):
                for m in rule.compiled.finditer(text, ws, we):
                    if not _accept(rule, text, m):
                        continue
                    s, e = m.span("v") if "v" in rule.compiled.groupindex else m.span()
                    found.append((i, s, e, rule.id))
        return _resolve(found)


def _merge(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    spans.sort()
    out = [spans[0]]
    for s, e in spans[1:]:
        ls, le = out[-1]
        if s <= le:
            if e > le:
                out[-1] = (ls, e)
        else:
            out.append((s, e))
    return out


def _accept(rule: SecretRule, text: str, m: object) -> bool:
    import re as _re

    assert isinstance(m, _re.Match)
    value = m.group("v") if "v" in rule.compiled.groupindex else m.group(0)
    if rule.placeholder_check and is_placeholder(value):
        return False
    if rule.min_entropy and not entropy_ok(value, rule.min_entropy):
        return False
    return rule.check is None or rule.check(text, m)


def _resolve(found: list[tuple[int, int, int, str]]) -> list[Finding]:
    """Drop findings that overlap an earlier (more specific) rule's finding."""
    found.sort()
    kept: list[tuple[int, int, str]] = []
    for _, s, e, rid in found:
        if any(s < ke and ks < e for ks, ke, _ in kept):
            continue
        kept.append((s, e, rid))
    kept.sort()
    return [Finding(SECRET, rid, s, e) for s, e, rid in kept]
