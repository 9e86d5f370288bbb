"""Personal data: validated numbers found (also next to CJK text); bad checksums not."""

from __future__ import annotations

import pytest

from bordergate.dlp.pii import PiiDetector, card_ok, iban_ok, prc_id_ok

DET = PiiDetector()


def rules(text: str) -> list[tuple[str, str]]:
    return sorted((f.rule, text[f.start : f.end]) for f in DET.scan(text))


def test_email() -> None:
    assert rules("mail anna.kim@example-corp.com today") == [("email", "anna.kim@example-corp.com")]
    assert rules("联系邮箱li.wang@mail.cn谢谢") == [("email", "li.wang@mail.cn")]
    assert rules("@app.route('/x') and icon@2x.png") == []
    assert rules("redis://user:pw@cache.local/0") == []


def test_service_account_addresses_are_not_personal_data() -> None:
    # Google Cloud service accounts are machine identities; a look-alike domain is not one.
    assert rules("runs as deploy@my-proj.iam.gserviceaccount.com daily") == []
    assert rules("owner 1234-compute@developer.gserviceaccount.com") == []
    assert rules("ask bob@gserviceaccount.com.evil.io or amy@notgserviceaccount.com") == [
        ("email", "amy@notgserviceaccount.com"),
        ("email", "bob@gserviceaccount.com.evil.io"),
    ]


@pytest.mark.parametrize(
    "phone",
    ["13812345678", "+86 13812345678", "+86-13912345678", "138 1234 5678"],
)
def test_china_mobile_next_to_cjk(phone: str) -> None:
    assert rules(f"请联系{phone}确认") == [("phone-cn-mobile", phone)]


@pytest.mark.parametrize(
    "phone", ["(415) 555-0132", "415-555-0132", "+44 20 7946 0958", "+1-984-182-0190x769"]
)
def test_international_phones(phone: str) -> None:
    assert [r for r, _ in rules(f"call {phone} now")] == ["phone"]


@pytest.mark.parametrize(
    "text", ["released 2024-01-15", "version 1.2.3.4", "build 10.0.19041.1", "id 000-12-3456"]
)
def test_dates_versions_are_not_phones(text: str) -> None:
    assert [r for r, _ in rules(text) if r.startswith("phone")] == []


def test_prc_resident_id_checks_digit_and_date() -> None:
    assert prc_id_ok("11010519491231002X")
    assert not prc_id_ok("110105194912310021")  # wrong check character
    assert not prc_id_ok("110105194913310028")  # month 13
    assert rules("身份证号11010519491231002X。") == [("prc-resident-id", "11010519491231002X")]
    assert rules("身份证号110105194912310021。") == []


def test_cards_luhn_and_issuer() -> None:
    assert card_ok("4539578763621486")
    assert not card_ok("4539578763621487")
    assert not card_ok("9539578763621483")  # no issuer starts with 9
    assert rules("card 4539 5787 6362 1486 exp 12/29") == [("payment-card", "4539 5787 6362 1486")]
    assert rules("card 4539 5787 6362 1487") == []


CARD = "4539578763621486"
MOBILE = "13812345678"


@pytest.mark.parametrize("hyperscan", [True, False])
@pytest.mark.parametrize(
    "text",
    [
        # The mobile's search window ends inside the card (CJK between them, no space):
        # a truncated "phone" used to take the card's first ten digits and hide the card.
        f"手机{MOBILE}卡号{CARD}",
        # One candidate holding both numbers (spaces join formatted numbers): the digits
        # are too many for any one family, so the long bare numbers are examined alone.
        f"{MOBILE} {CARD}",
        f"{CARD} {MOBILE}",
        f"numbers: {MOBILE} 4111 {CARD} 17",
        f"tel {MOBILE} / {CARD}",
    ],
)
def test_a_card_next_to_a_mobile_number_is_found(text: str, hyperscan: bool) -> None:
    det = PiiDetector(use_hyperscan=hyperscan)
    found = sorted((f.rule, text[f.start : f.end]) for f in det.scan(text))
    assert found == [("payment-card", CARD), ("phone-cn-mobile", MOBILE)]


def test_a_list_of_bare_cards_is_found_card_by_card() -> None:
    cards = ["4539578763621486", "5425233430109903", "4012888888881881"]
    assert rules(" ".join(cards)) == sorted(("payment-card", c) for c in cards)


