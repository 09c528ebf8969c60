"""The layouts as data: the seed's columns exactly, the full layout's additions, the withholding slots."""

from __future__ import annotations

import datetime as dt

import pytest

from exchange.layouts import FULL, SEED, Kind, WithholdingLayout, layout_named, under_16
from exchange.records import FamilyRecord, PersonRecord, Role
from tenants.models import CollectionStatus, Relationship
from tests.exchange.samples import ISSUED, families, number


def test_the_seed_layout_has_exactly_the_seeds_columns() -> None:
    assert SEED.header == (
        "処理スキップ",
        "社員コード",
        "社員名",
        "扶養No",
        "扶養者名",
        "マイナンバー発行日",
        "マイナンバー",
    )


def test_seed_rows_follow_the_seeds_sample_employee_first_then_dependants_numbered() -> None:
    family = FamilyRecord(
        PersonRecord("東野二郎", number_issued_on=ISSUED, skip=True),
        employee_code="104",
        dependants=(
            PersonRecord("東野順子", number_issued_on=ISSUED, skip=True),
            PersonRecord("東野真奈美", number_issued_on=ISSUED, skip=True),
        ),
    )

    # Seed 003's rows 7-9, column for column.
    assert SEED.rows(family) == [
        ["*", "104", "東野二郎", "", "", "2016/01/01", ""],
        ["*", "104", "東野二郎", "1", "東野順子", "2016/01/01", ""],
        ["*", "104", "東野二郎", "2", "東野真奈美", "2016/01/01", ""],
    ]


def test_seed_rows_carry_the_number_and_an_empty_skip_mark() -> None:
    family = FamilyRecord(PersonRecord("河合 康則", my_number=number(1)), employee_code="001")

    assert SEED.rows(family) == [["", "001", "河合 康則", "", "", "", number(1)]]


def test_the_full_layout_adds_the_columns_the_issue_lists() -> None:
    added = set(FULL.header) - set(SEED.header)

    assert added == {
        "区分",
        "部門コード",
        "部門",
        "フリガナ",
        "生年月日",
        "続柄",
        "法人番号",
        "状態",
        "登録日",
        "管理者確認日",
    }
    assert [name for name in FULL.header if name in SEED.header] == list(SEED.header)


def test_full_choices_are_the_services_own_words() -> None:
    by_name = {column.name: column for column in FULL.columns}

    assert by_name["区分"].choices == ("従業員", "扶養家族", "取引先")
    assert by_name["続柄"].choices == tuple(r.value for r in Relationship)
    assert by_name["状態"].choices == tuple(s.value for s in CollectionStatus)
    assert {c.name for c in FULL.columns if c.informational} == {"状態", "登録日", "管理者確認日"}


def test_full_rows_of_a_family_and_of_a_payee() -> None:
    employee, payee = families()[1], families()[6]

    rows = FULL.rows(employee) + FULL.rows(payee)

    assert [row[:8] for row in rows] == [
        ["", "従業員", "105", "人事部", "104", "東野 二郎", "", ""],
        ["", "扶養家族", "105", "人事部", "104", "東野 二郎", "1", "東野 順子"],
        ["", "扶養家族", "105", "人事部", "104", "東野 二郎", "2", "東野 真奈美"],
        ["", "取引先", "", "", "", "株式会社 講師派遣", "", ""],
    ]
    assert rows[1][8:] == ["ヒガシノ ジュンコ", "1978/02/03", "配偶者", "2016/01/01", number(3), "", "", "", ""]
    assert rows[0][14:] == ["管理者確認済", "2016/03/17", "2016/06/07"]
    assert rows[3][13] == payee.head.corporate_number


def test_the_seed_and_withholding_layouts_have_no_place_for_payees() -> None:
    payee = families()[5]

    with pytest.raises(ValueError):
        SEED.rows(payee)
    with pytest.raises(ValueError):
        layout_named("withholding", year=2025).rows(payee)


def test_withholding_columns_are_the_employee_then_spouse_four_dependants_and_four_under_16() -> None:
    header = WithholdingLayout(2025).header

    assert header[:6] == ("処理スキップ", "社員コード", "氏名", "フリガナ", "生年月日", "個人番号")
    assert header[6:9] == ("控除対象配偶者 氏名", "控除対象配偶者 フリガナ", "控除対象配偶者 個人番号")
    assert header[9:21:3] == tuple(f"控除対象扶養親族{n} 氏名" for n in range(1, 5))
    assert header[21:33:3] == tuple(f"16歳未満の扶養親族{n} 氏名" for n in range(1, 5))
    assert len(header) == 33
    assert [c.kind for c in WithholdingLayout(2025).columns].count(Kind.MY_NUMBER) == 10


def test_under_16_is_counted_on_31_december_as_the_tax_office_does() -> None:
    # 令和6年分 (2024): 16歳未満 = born on or after 平成21年1月2日.
    assert under_16(dt.date(2009, 1, 2), 2024)
    assert not under_16(dt.date(2009, 1, 1), 2024)


def _dependant(name: str, relationship: str, born: dt.date | None, k: int) -> PersonRecord:
    return PersonRecord(name, relationship=relationship, birth_date=born, my_number=number(k))


def test_withholding_places_spouse_dependants_and_children_and_reports_those_without_a_slot() -> None:
    children = [_dependant(f"子{n}", "子", dt.date(2015, 1, n), 10 + n) for n in range(1, 6)]
    elders = [_dependant(f"親{n}", "父", dt.date(1950, 1, n), 20 + n) for n in range(1, 6)]
    spouse = _dependant("配偶者", "配偶者", dt.date(1980, 1, 1), 30)
    unknown = _dependant("不明", "その他", None, 31)
    family = FamilyRecord(
        PersonRecord("本人", my_number=number(1)),
        employee_code="1",
        dependants=(children[0], spouse, *elders[:3], unknown, *children[1:], *elders[3:]),
    )
    layout = WithholdingLayout(2025)

    [row] = layout.rows(family)
    cells = dict(zip(layout.header, row, strict=True))

    assert cells["控除対象配偶者 氏名"] == "配偶者"
    assert [cells[f"控除対象扶養親族{n} 氏名"] for n in range(1, 5)] == ["親1", "親2", "親3", "不明"]
    assert [cells[f"16歳未満の扶養親族{n} 個人番号"] for n in range(1, 5)] == [number(11 + n) for n in range(4)]
    assert [p.name for p in layout.unplaced(family)] == ["子5", "親4", "親5"]


def test_withholding_needs_the_year_to_export() -> None:
    with pytest.raises(ValueError):
        layout_named("withholding").rows(families()[1])


def test_an_unknown_layout_name_is_refused() -> None:
    with pytest.raises(ValueError):
        layout_named("smarthr")


def test_kept_is_what_a_layout_carries() -> None:
    family = families()[1]

    seed = SEED.kept(family)
    withholding = WithholdingLayout(2025).kept(family)

    assert seed.department_code == "" and seed.head.kana == "" and seed.head.my_number == number(2)
    assert [d.name for d in seed.dependants] == ["東野 順子", "東野 真奈美"]
    assert FULL.kept(family) == family
    assert [(d.name, d.relationship) for d in withholding.dependants] == [("東野 順子", "配偶者"), ("東野 真奈美", "")]
    assert withholding.role is Role.EMPLOYEE
