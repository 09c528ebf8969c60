"""The import's check against the tenant's people: every kind of problem gives its line, and nothing is written."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.guard import contains_digit_run
from app.vault import Vault
from exchange.checks import ERROR, WARNING, Code
from exchange.layouts import FULL, SEED, WithholdingLayout
from exchange.services import check_import
from tenants.models import CollectionStatus, Person
from tests.exchange.importing import N, admin, arrange, csv_file, snapshot
from tests.exchange.samples import corporate_number
from tests.support.world import World

LOST_ZERO = N[12][1:]
WRONG_CHECK_DIGIT = N[13][:11] + str((int(N[13][11]) + 1) % 10)
CORPORATE = corporate_number(5835678256)
OTHER_CORPORATE = corporate_number(1234567)

SEED_FILE = [
    f",001,河合 康則,,,,{N[1]}",  # 2: the number 001 has: unchanged
    f",002,山田 一郎,,,,{N[3]}",  # 3: registered
    f",002,山田 一郎,1,山田 花子,,{N[4]}",  # 4: no such dependant under 002
    ",003,佐藤 花子,,,,1.23457E+11",  # 5: Excel's exponent display
    f",003,佐藤 花子,1,佐藤 太郎,,{LOST_ZERO}",  # 6: a lost leading zero
    f",004,鈴木 次郎,,,,{N[9]}",  # 7: 005's number: replaces 004's, held by another
    f",005,伊藤 吾郎,,,,{N[9]}",  # 8: the number of row 7 again, and another name than 005's
    f",B900,山本 太郎,,,,{N[5]}",  # 9: tenant B's 社員コード
    f",B900,山本 太郎,1,山本 花子,,{N[6]}",  # 10: a dependant whose employee is not registered
    ",006,田中 三郎,,,,12345678901X",  # 11: letters (and an unknown code)
    f",001,河合 康則,1,河合 花子,,{WRONG_CHECK_DIGIT}",  # 12: a dependant under another employee: not above
    f",002,山田 一郎,,,,{N[14][:6]}\u200b{N[14][6:]}",  # 13: the code of row 3 again, an invisible character
    f"*,002,山田 一郎,,,,{N[15]}",  # 14: skipped
]


async def test_every_kind_of_problem_in_a_seed_file_gives_its_line_and_nothing_is_written(
    vault: Vault, db: AsyncSession, world: World
) -> None:
    await arrange(db, vault, world)
    before = await snapshot(db, world.tenant.id)

    report = await check_import(db, vault, admin(world), csv_file(SEED, SEED_FILE), "seed")

    assert {(line.line, line.column, line.level, line.code) for line in report.lines} == {
        (4, "扶養者名", ERROR, Code.UNKNOWN_DEPENDANT),
        (5, "マイナンバー", ERROR, Code.EXPONENT),
        (6, "マイナンバー", ERROR, Code.LOST_ZERO),
        (7, "マイナンバー", WARNING, Code.HELD_BY_OTHER),
        (8, "マイナンバー", ERROR, Code.DUPLICATE_IN_FILE),
        (8, "社員名", WARNING, Code.DIFFERS_FROM_STORED),
        (9, "社員コード", ERROR, Code.UNKNOWN_CODE),
        (10, "社員コード", ERROR, Code.UNKNOWN_CODE),
        (11, "マイナンバー", ERROR, Code.LETTERS),
        (11, "社員コード", ERROR, Code.UNKNOWN_CODE),
        (12, "マイナンバー", ERROR, Code.CHECK_DIGIT),
        (12, "社員コード", ERROR, Code.ORPHAN),
        (13, "マイナンバー", WARNING, Code.INVISIBLE),
        (13, "社員コード", ERROR, Code.DUPLICATE_CODE),
    }
    messages = {(line.line, line.code): line.message for line in report.lines}
    assert messages[9, Code.UNKNOWN_CODE].startswith("この社員コードの従業員が登録されていません。")
    assert messages[10, Code.UNKNOWN_CODE].startswith("この扶養家族の従業員（社員コード）が登録されていません。")
    assert messages[4, Code.UNKNOWN_DEPENDANT].startswith("この氏名の扶養家族が、社員コードの従業員の扶養家族として")
    assert messages[7, Code.HELD_BY_OTHER].startswith("このマイナンバーは、別の方の番号としてすでに登録されています。")
    assert messages[8, Code.DIFFERS_FROM_STORED] == (
        "氏名が登録されている内容と違います。同じ方か確かめてください。登録されている内容は変わりません。"
    )
    assert messages[6, Code.LOST_ZERO].startswith("マイナンバーが11桁です。Excel で先頭の 0 が消えた可能性があります。")
    assert not any(contains_digit_run(line.message) for line in report.lines)
    counts = report.counts
    assert (counts.rows, counts.skipped, counts.errors, counts.warnings) == (13, 1, 11, 3)
    assert (counts.to_register, counts.to_replace, counts.unchanged) == (1, 1, 1)
    assert report.has_errors and not report.committable(accepted_warnings=True)
    assert await snapshot(db, world.tenant.id) == before


FULL_HEADER_KEYS = [column.key for column in FULL.columns]


def full_row(**values: str) -> str:
    """A full-layout row from the cells given by column key (the rest empty)."""
    return ",".join(values.get(key, "") for key in FULL_HEADER_KEYS)


FULL_FILE = [
    # 2: 001 as stored (the department's code, the same name written without its space): unchanged
    full_row(
        role="従業員",
        department_code="101",
        employee_code="001",
        employee_name="河合康則",
        kana="カワイ ヤスノリ",
        birth_date="1970/04/01",
        my_number=N[1],
    ),
    # 3: 002 with another フリガナ and 生年月日: warnings, then updated; and a number to register
    full_row(
        role="従業員",
        employee_code="002",
        employee_name="山田 一郎",
        kana="ヤマダ カズオ",
        birth_date="1980/01/02",
        my_number=N[3],
    ),
    # 4: a new dependant of 002 (full adds people)
    full_row(
        role="扶養家族",
        employee_code="002",
        employee_name="山田 一郎",
        dependant_no="1",
        dependant_name="山田 花子",
        kana="ヤマダ ハナコ",
        relationship="配偶者",
        my_number=N[4],
    ),
    # 5: a new dependant without 続柄: the add form's rule
    full_row(
        role="扶養家族",
        employee_code="002",
        employee_name="山田 一郎",
        dependant_no="2",
        dependant_name="山田 次郎",
        my_number=N[5],
    ),
    # 6: a new employee in a new department named in 部門
    full_row(
        role="従業員",
        department_code="900",
        department_name="新部門",
        employee_code="010",
        employee_name="新井 一",
        kana="アライ ハジメ",
        my_number=N[6],
    ),
    # 7: a new employee in an unknown department without its name
    full_row(role="従業員", department_code="901", employee_code="011", employee_name="新井 二", kana="アライ ジ"),
    # 8: a new employee without フリガナ (required to add an employee)
    full_row(role="従業員", employee_code="012", employee_name="新井 三", my_number=N[7]),
    # 9: tenant B's code: a new employee of tenant A (full adds people), the number another tenant holds is no match
    full_row(role="従業員", employee_code="B900", employee_name="山本 太郎", kana="ヤマモト タロウ", my_number=N[30]),
    # 10: the stored individual payee given a corporate number
    full_row(role="取引先", employee_name="税理士 山田 一", kana="ヤマダ ハジメ", corporate_number=OTHER_CORPORATE),
    # 11: a new corporate payee
    full_row(role="取引先", employee_name="株式会社 講師派遣", corporate_number=CORPORATE),
    # 12: the same payee again
    full_row(role="取引先", employee_name="株式会社 講師派遣"),
]


async def test_the_full_layout_adds_and_updates_people_and_says_so_before_anything_is_written(
    vault: Vault, db: AsyncSession, world: World
) -> None:
    await arrange(db, vault, world)
    before = await snapshot(db, world.tenant.id)

    report = await check_import(db, vault, admin(world), csv_file(FULL, FULL_FILE), "full")

    assert {(line.line, line.column, line.level, line.code) for line in report.lines} == {
        (3, "フリガナ", WARNING, Code.DIFFERS_FROM_STORED),
        (3, "生年月日", WARNING, Code.DIFFERS_FROM_STORED),
        (5, "続柄", ERROR, Code.INVALID),
        (7, "部門コード", ERROR, Code.UNKNOWN_DEPARTMENT),
        (8, "フリガナ", ERROR, Code.INVALID),
        (10, "法人番号", ERROR, Code.NUMBER_KIND),
        (12, "社員名", ERROR, Code.SAME_PERSON_TWICE),
    }
    messages = {(line.line, line.column): line.message for line in report.lines}
    assert messages[3, "フリガナ"].endswith("取り込むと、ファイルの内容に更新します。")
    assert messages[5, "続柄"] == "（追加する扶養家族）続柄を選択してください。"
    assert messages[8, "フリガナ"] == "（追加する従業員）フリガナを入力してください。"
    assert messages[10, "法人番号"].startswith("この取引先は個人として登録されています。")
    counts = report.counts
    # Registered: 002's number, the new dependant's, the new employees' (010, B900) and the new payee's.
    assert (counts.to_register, counts.to_replace, counts.unchanged) == (5, 0, 1)
    assert (counts.people_to_add, counts.people_to_update) == (4, 1)
    assert await snapshot(db, world.tenant.id) == before


async def test_the_withholding_layout_matches_the_slots_by_name_under_the_employee(
    vault: Vault, db: AsyncSession, world: World
) -> None:
    await arrange(db, vault, world)
    layout = WithholdingLayout()
    keys = [column.key for column in layout.columns]

    slot = "控除対象扶養親族1"
    lines = [
        ",".join(
            {
                "employee_code": "003",
                "name": "佐藤 花子",
                "kana": "サトウ ハナコ",
                "my_number": N[20],
                f"{slot}.name": "佐藤 太郎",
                f"{slot}.kana": "サトウ タロ",
                f"{slot}.my_number": N[21],
                "控除対象扶養親族2.name": "佐藤 次郎",
                "控除対象扶養親族2.my_number": N[22],
            }.get(key, "")
            for key in keys
        ),
        ",".join({"employee_code": "B900", "name": "山本 太郎", "my_number": N[23]}.get(key, "") for key in keys),
    ]

    report = await check_import(db, vault, admin(world), csv_file(layout, lines), "withholding")

    assert {(line.line, line.column, line.level, line.code) for line in report.lines} == {
        (2, f"{slot} フリガナ", WARNING, Code.DIFFERS_FROM_STORED),
        (2, "控除対象扶養親族2 氏名", ERROR, Code.UNKNOWN_DEPENDANT),
        (3, "社員コード", ERROR, Code.UNKNOWN_CODE),
    }
    assert report.counts.rows == 2


async def test_a_file_that_is_not_the_layout_is_one_sentence(vault: Vault, db: AsyncSession, world: World) -> None:
    data = csv_file(FULL, [full_row(employee_code="001")])

    report = await check_import(db, vault, admin(world), data, "seed")

    assert report.rejected.startswith("1行目の見出しが「基本（マイナンバー一覧）」の形式と合いません")
    assert report.has_errors and report.lines == []


async def test_a_number_for_someone_erased_or_who_refused_is_a_warning(
    vault: Vault, db: AsyncSession, world: World
) -> None:
    """Field trial: a seed file registered a number again, with no word, for a retired employee whose number had
    been erased, and for one who had refused to give it (提供拒否)."""
    people = await arrange(db, vault, world)
    for person, status in ((people.yamada, CollectionStatus.ERASED), (people.sato, CollectionStatus.DECLINED)):
        stored = await db.get(Person, (person.tenant_id, person.id))
        assert stored is not None
        stored.status = status
    await db.commit()
    data = csv_file(SEED, [f",002,山田 一郎,,,,{N[20]}", f",003,佐藤 花子,,,,{N[21]}"])

    report = await check_import(db, vault, admin(world), data, "seed")

    given_up = [(line.line, line.level, line.code) for line in report.lines if line.code is Code.NUMBER_GIVEN_UP]
    assert given_up == [(2, WARNING, Code.NUMBER_GIVEN_UP), (3, WARNING, Code.NUMBER_GIVEN_UP)]
    messages = " ".join(line.message for line in report.lines)
    assert "削除済み" in messages and "提供拒否" in messages
    assert report.counts.to_register == 2 and report.counts.errors == 0
