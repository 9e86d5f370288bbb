"""Credential detector: one Aho-Corasick keyword pass, then each rule's regex near its hits.

Running 100+ regexes over every prompt would cost far more than the whole proxy budget; almost
every credential format has a literal anchor (a prefix like `ghp_`, or a name like `password`),
so one automaton pass finds the few places worth looking at and each rule's pattern only runs
in a small window around its own keywords.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

import ahocorasick

from bordergate.dlp import deadline, prefilter
from bordergate.dlp.markings import marking_hit
from bordergate.dlp.rules_checks import entropy_ok, is_placeholder
from bordergate.dlp.rules_secrets import SECRET_RULES, SecretRule
from bordergate.dlp.spans import DisjointSpans
from bordergate.dlp.types import Finding

SECRET = "secret"


def lower_same_length(text: str) -> str:
    """Lower-case without changing offsets (a few characters lower-case to two)."""
    low = text.lower()
    if len(low) == len(text):
        return low
    return "".join(c if len(c.lower()) != 1 else c.lower() for c in text)


#: Keyword payload: (keyword length, anchored rules, windowed rule indices, marking rule id).
_Payload = tuple[int, tuple[tuple[int, SecretRule], ...], tuple[int, ...], str | None]


class SecretDetector:
    """Detects credentials; pure and thread-safe after construction."""

    def __init__(
        self,
        rules: Iterable[SecretRule] = SECRET_RULES,
        disabled: Iterable[str] = (),
        terms: Mapping[str, str] | None = None,
        use_hyperscan: bool | None = None,
    ) -> None:
        """`terms` (lower-cased term -> rule id) are marking/dictionary terms folded into the
        same automaton, so one pass over the text serves both detectors. `use_hyperscan`:
        None = use it when installed (and every keyword folds case as ASCII); False = always
        the pure-Python automaton."""
        off = set(disabled)
        self.rules: tuple[SecretRule, ...] = tuple(r for r in rules if r.id not in off)
        auto = ahocorasick.Automaton()
        index: dict[str, list[int]] = {}
        for i, rule in enumerate(self.rules):
            kws = {kw.lower() for kw in rule.keywords}
            # A keyword that extends another keyword of the same rule would only repeat the
            # same anchored match at the same position: keep the shorter one.
            for kw in kws:
                if not any(o != kw and kw.startswith(o) for o in kws):
                    index.setdefault(kw, []).append(i)
        terms = dict(terms or {})
        words: list[tuple[str, _Payload]] = []
        for kw in sorted(set(index) | set(terms)):
            ids = index.get(kw, ())
            anchored = tuple((i, self.rules[i]) for i in ids if self.rules[i].anchored)
            windowed = tuple(i for i in ids if not self.rules[i].anchored)
            words.append((kw, (len(kw), anchored, windowed, terms.get(kw))))
        self._empty = not words
        self._pre: prefilter.Prefilter[_Payload] | None = None
        if use_hyperscan is None:
            use_hyperscan = prefilter.available()
        if use_hyperscan and not self._empty and all(prefilter.caseless_safe(w) for w, _ in words):
            self._pre = prefilter.Prefilter(words, [_follow(p) for _, p in words])
        for kw, payload in words:
            auto.add_word(kw, payload)
        self._auto = auto
        if not self._empty:
            auto.make_automaton()
        #: Whether `scan_lowered` needs a lower-cased copy (the pure-Python automaton does).
        self.needs_lower = self._pre is None

    def scan(self, text: str) -> list[Finding]:
        """All credential findings in `text`, most specific rule first on overlap."""
        if not text:
            return []
        return self.scan_lowered(text, lower_same_length(text) if self.needs_lower else text)

    def scan_lowered(self, text: str, low: str) -> list[Finding]:
        """`scan` with the lower-cased text supplied (the scanner lower-cases once; with
        Hyperscan `low` is not needed and may be `text` itself)."""
        if self._empty or not text:
            return []
        if self._pre is not None:
            return self.scan_hits(text, self._pre.run(text).hits)
        return self.scan_hits(text, self._auto.iter(low))

    def prefilter(self, text: str) -> prefilter.Prefiltered[_Payload] | None:
        """The one Hyperscan pass (keywords and the scanner's gates), or None without it."""
        return self._pre.run(text) if self._pre is not None else None

    def scan_hits(self, text: str, hits: Iterable[tuple[int, _Payload]]) -> list[Finding]:
        """Findings from keyword hits (end index, payload) found in `text`."""
        low = text  # marking boundaries only test ASCII word characters: case is irrelevant
        n = len(text)
        rules = self.rules
        found: list[tuple[int, int, int, str]] = []  # (rule index, start, end, rule id)
        windows: dict[int, list[tuple[int, int]]] = {}
        marks: list[Finding] = []
        for step, (end, (klen, anchored, windowed, term_rule)) in enumerate(hits):
            if not step & (deadline.EVERY - 1):
                deadline.check()
            start = end - klen + 1
            if term_rule is not None:
                hit = marking_hit(low, start, end + 1, term_rule)
                if hit is not None:
                    marks.append(hit)
            for i, rule in anchored:
                m = rule.compiled.match(text, start)
                if m is not None and _accept(rule, text, m):
                    s, e = m.span("v") if rule.has_value else m.span()
                    found.append((i, s, e, rule.id))
            for i in windowed:
                rule = rules[i]
                windows.setdefault(i, []).append(
                    (max(0, start - rule.before), min(n, start + rule.after))
                )
        for i, spans in windows.items():
            rule = rules[i]
            for ws, we in _merge(spans):
                deadline.check()
                for m in rule.compiled.finditer(text, ws, we):
                    if _accept(rule, text, m):
                        s, e = m.span("v") if rule.has_value else m.span()
                        found.append((i, s, e, rule.id))
        return (_resolve(found) if found else []) + marks


def _follow(payload: _Payload) -> str | None:
    """The prefilter's follow regex for a keyword: only when every use of the keyword is an
    anchored rule with a `follow` (a marking term or a windowed rule needs every hit)."""
    _, anchored, windowed, term_rule = payload
    if windowed or term_rule is not None or not anchored:
        return None
    follows = {rule.follow for _, rule in anchored}
    if None in follows:
        return None
    return "|".join(sorted(f for f in follows if f is not None))


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


def _accept(rule: SecretRule, text: str, m: re.Match[str]) -> bool:
    value = m.group("v") if rule.has_value else m.group(0)
    if rule.placeholder_check and is_placeholder(value):
        return False
    if rule.min_entropy and not entropy_ok(value, rule.min_entropy):
        return False
    return rule.check is None or rule.check(text, m)


def _resolve(found: list[tuple[int, int, int, str]]) -> list[Finding]:
    """Drop findings that overlap an earlier (more specific) rule's finding."""
    found.sort()
    taken = DisjointSpans()
    kept = [(s, e, rid) for _, s, e, rid in found if taken.add_if_free(s, e)]
    kept.sort()
    return [Finding(SECRET, rid, s, e) for s, e, rid in kept]
