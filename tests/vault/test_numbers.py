"""Number rules: check-digit vectors, messages, normalisation, and what the check digits can and cannot catch."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.vault.numbers import (
    MY_NUMBER_WEIGHTS,
    InvalidNumber,
    corporate_number_check_digit,
    is_repeated_digit,
    is_valid_corporate_number,
    is_valid_invoice_registration_number,
    is_valid_my_number,
    mask_my_number,
    mask_number,
    my_number_check_digit,
    normalize_corporate_number,
    normalize_invoice_registration_number,
    normalize_my_number,
)

digits = st.text(alphabet="0123456789", min_size=1, max_size=1)
my_bases = st.text(alphabet="0123456789", min_size=11, max_size=11)
corporate_bases = st.text(alphabet="0123456789", min_size=12, max_size=12)
FULL_WIDTH = str.maketrans("0123456789", "０１２３４５６７８９")


def statute_check_digit(first_eleven: str) -> int:
    """総務省令第85号 第五条 as written: Pn is the nth digit from the right, Qn = n+1 (n ≤ 6) or n−5 (n ≥ 7)."""
    total = 0
    for n, digit in enumerate(reversed(first_eleven), start=1):
        total += int(digit) * (n + 1 if n <= 6 else n - 5)
    remainder = total % 11
    return 0 if remainder <= 1 else 11 - remainder


def my_number_of(base: str) -> str:
    return base + str(my_number_check_digit(base))


def corporate_number_of(base: str) -> str:
    return str(corporate_number_check_digit(base)) + base


# Vectors -------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("first_eleven", "check"),
    [
        ("12345678901", 8),  # the example used throughout the 総務省 material: 1234 5678 9018
        ("00000000000", 0),  # remainder 0 → 0
        ("00000000006", 0),  # 6 × 2 = 12, remainder 1 → 0
        ("00000000001", 9),  # 1 × 2 = 2 → 11 − 2
        ("10000000000", 5),  # 1 × 6 = 6 → 11 − 6
        ("99999999999", 6),  # 9 × 47 = 423, remainder 5 → 6
    ],
)
def test_my_number_check_digit_matches_the_ordinance(first_eleven: str, check: int) -> None:
    assert my_number_check_digit(first_eleven) == check
    assert statute_check_digit(first_eleven) == check


def test_the_weights_are_the_ordinance_weights_read_left_to_right() -> None:
    assert MY_NUMBER_WEIGHTS == (6, 5, 4, 3, 2, 7, 6, 5, 4, 3, 2)


@pytest.mark.parametrize("number", ["7000012050002", "1180301018771", "5010401067252", "2021001052596"])
def test_published_corporate_numbers_are_valid(number: str) -> None:
    assert is_valid_corporate_number(number)
    assert corporate_number_check_digit(number[1:]) == int(number[0])


@pytest.mark.parametrize("number", ["7000012050003", "8000012050002", "700001205000", "T7000012050002"])
def test_altered_corporate_numbers_are_refused(number: str) -> None:
    assert not is_valid_corporate_number(number)


@pytest.mark.parametrize(
    "text",
    [
        "123456789018",
        "1234 5678 9018",
        "1234-5678-9018",
        "１２３４　５６７８　９０１８",
        "1234ー5678ー9018",
        " 123456789018\n",
    ],
)
def test_my_numbers_are_accepted_in_the_forms_people_type(text: str) -> None:
    assert normalize_my_number(text) == "123456789018"
    assert is_valid_my_number(text)


@pytest.mark.parametrize(
    ("text", "code", "words"),
    [
        ("", "empty", "入力してください"),
        ("  - ", "empty", "入力してください"),
        ("1234a5678901", "not_digits", "数字だけ"),
        ("١٢٣٤٥٦٧٨٩٠١٨", "not_digits", "数字だけ"),  # Arabic-Indic digits are not accepted as digits
        ("12345678901", "wrong_length", "12桁"),
        ("1234567890188", "wrong_length", "12桁"),
        ("123456789019", "check_digit", "正しくありません"),
    ],
)
def test_invalid_my_numbers_say_what_to_fix_in_japanese(text: str, code: str, words: str) -> None:
    with pytest.raises(InvalidNumber) as excinfo:
        normalize_my_number(text)
    assert excinfo.value.code == code
    assert words in excinfo.value.message and "個人番号" in excinfo.value.message
    assert excinfo.value.message.endswith("。")
    if text.strip():
        assert text.strip() not in str(excinfo.value)


def test_the_length_message_counts_the_digits_given() -> None:
    with pytest.raises(InvalidNumber) as excinfo:
        normalize_my_number("1234 5678 901")
    assert "11桁" in excinfo.value.message


def test_corporate_number_messages_name_the_corporate_number() -> None:
    with pytest.raises(InvalidNumber) as excinfo:
        normalize_corporate_number("7000012050003")
    assert excinfo.value.code == "check_digit" and "法人番号" in excinfo.value.message
    assert normalize_corporate_number("７０００−０１２０−５０００２") == "7000012050002"


@pytest.mark.parametrize(
    "text", ["T7000012050002", "t7000012050002", "Ｔ７０００ ０１２０ ５０００２", "T-7000-0120-50002"]
)
def test_invoice_registration_numbers_are_t_and_a_valid_corporate_style_number(text: str) -> None:
    assert is_valid_invoice_registration_number(text)
    assert normalize_invoice_registration_number(text) == "T7000012050002"


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("7000012050002", "not_digits"),
        ("T7000012050003", "check_digit"),
        ("T700001205000", "wrong_length"),
        ("", "empty"),
    ],
)
def test_invalid_invoice_registration_numbers_are_refused(text: str, code: str) -> None:
    assert not is_valid_invoice_registration_number(text)
    with pytest.raises(InvalidNumber) as excinfo:
        normalize_invoice_registration_number(text)
    assert excinfo.value.code == code


def test_masking_keeps_only_the_last_two_digits() -> None:
    assert mask_my_number("123456789018") == "**********18"
    assert mask_number("7000012050002") == "***********02"


def test_a_repeated_digit_passes_the_formula_but_is_flagged() -> None:
    assert is_valid_my_number("000000000000")
    assert is_repeated_digit("000000000000") and is_repeated_digit("0000 0000 0000")
    assert not is_repeated_digit("123456789018")


def test_check_digit_functions_refuse_the_wrong_input() -> None:
    for bad in ("1234567890", "123456789012", "1234567890a"):
        with pytest.raises(ValueError):
            my_number_check_digit(bad)
    with pytest.raises(ValueError):
        corporate_number_check_digit("12345")


# Properties ----------------------------------------------------------------------------------------------------


@given(my_bases)
def test_every_base_with_its_computed_check_digit_is_valid(base: str) -> None:
    number = my_number_of(base)
    assert is_valid_my_number(number)
    assert my_number_check_digit(base) == statute_check_digit(base)


@given(corporate_bases)
def test_every_corporate_base_with_its_check_digit_is_valid(base: str) -> None:
    assert is_valid_corporate_number(corporate_number_of(base))


def _single_changes(number: str) -> list[str]:
    return [number[:i] + d + number[i + 1 :] for i in range(len(number)) for d in "0123456789" if d != number[i]]


def _transpositions(number: str) -> list[tuple[int, str]]:
    return [
        (i, number[:i] + number[i + 1] + number[i] + number[i + 2 :])
        for i in range(len(number) - 1)
        if number[i] != number[i + 1]
    ]


def _remainder(base: str) -> int:
    return sum(w * int(d) for w, d in zip(MY_NUMBER_WEIGHTS, base, strict=True)) % 11


@given(my_bases)
def test_single_digit_changes_to_a_my_number_are_caught_except_where_remainders_0_and_1_meet(base: str) -> None:
    number = my_number_of(base)
    accepted = sum(is_valid_my_number(changed) for changed in _single_changes(number))
    # Weights 2–7 are invertible mod 11, so a change always moves the remainder; it goes unnoticed only when
    # the check digit is 0 and the remainder moves between 0 and 1 (both map to 0).
    expected = 0
    if number[11] == "0":
        total = sum(w * int(d) for w, d in zip(MY_NUMBER_WEIGHTS, base, strict=True))
        expected = sum(
            (total + w * (int(new) - int(old))) % 11 in (0, 1)
            for w, old in zip(MY_NUMBER_WEIGHTS, base, strict=True)
            for new in "0123456789"
            if new != old
        )
    assert accepted == expected


def test_some_single_digit_changes_do_slip_through_a_my_number() -> None:
    # 000000000000 has remainder 0; changing the 11th digit to 6 makes it 12 ≡ 1, still check digit 0.
    assert is_valid_my_number("000000000000") and is_valid_my_number("000000000060")


@given(my_bases)
def test_adjacent_transpositions_in_a_my_number_are_caught_except_the_predictable_ones(base: str) -> None:
    number = my_number_of(base)
    accepted = sum(is_valid_my_number(swapped) for _, swapped in _transpositions(number))
    expected = 0
    total = sum(w * int(d) for w, d in zip(MY_NUMBER_WEIGHTS, base, strict=True))
    for i, _ in _transpositions(number):
        if i < 10:  # inside the base: the weight difference is ±1 or −5, invertible mod 11
            a, b = int(number[i]), int(number[i + 1])
            moved = (total + (MY_NUMBER_WEIGHTS[i] - MY_NUMBER_WEIGHTS[i + 1]) * (b - a)) % 11
            expected += number[11] == "0" and moved in (0, 1)
        else:  # the last base digit swapped with the check digit
            moved = (total + 2 * (int(number[11]) - int(number[10]))) % 11
            expected += (0 if moved <= 1 else 11 - moved) == int(number[10])
    assert accepted == expected


def test_a_transposition_with_the_check_digit_can_slip_through() -> None:
    number = next(
        my_number_of(f"{i:011d}")
        for i in range(1000)
        if any(is_valid_my_number(s) for j, s in _transpositions(my_number_of(f"{i:011d}")) if j == 10)
    )
    assert is_valid_my_number(number[:10] + number[11] + number[10])


@given(corporate_bases)
def test_single_digit_changes_to_a_corporate_number_miss_exactly_the_0_9_swaps(base: str) -> None:
    number = corporate_number_of(base)
    accepted = sum(is_valid_corporate_number(changed) for changed in _single_changes(number))
    # mod 9: replacing 0 by 9 (or 9 by 0) adds ±9 or ±18, invisible; every other change is caught.
    assert accepted == sum(d in "09" for d in base)


@given(corporate_bases)
def test_adjacent_transpositions_in_a_corporate_number_miss_the_0_9_pairs(base: str) -> None:
    number = corporate_number_of(base)
    accepted = sum(is_valid_corporate_number(swapped) for _, swapped in _transpositions(number))
    inside = sum({base[i], base[i + 1]} == {"0", "9"} for i in range(11))
    check, first = int(number[0]), int(number[1])
    total = sum((1 if n % 2 else 2) * int(d) for n, d in enumerate(reversed(base), start=1))
    with_check_first = total + 2 * (check - first)  # the 12th digit from the right has weight 2
    across = check != first and 9 - with_check_first % 9 == first
    assert accepted == inside + across


@given(my_bases, st.lists(st.sampled_from([" ", "-", "　", "－", "ー", "‐"]), min_size=0, max_size=4), st.booleans())
def test_normalisation_accepts_separators_and_full_width_and_is_idempotent(
    base: str, separators: list[str], full_width: bool
) -> None:
    number = my_number_of(base)
    text = number
    for k, separator in enumerate(separators):
        position = 4 * (k % 3 + 1) + k
        text = text[:position] + separator + text[position:]
    if full_width:
        text = text.translate(FULL_WIDTH)
    assert normalize_my_number(text) == number
    assert normalize_my_number(normalize_my_number(text)) == normalize_my_number(text)


@given(st.text(max_size=20))
def test_normalisation_of_any_text_either_refuses_or_is_a_fixed_point(text: str) -> None:
    try:
        normalized = normalize_my_number(text)
    except InvalidNumber as exc:
        assert exc.code in {"empty", "not_digits", "wrong_length", "check_digit"}
        return
    assert normalize_my_number(normalized) == normalized
    assert len(normalized) == 12 and normalized.isascii() and normalized.isdigit()


@given(corporate_bases)
def test_corporate_normalisation_is_idempotent(base: str) -> None:
    number = corporate_number_of(base)
    spaced = f"{number[0]} {number[1:5]}-{number[5:9]}-{number[9:]}".translate(FULL_WIDTH)
    assert normalize_corporate_number(spaced) == number
    assert normalize_corporate_number(normalize_corporate_number(spaced)) == number
