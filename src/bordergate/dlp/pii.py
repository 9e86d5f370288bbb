"""Personal data detector: e-mail, phones, PRC resident IDs, payment cards, IBAN, IP, US SSN.

Every family has a cheap character prefilter (no '@' -> no e-mail scan) and a structural
validator (Luhn, MOD 11-2, mod 97, valid dates and number ranges), which is what separates a
card number from an order number. Boundaries are ASCII lookarounds, never `\\b`: `\\b` treats
CJK characters as word characters, so `电话13812345678` would hide the number.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterable, Iterator
from datetime import date
from itertools import chain

from bordergate.dlp import deadline, prefilter
from bordergate.dlp.rules_checks import luhn_ok
from bordergate.dlp.spans import DisjointSpans
from bordergate.dlp.types import Finding
from bordergate.dlp.utf8 import utf8

PERSONAL = "personal_data"

# --- e-mail -------------------------------------------------------------------------------

_EMAIL_LOCAL = re.compile(r"[A-Za-z0-9._%+\-]{1,64}$")
_EMAIL_DOMAIN = re.compile(
    r"(?:[A-Za-z0-9](?:[A-Za-z0-9\-]{0,61}[A-Za-z0-9])?\.)+([A-Za-z]{2,24})(?![A-Za-z0-9\-])"
)
_FILE_TLDS = frozenset(
    "png jpg jpeg gif svg webp js ts py css html json yaml yml md txt lock sh go rs java".split()  # noqa: SIM905
)


#: Top-level domains tried first when two addresses are glued together (`a@x.comb@y.de`):
#: the longest known TLD that starts the glued label ends the first address.
_GLUE_TLDS = sorted(
    [
        "com",
        "org",
        "net",
        "edu",
        "gov",
        "mil",
        "int",
        "info",
        "biz",
        "name",
        "pro",
        "mobi",
        "app",
        "dev",
        "io",
        "ai",
        "co",
        "cloud",
        "tech",
        "online",
        "site",
        "shop",
        "xyz",
        "top",
        "email",
    ],
    key=len,
    reverse=True,
)


def _glued_split(text: str, tld_start: int, at: int) -> int:
    """Where the first of two glued addresses ends: inside the label `text[tld_start:at]`."""
    label = text[tld_start:at].lower()
    for tld in _GLUE_TLDS:
        if label.startswith(tld) and len(label) > len(tld):
            return tld_start + len(tld)
    return tld_start + 2 if at - tld_start > 2 else -1  # a two-letter country code


# Google Cloud service accounts (`name@project.iam.gserviceaccount.com`): machine identities,
# not people; a GCS signed URL names one in `X-Goog-Credential` / `GoogleAccessId`.
_MACHINE_DOMAIN = "gserviceaccount.com"


def _emails(text: str, out: list[Finding]) -> None:
    pos = text.find("@")
    glued_end = -1  # where a glued previous address really ended (the next local part starts)
    step = 0
    while pos != -1:
        step += 1
        if not step & (deadline.EVERY - 1):
            deadline.check()
        m = _EMAIL_LOCAL.search(text, max(0, pos - 64, glued_end), pos)
        d = _EMAIL_DOMAIN.match(text, pos + 1)
        glued_end = -1
        if m and d and d.group(1).lower() not in _FILE_TLDS:
            start = m.start()
            local = m.group(0)
            prev = text[start - 1] if start else ""
            end = d.end()
            if end < len(text) and text[end] == "@":
                # Two addresses with nothing between them: the domain ran into the next
                # local part. Split inside the last label, or cover both as one span.
                split = _glued_split(text, d.start(1), end)
                if split != -1:
                    end = glued_end = split
            if (
                prev not in (":", "/")
                and not local.startswith(".")
                and not local.endswith(".")
                and not _machine_domain(text, d.start(), end)
            ):
                out.append(Finding(PERSONAL, "email", start, end))
        pos = text.find("@", pos + 1)


def _machine_domain(text: str, start: int, end: int) -> bool:
    """Whether the domain `text[start:end]` is a service-account domain (or a subdomain)."""
    size = len(_MACHINE_DOMAIN)
    if end - start < size or text[end - size : end].lower() != _MACHINE_DOMAIN:
        return False
    return end - start == size or text[end - size - 1] == "."


# --- numbers --------------------------------------------------------------------------------

_CN_MOBILE = re.compile(
    r"(?<![0-9A-Za-z+])(?:(?:\+|00)86[\s\-]?)?1[3-9]\d(?:\d{8}|[\s\-]\d{4}[\s\-]\d{4})(?![0-9])"
)
_PHONE = re.compile(
    r"(?<![0-9A-Za-z_.\-+/#])"
    r"(?:(?:\+|00)\d{1,3}[\s.\-]{0,2})?(?:\(\d{1,4}\)[\s.\-]?)?"
    r"\d{1,12}(?:[ .\-]{1,2}\d{1,8}){0,5}"
    r"(?:\s?(?:x|ext\.?)\s?\d{1,5})?"
    r"(?![0-9A-Za-z_]|[.\-]\d)"
)
_PRC_ID = re.compile(
    r"(?<![0-9A-Za-z])[1-9]\d{5}(?:18|19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\d{3}[\dXx](?![0-9A-Za-z])"
)
# Not after `+`: that is an international phone number (`+49 151 12345678` passes Luhn).
_CARD = re.compile(r"(?<![0-9A-Za-z\-.+])\d(?:[ \-]?\d){11,18}(?![0-9A-Za-z]|[\-.]\d)")
_IBAN = re.compile(
    r"(?<![A-Za-z0-9])[A-Za-z]{2}\d{2}(?:[A-Za-z0-9]{11,30}|(?: ?[A-Za-z0-9]{4}){2,7}"
    r"(?: ?[A-Za-z0-9]{1,4})?)(?![A-Za-z0-9])"
)
# "version 1.2.3.4", "ver 1.2.3.4", "v1.2.3.4": a whole word right before the dotted quad
# (so "server 10.0.0.5" is still an address).
_VERSION_WORD = re.compile(r"(?i)(?<![a-z])(?:version|ver|v)[\s:=]*$")
_IPV4 = re.compile(
    r"(?<![0-9A-Za-z.])(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
    r"(?![0-9]|\.\d)"
)
_IPV6 = re.compile(
    r"(?<![0-9A-Za-z:.])(?:[0-9A-Fa-f]{0,4}+:){2,7}+[0-9A-Fa-f]{0,4}+(?![0-9A-Za-z:])"
)
_SSN = re.compile(r"(?<![0-9A-Za-z\-])(\d{3})([\- ])(\d{2})\2(\d{4})(?![0-9A-Za-z]|-\d)")
_SSN_BARE = re.compile(r"(?i:ssn|social security)[^\n\d]{0,20}(?<!\d)(\d{3})(\d{2})(\d{4})(?!\d)")

_PRC_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_PRC_CHECK = "10X98765432"


def prc_id_ok(value: str) -> bool:
    """18-digit resident ID: valid birth date and ISO 7064 MOD 11-2 check character."""
    if len(value) != 18:
        return False
    try:
        born = date(int(value[6:10]), int(value[10:12]), int(value[12:14]))
    except ValueError:
        return False
    if born > date.today() or born.year < 1880:
        return False
    total = sum(int(c) * w for c, w in zip(value[:17], _PRC_WEIGHTS, strict=True))
    return _PRC_CHECK[total % 11] == value[17].upper()


def card_ok(digits: str) -> bool:
    """Luhn plus a known issuer prefix with a length that issuer uses."""
    n = len(digits)
    if not 12 <= n <= 19 or not luhn_ok(digits) or len(set(digits)) < 4:
        return False
    p2, p4 = int(digits[:2]), int(digits[:4])
    if digits[0] == "4":
        return n in (13, 16, 19)
    if 51 <= p2 <= 55 or 2221 <= p4 <= 2720:
        return n == 16
    if p2 in (34, 37):
        return n == 15
    if digits.startswith(("6011", "65")) or 644 <= int(digits[:3]) <= 649:
        return 16 <= n <= 19
    if p2 == 35:
        return 16 <= n <= 19
    if p4 in (2131, 1800):
        return n == 15
    if 300 <= int(digits[:3]) <= 305 or p2 in (36, 38, 39):
        return 14 <= n <= 19
    if p2 == 62 or p2 == 81:
        return 16 <= n <= 19
    if p2 in (50, 56, 57, 58, 63, 67, 69) or p4 in (6304, 6759, 6761, 6762, 6763):
        return 12 <= n <= 19
    return p2 == 60 and 16 <= n <= 19


_IBAN_LENGTHS = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22,
    "BR": 29, "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DK": 18, "DO": 28,
    "EE": 20, "EG": 29, "ES": 24, "FI": 18, "FO": 18, "FR": 27, "GB": 22, "GE": 22, "GI": 23,
    "GL": 18, "GR": 27, "GT": 28, "HR": 21, "HU": 28, "IE": 22, "IL": 23, "IQ": 23, "IS": 26,
    "IT": 27, "JO": 30, "KW": 30, "KZ": 20, "LB": 28, "LC": 32, "LI": 21, "LT": 20, "LU": 20,
    "LV": 21, "MC": 27, "MD": 24, "ME": 22, "MK": 19, "MR": 27, "MT": 31, "MU": 30, "NL": 18,
    "NO": 15, "PK": 24, "PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22, "SA": 24,
    "SC": 31, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "ST": 25, "SV": 28, "TL": 23, "TN": 24,
    "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20,
}  # fmt: skip


def iban_ok(value: str) -> bool:
    """Country length table plus the ISO 13616 mod-97 check."""
    v = value.replace(" ", "").upper()
    if _IBAN_LENGTHS.get(v[:2]) != len(v) or not v[2:4].isdigit():
        return False
    moved = v[4:] + v[:4]
    return int("".join(str(int(c, 36)) for c in moved)) % 97 == 1


def ssn_ok(area: str, group: str, serial: str) -> bool:
    """US SSN ranges: area not 000, 666 or 9xx; group and serial not zero."""
    return area not in ("000", "666") and area[0] != "9" and group != "00" and serial != "0000"


_DATE_LIKE = re.compile(
    r"^(?:(?:19|20)\d\d[\-./ ](?:0?[1-9]|1[0-2])[\-./ ](?:0?[1-9]|[12]\d|3[01])|"
    r"(?:0?[1-9]|[12]\d|3[01])[\-./ ](?:0?[1-9]|1[0-2])[\-./ ](?:19|20)\d\d|"
    r"(?:0?[1-9]|1[0-2])[\-./ ](?:0?[1-9]|[12]\d|3[01])[\-./ ](?:19|20)\d\d)$"
)
_DATE_PREFIX = re.compile(
    r"^(?:19|20)\d\d[\-./](?:0?[1-9]|1[0-2])[\-./](?:0?[1-9]|[12]\d|3[01])(?!\d)"
)
_SSN_SHAPE = re.compile(r"^\d{3}-\d{2}-\d{4}$")
_PHONE_CONTEXT = re.compile(
    r"(?i)(?:phone|tel|mobile|cell|fax|call|电话|手机|联系|contact|whatsapp)"
)


def _phone_ok(text: str, value: str, start: int) -> bool:
    digits = re.sub(r"\D", "", value.split("x")[0].split("ext")[0])
    n = len(digits)
    if not 7 <= n <= 15:
        return False
    if _DATE_LIKE.match(value) or len(set(digits)) < 3 or _SSN_SHAPE.match(value):
        return False
    if _DATE_PREFIX.match(value):
        return False
    seps = re.findall(r"[\s.\-()]+", value.strip())
    has_plus = value.startswith(("+", "00"))
    if not seps:
        if has_plus:
            return True
        # A bare digit run is a phone only with context or as a 10-digit NANP-like number.
        ctx = text[max(0, start - 30) : start]
        return bool(_PHONE_CONTEXT.search(ctx)) or (n == 10 and digits[0] in "23456789")
    groups = re.findall(r"\d+", value.split("x")[0])
    if "." in value and not has_plus and any(len(g) < 2 for g in groups):
        return False  # version strings
    if len(groups) >= 2 and all(len(g) == 4 for g in groups) and n >= 12:
        return False  # card-like grouping
    if len(groups) == 2 and " " in value and not has_plus and "(" not in value:
        # "370 3911 Fourth Avenue", "Apt. 675 62314": house numbers, not phones.
        after = text[start + len(value) : start + len(value) + 3].lstrip(" ")
        before = text[max(0, start - 7) : start].lower()
        if (after[:1].isalpha() and after[:1].isupper()) or "apt" in before or "suite" in before:
            return False
    return max(len(g) for g in groups) <= 8


#: Cheap first pass: runs of digits with separators, at least 7 characters long. Every number
#: family above is only searched in small regions around these candidates.
_NUM_CANDIDATE = re.compile(r"[0-9][0-9 \-.()/]{5,}[0-9]")
#: The same candidates found by Hyperscan (a regex search tries every digit of a text in turn).
#: A candidate runs from the first to the last digit of a maximal run of `[0-9 \-.()/]`, when
#: that is at least 7 characters; this byte pattern reports each run whose first digit is
#: followed by 6 more run characters, once, 7 bytes after that digit, where `_NUM_CANDIDATE`
#: then matches or not.
_NUM_GATE = rb"(?:^|[^0-9 \-.()/])[ \-.()/]*[0-9][0-9 \-.()/]{6}"
_IPV6_CANDIDATE = re.compile(r":(?::|[0-9A-Fa-f]{1,4}:[0-9A-Fa-f]{0,4}:)")


def _regions(
    starts_ends: list[tuple[int, int]], n: int, before: int, after: int
) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for s, e in starts_ends:
        s, e = max(0, s - before), min(n, e + after)
        if out and s <= out[-1][1]:
            if e > out[-1][1]:
                out[-1] = (out[-1][0], e)
        else:
            out.append((s, e))
    return out


_SEPARATORS = b" -.()/"


#: A candidate that is an ISO date (`2026-11-24`), or a date and hour (`2026-11-24 04`, as in
#: `2026-11-24 04:20:25`), not preceded by a letter: every log line has one, and none can yield
#: a finding. The checks in `_numbers` that such a candidate reaches: 8 or 10 digits rule out
#: cards, IDs, SSNs (9) and mobiles (11+); no `.` rules out IPv4; no letter before it rules out
#: IBAN; and it starts with a date (`_DATE_PREFIX`), which rules out phones.
_INERT_DATE = re.compile(
    rb"(?:19|20)\d\d-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12]\d|3[01])(?: \d\d)?(?![0-9 \-.()/])"
)
_LETTERS = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")


def _inert(data: bytes, p: int) -> bool:
    """Whether the candidate whose first digit is byte `p` is an `_INERT_DATE`."""
    if p > 0:
        before = data[p - 1]
        if before >= 0x80 or before in _LETTERS:  # a letter (maybe non-ASCII): IBANs
            return False
    return _INERT_DATE.match(data, p) is not None


def _gated_candidates(text: str, gate: prefilter.MatchEnds) -> Iterator[re.Match[str]]:
    """`_NUM_CANDIDATE.finditer(text)`, with the attempts at every digit done by Hyperscan,
    less the dates that cannot yield a finding."""
    view = utf8(text)
    data = view.data
    firsts = [p for p in (to - 7 for to in gate.ends(data)[0]) if not _inert(data, p)]
    for pos in view.char_offsets(firsts):
        m = _NUM_CANDIDATE.match(text, pos)
        if m is not None:
            yield m


def _numbers(text: str, out: list[Finding], candidates: Iterable[re.Match[str]]) -> None:
    """Each candidate's shape (digit count, separators) decides which families are tried.

    Each family searches a small window around the candidate, and only a match that overlaps
    the candidate counts: a window can end inside the next number, where a truncated match
    (lookaheads cannot see past the window) would otherwise claim that number's first digits
    and shut out its real finding. A candidate may hold several numbers (spaces are part of
    formatted numbers: `13812345678 4012888888881881` is one candidate); when its digits are
    too many for one number, its long unformatted numbers are examined on their own as well.
    """
    # Kept spans never overlap; overlap tests are by bisection (a linear scan here was
    # quadratic in the number of numbers in a log paste).
    taken = DisjointSpans()
    cs = ce = 0  # the candidate being examined

    def add_any(rule: str, s: int, e: int) -> None:
        if taken.add_if_free(s, e):
            out.append(Finding(PERSONAL, rule, s, e))

    def add(rule: str, s: int, e: int) -> None:
        if s < ce and e > cs:  # else beyond the candidate: its own finds it whole
            add_any(rule, s, e)

    n = len(text)
    inner: list[tuple[int, int]] = []  # long numbers inside multi-number candidates
    for step, (cs, ce) in enumerate(chain((m.span() for m in candidates), inner)):
        if not step & (deadline.EVERY - 1):
            deadline.check()
        raw = text[cs:ce]
        data = raw.encode()  # a candidate is ASCII
        nd = len(data.translate(None, _SEPARATORS))
        if nd == len(raw) and nd < 9:
            continue  # a bare short number: an amount, an id, a port
        rs, re_ = max(0, cs - 5), min(n, ce + 12)
        if nd >= 17:
            for m in _PRC_ID.finditer(text, rs, re_):
                if prc_id_ok(m.group(0)):
                    add("prc-resident-id", *m.span())
        if cs >= 2 and text[cs - 1].isalpha():  # IBANs start with letters before the digits
            ws, we = max(0, cs - 34), min(n, ce + 40)
            # IBANs mix letters and digits; their windows are wide on purpose.
            for m in _IBAN.finditer(text, ws, we):
                _iban_match(m, add_any)
            for m in _IBAN_GLUED.finditer(text, max(0, cs - 70), min(n, ce + 70)):
                _iban_glued(m, add_any)
        if 12 <= nd <= 27:  # a card, perhaps with its expiry or CVV beside it
            for m in _CARD.finditer(text, rs, re_):
                found = _card_span(m)
                if found is not None:
                    add("payment-card", *found)
        if nd > 19:  # several numbers in one run: a written card may straddle those matches
            for s, e in _cards_among_numbers(raw):
                add("payment-card", cs + s, cs + e)
        if nd == 9:
            for m in _SSN.finditer(text, rs, re_):
                if ssn_ok(m.group(1), m.group(3), m.group(4)):
                    add("us-ssn", *m.span())
            for m in _SSN_BARE.finditer(text, max(0, cs - 30), re_):
                if ssn_ok(m.group(1), m.group(2), m.group(3)):
                    add("us-ssn", m.start(1), m.end(3))
        if "." in raw and nd <= 12:
            for m in _IPV4.finditer(text, rs, re_):
                s = m.start()
                if _VERSION_WORD.search(text[max(0, s - 9) : s]):
                    continue
                add("ipv4", *m.span())
        if nd >= 11:
            for m in _CN_MOBILE.finditer(text, rs, re_):
                add("phone-cn-mobile", *m.span())
        if 6 <= nd <= 20 and not _DATE_PREFIX.match(raw):
            for m in _PHONE.finditer(text, rs, re_):
                value = m.group(0).rstrip(" .-")
                if _phone_ok(text, value, m.start()):
                    add("phone", m.start(), m.start() + len(value))
        if nd > 20 and _ELEVEN_DIGITS in data.translate(_DIGITS_AS_D):
            # Examined after every candidate; those already found whole are skipped.
            inner += (
                (cs + m.start(), cs + m.end())
                for m in _BARE_LONG.finditer(raw)
                if not taken.overlaps(cs + m.start(), cs + m.end())
            )


#: Digit groups of the shapes cards are written in: bare, 4-4-4-4, Amex 4-6-5, 4-4-4-4-3.
_CARD_GROUPS = {(4, 4, 4, 4), (4, 6, 5), (4, 4, 4, 4, 3)}
_DIGIT_RUN = re.compile(r"\d+")


def _card_span(m: re.Match[str]) -> tuple[int, int] | None:
    """Where `_CARD`'s match holds a card, if it does.

    The pattern is greedy, so a card written next to another number joins it in one match
    (`4539578763621486 12/29`, `qty 17 4539 5787 6362 1486`); when the whole match is no card,
    each run of its digit groups shaped like a written card is tried instead.
    """
    value = m.group(0)
    digits = value.replace(" ", "").replace("-", "")
    seps = len(value) - len(digits)
    if seps in (0, 2, 3, 4) and card_ok(digits):
        return m.span()
    if not seps or len(digits) <= 12:  # a card in a part needs more digits than it has
        return None
    groups = [g.span() for g in _DIGIT_RUN.finditer(value)]
    sizes = [e - s for s, e in groups]
    for i in range(len(groups)):
        for j in range(len(groups), i, -1):  # longest first
            shape = tuple(sizes[i:j])
            if (len(shape) == 1 and 12 <= shape[0] <= 19) or shape in _CARD_GROUPS:
                s, e = groups[i][0], groups[j - 1][1]
                if card_ok(value[s:e].replace(" ", "").replace("-", "")):
                    return m.start() + s, m.start() + e
    return None


#: A card written in groups (4-4-4-4, 4-4-4-4-3, Amex 4-6-5, one kind of separator), found at
#: every group start (a lookahead, so a failed try does not hide a card that starts inside it).
_GROUPED_CARD = re.compile(
    r"(?<!\d)(?=(\d{4}([ \-])(?:\d{4}\2\d{4}\2\d{4}|\d{6}\2\d{5}))(?:\2(\d{3}))?(?!\d))"
)


def _cards_among_numbers(run: str) -> Iterator[tuple[int, int]]:
    """Cards written in groups inside a run of several numbers, as spans of `run`.

    `_CARD` is greedy, so in `13812345678 4539 5787 6362 1486` its first match takes the
    mobile number and the card's first group, and the rest is no card. Here every place a
    card-shaped group sequence starts is tried on its own (at C speed: long numeric dumps
    are full of such runs).
    """
    end = 0
    for m in _GROUPED_CARD.finditer(run):
        s, e = m.span(1)
        if s < end:
            continue
        digits = m.group(1).replace(m.group(2), "")
        if m.group(3) is not None and card_ok(digits + m.group(3)):  # 19 digits, 4-4-4-4-3
            e = m.end(3)
        elif not card_ok(digits):
            continue
        end = e
        yield s, e


#: An unformatted number long enough to be a card, a mobile number or an id on its own.
_BARE_LONG = re.compile(r"(?<![0-9\-.])\d{11,19}(?![0-9\-.])")
# Whether a candidate has 11 digits in a row at all, at C speed (a candidate has no `d`).
_DIGITS_AS_D = bytes.maketrans(b"0123456789", b"d" * 10)
_ELEVEN_DIGITS = b"d" * 11


def _ipv6(text: str, out: list[Finding]) -> None:
    cands = [m.span() for m in _IPV6_CANDIDATE.finditer(text)]
    for rs, re_ in _regions(cands, len(text), 40, 40):
        for m in _IPV6.finditer(text, rs, re_):
            value = m.group(0)
            if value.count(":") < 2 or sum(c.isalnum() for c in value) < 6:
                continue
            try:
                ipaddress.IPv6Address(value)
            except ValueError:
                continue
            if "::" in value and len([g for g in value.split(":") if g]) < 3:
                continue
            out.append(Finding(PERSONAL, "ipv6", *m.span()))


#: Two or more IBANs with nothing between them (`DE89…3000GB82…5432`), unspaced.
_IBAN_GLUED = re.compile(r"(?<![A-Za-z0-9])[A-Z]{2}\d{2}[A-Z0-9]{26,}(?![A-Za-z0-9])")


def _iban_glued(m: re.Match[str], add: Callable[[str, int, int], None]) -> None:
    """Walk a glued run with the country length table: each IBAN must check out in turn."""
    run, p = m.group(0), 0
    while p < len(run):
        length = _IBAN_LENGTHS.get(run[p : p + 2], 0)
        if not length or not iban_ok(run[p : p + length]):
            return
        add("iban", m.start() + p, m.start() + p + length)
        p += length


def _iban_match(m: re.Match[str], add: Callable[[str, int, int], None]) -> None:
    value = m.group(0)
    # A spaced IBAN may have swallowed a following word: retry at each group boundary.
    while value:
        if iban_ok(value):
            add("iban", m.start(), m.start() + len(value))
            return
        cut = value.rfind(" ")
        value = value[:cut] if cut > 0 else ""


class PiiDetector:
    """Detects personal data; pure and thread-safe."""

    def __init__(
        self, disabled: frozenset[str] = frozenset(), use_hyperscan: bool | None = None
    ) -> None:
        """`use_hyperscan`: None = find number candidates with it when installed."""
        self.disabled = disabled
        if use_hyperscan is None:
            use_hyperscan = prefilter.available()
        self._gate = prefilter.MatchEnds([_NUM_GATE]) if use_hyperscan else None

    def scan(self, text: str) -> list[Finding]:
        """Personal-data findings in `text` (unordered; the scanner sorts and dedupes)."""
        out: list[Finding] = []
        if "@" in text:
            _emails(text, out)
        if ":" in text:
            _ipv6(text, out)
        gate = self._gate
        cands = _NUM_CANDIDATE.finditer(text) if gate is None else _gated_candidates(text, gate)
        _numbers(text, out, cands)
        if self.disabled:
            out = [f for f in out if f.rule not in self.disabled]
        return out
