"""Families and numbers for the exchange tests: valid My Numbers and corporate numbers made from the formula."""

from __future__ import annotations

import datetime as dt

from app.vault.numbers import corporate_number_check_digit, my_number_check_digit
from exchange.records import FamilyRecord, PersonRecord, Role


def my_number(n: int) -> str:
    """A valid My Number (check digit right) whose first 11 digits are ``n``; leading zeros kept."""
    first = f"{n:011d}"
    return first + str(my_number_check_digit(first))


def corporate_number(n: int) -> str:
    """A valid corporate number whose last 12 digits are ``n``."""
    rest = f"{n:012d}"
    return str(corporate_number_check_digit(rest)) + rest


def number(k: int) -> str:
    """The k-th sample My Number (starts with a 0, as one in ten do)."""
    return my_number(1_234_567_890 + k)


ISSUED = dt.date(2016, 1, 1)


def families() -> list[FamilyRecord]:
    """Employees with dependants (the seed's sample and harder names), then payees (individual and corporate)."""
    return [
        FamilyRecord(
            PersonRecord(
                "河合 康則", "カワイ ヤスノリ", dt.date(1970, 4, 1), my_number=number(1), number_issued_on=ISSUED
            ),
            employee_code="001",
            department_code="101",
            department_name="社長室",
        ),
        FamilyRecord(
            PersonRecord(
                "東野 二郎",
                "ヒガシノ ジロウ",
                dt.date(1975, 12, 31),
                my_number=number(2),
                number_issued_on=ISSUED,
                status="管理者確認済",
                registered_on=dt.date(2016, 3, 17),
                admin_confirmed_on=dt.date(2016, 6, 7),
            ),
            employee_code="104",
            department_code="105",
            department_name="人事部",
            dependants=(
                PersonRecord("東野 順子", "ヒガシノ ジュンコ", dt.date(1978, 2, 3), "配偶者", number(3), ISSUED),
                PersonRecord("東野 真奈美", "ヒガシノ マナミ", dt.date(2012, 5, 5), "子", number(4), ISSUED),
            ),
        ),
        FamilyRecord(
            # Names a spreadsheet would run, and a number and a code with leading zeros.
            PersonRecord("-太郎", "タロウ", None, my_number=number(5), number_issued_on=ISSUED),
            employee_code="0007",
            dependants=(
                PersonRecord("=SUM(A1)", "", None, "子", number(6)),
                PersonRecord("@花子", "ハナコ", dt.date(2020, 1, 2), "子", ""),
                PersonRecord("+一郎", "", None, "父", number(7), skip=True),
            ),
        ),
        FamilyRecord(PersonRecord("井原 はじめ", skip=True), employee_code="1000"),
        FamilyRecord(PersonRecord("髙橋 﨑子", "タカハシ サキコ", my_number=number(8)), employee_code="200"),
        FamilyRecord(PersonRecord("税理士 山田 一", "ヤマダ ハジメ", my_number=number(9)), role=Role.PAYEE),
        FamilyRecord(PersonRecord("株式会社 講師派遣", corporate_number=corporate_number(5835678256)), role=Role.PAYEE),
    ]
