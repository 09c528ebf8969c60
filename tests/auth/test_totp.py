"""TOTP secrets, QR codes, code checks with replay refusal, and recovery codes."""

from __future__ import annotations

import base64
import re
import urllib.parse

import pyotp
import pytest

from app.auth.totp import (
    generate_recovery_codes,
    hash_recovery_code,
    new_totp_secret,
    normalize_recovery_code,
    provisioning_uri,
    qr_svg,
    qr_svg_data_uri,
    recovery_code_matches,
    verify_totp,
)

RFC6238_SECRET = base64.b32encode(b"12345678901234567890").decode()  # the RFC's SHA-1 key
NOW = 1_800_000_000.0  # a fixed instant: step 60_000_000
STEP = int(NOW // 30)


def code_at(secret: str, step: int) -> str:
    return pyotp.TOTP(secret).generate_otp(step)


@pytest.fixture
def secret() -> str:
    return new_totp_secret()


def test_a_new_secret_is_160_bits_of_base32() -> None:
    secret = new_totp_secret()
    assert re.fullmatch(r"[A-Z2-7]{32}", secret)
    assert len(base64.b32decode(secret)) == 20
    assert new_totp_secret() != secret


def test_it_matches_the_rfc_6238_sha1_vector() -> None:
    # RFC 6238 appendix B: T=59 gives 94287082; the last six digits are the 6-digit code.
    assert verify_totp(RFC6238_SECRET, "287082", last_used_step=None, now=59) == 1


def test_it_returns_the_step_of_the_current_code(secret: str) -> None:
    assert verify_totp(secret, code_at(secret, STEP), last_used_step=None, now=NOW) == STEP


@pytest.mark.parametrize("offset", [-1, 1])
def test_it_accepts_a_code_one_step_early_or_late(secret: str, offset: int) -> None:
    code = code_at(secret, STEP + offset)
    assert verify_totp(secret, code, last_used_step=None, now=NOW) == STEP + offset


@pytest.mark.parametrize("offset", [-2, 2])
def test_it_refuses_a_code_two_steps_away(secret: str, offset: int) -> None:
    assert verify_totp(secret, code_at(secret, STEP + offset), last_used_step=None, now=NOW) is None


def test_it_refuses_a_wrong_code(secret: str) -> None:
    valid = {code_at(secret, STEP + offset) for offset in (-1, 0, 1)}
    wrong = next(f"{n:06d}" for n in range(1_000_000) if f"{n:06d}" not in valid)
    assert verify_totp(secret, wrong, last_used_step=None, now=NOW) is None


def test_it_refuses_a_replayed_code(secret: str) -> None:
    code = code_at(secret, STEP)
    used = verify_totp(secret, code, last_used_step=None, now=NOW)
    assert used == STEP
    assert verify_totp(secret, code, last_used_step=used, now=NOW) is None
    assert verify_totp(secret, code, last_used_step=used, now=NOW + 30) is None


def test_it_refuses_an_older_step_after_a_newer_one_was_used(secret: str) -> None:
    assert verify_totp(secret, code_at(secret, STEP - 1), last_used_step=STEP, now=NOW) is None


def test_it_accepts_the_next_step_after_one_was_used(secret: str) -> None:
    assert verify_totp(secret, code_at(secret, STEP + 1), last_used_step=STEP, now=NOW) == STEP + 1


def test_it_accepts_spaces_and_full_width_digits(secret: str) -> None:
    code = code_at(secret, STEP)
    spaced = f" {code[:3]} {code[3:]} "
    full_width = code.translate(str.maketrans("0123456789", "０１２３４５６７８９"))
    assert verify_totp(secret, spaced, last_used_step=None, now=NOW) == STEP
    assert verify_totp(secret, full_width, last_used_step=None, now=NOW) == STEP


@pytest.mark.parametrize("code", ["", "12345", "1234567", "12a456", "12-345", "١٢٣٤٥٦"])
def test_it_refuses_a_code_that_is_not_six_digits(secret: str, code: str) -> None:
    assert verify_totp(secret, code, last_used_step=None, now=NOW) is None


def test_it_refuses_a_code_with_the_right_digits_and_extra_characters(secret: str) -> None:
    code = code_at(secret, STEP)
    assert verify_totp(secret, code + "0", last_used_step=None, now=NOW) is None
    assert verify_totp(secret, "x" + code, last_used_step=None, now=NOW) is None


def test_the_provisioning_uri_names_the_issuer_account_and_secret(secret: str) -> None:
    uri = provisioning_uri(secret, account_name="acme:tanaka")
    parsed = urllib.parse.urlparse(uri)
    query = urllib.parse.parse_qs(parsed.query)
    assert parsed.scheme == "otpauth"
    assert parsed.netloc == "totp"
    assert urllib.parse.unquote(parsed.path) == "/マイナンバー保管庫:acme:tanaka"
    assert query["secret"] == [secret]
    assert query["issuer"] == ["マイナンバー保管庫"]
    parsed_totp = pyotp.parse_uri(uri)
    assert isinstance(parsed_totp, pyotp.TOTP)
    assert parsed_totp.at(NOW) == pyotp.TOTP(secret).at(NOW)


def test_the_qr_code_is_inline_svg_without_script(secret: str) -> None:
    svg = qr_svg(provisioning_uri(secret, account_name="tanaka"))
    assert svg.startswith("<svg")
    assert svg.rstrip().endswith("</svg>")
    assert "<script" not in svg.lower()
    assert not re.search(r"\son\w+=", svg)  # no event handler attributes


def test_the_qr_data_uri_is_an_svg_image_without_script(secret: str) -> None:
    data_uri = qr_svg_data_uri(provisioning_uri(secret, account_name="tanaka"))
    assert data_uri.startswith("data:image/svg+xml")
    decoded = urllib.parse.unquote(data_uri.split(",", 1)[1])
    assert "<svg" in decoded
    assert "<script" not in decoded.lower()


def test_recovery_codes_are_ten_distinct_codes_in_three_groups_of_four() -> None:
    codes = generate_recovery_codes()
    assert len(codes) == 10
    assert len(set(codes)) == 10
    for code in codes:
        assert re.fullmatch(r"[a-z2-9]{4}-[a-z2-9]{4}-[a-z2-9]{4}", code)
        assert not set(code) & set("01ilo")


def test_recovery_codes_differ_between_batches() -> None:
    assert set(generate_recovery_codes()).isdisjoint(generate_recovery_codes())


def test_it_generates_the_requested_number_of_recovery_codes() -> None:
    assert len(generate_recovery_codes(count=3)) == 3


def test_a_recovery_code_normalizes_case_spaces_hyphens_and_width() -> None:
    assert normalize_recovery_code(" ABCD-efgh ｊｋｍｎ ") == "abcdefghjkmn"
    assert normalize_recovery_code("abcd efgh－jkmn") == "abcdefghjkmn"


def test_a_recovery_code_hash_ignores_how_the_code_was_typed() -> None:
    stored = hash_recovery_code("abcd-efgh-jkmn", salt="a")
    assert re.fullmatch(r"[0-9a-f]{64}", stored)
    assert hash_recovery_code("ABCD EFGH JKMN", salt="a") == stored
    assert hash_recovery_code("abcdefghjkmn", salt="a") == stored
    assert hash_recovery_code("abcd-efgh-jkmp", salt="a") != stored


def test_a_salted_recovery_code_hash_differs_per_account() -> None:
    code = "abcd-efgh-jkmn"
    assert hash_recovery_code(code, salt="account-1") != hash_recovery_code(code, salt="account-2")
    with pytest.raises(ValueError):
        hash_recovery_code(code, salt="")


def test_a_recovery_code_matches_only_its_own_hash() -> None:
    stored = hash_recovery_code("abcd-efgh-jkmn", salt="account-1")
    assert recovery_code_matches("ABCD EFGH JKMN", stored, salt="account-1")
    assert not recovery_code_matches("abcd-efgh-jkmn", stored, salt="account-2")
    assert not recovery_code_matches("abcd-efgh-jkmp", stored, salt="account-1")