@pytest.mark.parametrize(
    ("text", "card"),
    [
        # The card pattern is greedy: a number written beside the card joins its match.
        ("card 4539578763621486 12/29", "4539578763621486"),
        ("card 4539578763621486 123", "4539578763621486"),
        ("card 4539 5787 6362 1486 12/29 123", "4539 5787 6362 1486"),
        ("qty 17 4539 5787 6362 1486", "4539 5787 6362 1486"),
        ("amex 3782 822463 10005 12/29", "3782 822463 10005"),
    ],
)
def test_a_card_written_with_its_expiry_or_cvv_is_found(text: str, card: str) -> None:
    assert rules(text) == [("payment-card", card)]


@pytest.mark.parametrize("text", ["tel: +49 151 12345678", "call +4915112345678 now"])
def test_an_international_number_that_passes_luhn_is_a_phone_not_a_card(text: str) -> None:
    # 4915112345678 passes the Luhn check and starts like a Visa number; the `+` decides.
    assert [r for r, _ in rules(text)] == ["phone"]


@pytest.mark.parametrize("hyperscan", [True, False])
@pytest.mark.parametrize(
    ("text", "card"),
    [
        # One candidate holds the mobile and a card written in groups: the greedy card
        # pattern's first match takes the mobile and the card's first group.
        (f"{MOBILE} 4539 5787 6362 1486", "4539 5787 6362 1486"),
        (f"手机{MOBILE} 4539-5787-6362-1486 谢谢", "4539-5787-6362-1486"),
        (f"{MOBILE} 3782 822463 10005 and 12345", "3782 822463 10005"),
        (f"{MOBILE} 4539 5787 6362 1486 12345 67890", "4539 5787 6362 1486"),
        (f"{MOBILE} 4539 5787 6362 1486 987 and more", "4539 5787 6362 1486"),  # its CVV
        (f"{MOBILE} 7 4539 5787 6362 1486", "4539 5787 6362 1486"),
    ],
)
def test_a_card_in_groups_inside_a_run_of_numbers_is_found(
    text: str, card: str, hyperscan: bool
) -> None:
    det = PiiDetector(use_hyperscan=hyperscan)
    found = sorted((f.rule, text[f.start : f.end]) for f in det.scan(text))
    assert found == [("payment-card", card), ("phone-cn-mobile", MOBILE)]


def test_a_nineteen_digit_card_in_groups_among_numbers_is_found_whole() -> None:
    card = "4539 5787 6362 1480 001"  # Visa allows 19 digits; this one passes Luhn
    assert rules(f"{MOBILE} {card} x") == [("payment-card", card), ("phone-cn-mobile", MOBILE)]


def test_groups_that_only_look_like_a_card_are_not_one() -> None:
    # Right shape but failing Luhn, or mixed separators: not a written card.
    assert rules(f"{MOBILE} 1234 5678 9012 3456 7890") == [("phone-cn-mobile", MOBILE)]
    assert rules(f"{MOBILE} 4539 5787-6362 1486") == [("phone-cn-mobile", MOBILE)]


def test_rows_of_short_numbers_are_not_cards() -> None:
    rows = "\n".join(
        " ".join(f"{(i * 7919 + j * 104729) % 99991:d}" for j in range(12)) for i in range(40)
    )
    assert [r for r, _ in rules(rows) if r == "payment-card"] == []


def test_iban_mod97_and_length() -> None:
    assert iban_ok("DE89370400440532013000")
    assert not iban_ok("DE89370400440532013001")
    assert rules("IBAN DE89 3704 0044 0532 0130 00 thanks") == [
        ("iban", "DE89 3704 0044 0532 0130 00")
    ]


def test_ip_addresses() -> None:
    assert rules("from 192.168.10.20 to 2001:db8:85a3::8a2e:370:7334") == [
        ("ipv4", "192.168.10.20"),
        ("ipv6", "2001:db8:85a3::8a2e:370:7334"),
    ]
    assert rules("std::vector and 12:30:45") == []
    assert rules("version 1.2.3.4") == []
    assert rules("Release v1.2.3.4, ver: 2.3.4.5") == []
    # A word that merely ends in "ver" is no version marker.
    assert rules("server 10.0.0.5 and driver 10.0.0.7") == [
        ("ipv4", "10.0.0.5"),
        ("ipv4", "10.0.0.7"),
    ]


def test_ssn_ranges() -> None:
    assert rules("SSN 460-89-9847") == [("us-ssn", "460-89-9847")]
    assert rules("SSN 666-12-3456 or 000-12-3456 or 900-12-3456") == []
