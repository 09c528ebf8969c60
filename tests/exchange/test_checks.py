"""Checking an import file: every kind of problem in one file gives exactly its report line, in Japanese."""

from __future__ import annotations

import pytest

from app.audit.guard import contains_digit_run
from exchange.checks import ERROR, WARNING, CheckedRow, Code, FileChecker, check_rows
from exchange.layouts import FULL, SEED, Layout, WithholdingLayout
from exchange.reading import open_rows
from exchange.records import Role
from tests.exchange.samples import corporate_number, number

N = [number(k) for k in range(20)]
LOST_ZERO = N[2][1:]  # every sample number starts with 0: Excel drops it
WRONG_CHECK_DIGIT = N[3][:11] + str((int(N[3][11]) + 1) % 10)
CORPORATE = corporate_number(5835678256)


def _check(layout: Layout, lines: list[str]) -> tuple[list[CheckedRow], FileChecker]:
    data = ("\r\n".join([",".join(layout.header), *lines]) + "\r\n").encode("utf-8")
    checker = FileChecker(layout)
    return [checker.check(row) for row in open_rows(data, layout).rows], checker


def _lines(rows: list[CheckedRow]) -> set[tuple[int, str, str, Code]]:
    return {(line.line, line.column, line.level, line.code) for row in rows for line in row.report}


SEED_FILE = [
    f",001,河合 康則,,,2016/01/01,{N[1]}",  # 2: fine
    f",002,山田 一郎,,,,{N[1]}",  # 3: the number of row 2 again
    ",003,佐藤 花子,,,,1.23457E+11",  # 4: Excel's exponent display
    f",004,鈴木 次郎,,,,{LOST_ZERO}",  # 5: 11 digits
    ",005,田中 三郎,,,,12345678901X",  # 6: a letter
    ",006,高橋 四郎,,,,1234567890",  # 7: 10 digits
    f",007,伊藤 五郎,,,,{WRONG_CHECK_DIGIT}",  # 8: check digit
    f",008,渡辺\u200b 六郎,,,,{N[4][:6]}\u200b{N[4][6:]}",  # 9: invisible characters (removed, warned)
    f",,中村 七郎,,,,{N[5]}",  # 10: 社員コード empty
    f",099,,1,小林 八子,,{N[6]}",  # 11: a dependant whose employee is not above
    f",001,河合 康則,,,,{N[7]}",  # 12: 社員コード of row 2 again
    f",001,河合 康,1,河合 花子,,{N[8]}",  # 13: 社員名 not the employee's of row 12
    "*,010,スキップ 太郎,,,,どんな値でも",  # 14: skipped, not checked
    "x,011,加藤 九郎,,,,",  # 15: a wrong skip mark, and no number
    f",012,木村 十郎,,,2016/13/45,{N[9]}",  # 16: no such date
    f",013,林 十一,あ,,,{N[10]}",  # 17: 扶養No not a number
    ",014,清水 十二,,,,000000000000",  # 18: one digit repeated (valid, suspicious)
    f",015,山口 123456789012,,,,{N[11]}",  # 19: 12 digits in a name
    f",016,森 十三,,,,{N[12]},メモ",  # 20: a cell past the header
    f",1234567890123,池田 十四,,,,{N[13]}",  # 21: a code that could be a number
    f",017,,,,,{N[14]}",  # 22: no name
    f",017,,,東野 順子,,{N[15]}",  # 23: 扶養者名 without 扶養No
]


def test_every_kind_of_problem_in_a_seed_file_gives_its_line_and_nothing_else() -> None:
    rows, checker = _check(SEED, SEED_FILE)

    assert _lines(rows) == {
        (3, "マイナンバー", ERROR, Code.DUPLICATE_IN_FILE),
        (4, "マイナンバー", ERROR, Code.EXPONENT),
        (5, "マイナンバー", ERROR, Code.LOST_ZERO),
        (6, "マイナンバー", ERROR, Code.LETTERS),
        (7, "マイナンバー", ERROR, Code.LENGTH),
        (8, "マイナンバー", ERROR, Code.CHECK_DIGIT),
        (9, "社員名", WARNING, Code.INVISIBLE),
        (9, "マイナンバー", WARNING, Code.INVISIBLE),
        (10, "社員コード", ERROR, Code.REQUIRED),
        (11, "社員コード", ERROR, Code.ORPHAN),
        (12, "社員コード", ERROR, Code.DUPLICATE_CODE),
        (13, "社員名", WARNING, Code.EMPLOYEE_NAME_MISMATCH),
        (15, "処理スキップ", ERROR, Code.SKIP_MARK),
        (16, "マイナンバー発行日", ERROR, Code.INVALID),
        (17, "扶養No", ERROR, Code.ORDINAL),
        (18, "マイナンバー", WARNING, Code.REPEATED_DIGIT),
        (19, "社員名", ERROR, Code.INVALID),
        (20, "（見出しのない列）", ERROR, Code.EXTRA_CELLS),
        (21, "社員コード", ERROR, Code.INVALID),
        (22, "社員名", ERROR, Code.REQUIRED),
        (23, "扶養No", ERROR, Code.REQUIRED),
    }
    summary = checker.summary
    assert (summary.rows, summary.skipped, summary.rows_with_errors) == (22, 1, 17)
    assert (summary.errors, summary.warnings) == (17, 4)


def test_the_messages_say_what_happened_without_repeating_a_number() -> None:
    rows, _checker = _check(SEED, SEED_FILE)
    messages = {(line.line, line.code): line.message for row in rows for line in row.report}

    assert "復元できません" in messages[(4, Code.EXPONENT)]
    assert "先頭の 0 が消えた" in messages[(5, Code.LOST_ZERO)] and "11桁" in messages[(5, Code.LOST_ZERO)]
    assert "チェックデジット" in messages[(8, Code.CHECK_DIGIT)]
    assert "2行目" in messages[(3, Code.DUPLICATE_IN_FILE)]
    assert "すぐ上にありません" in messages[(11, Code.ORPHAN)]
    assert messages[(10, Code.REQUIRED)] == "社員コードを入力してください。"
    assert not [text for text in messages.values() if contains_digit_run(text)]


def test_a_valid_number_is_kept_cleaned_and_a_wrong_one_left_out() -> None:
    rows, _checker = _check(SEED, SEED_FILE)
    by_line = {row.line: row for row in rows}

    assert by_line[9].entries[0].person.my_number == N[4]
    assert by_line[9].entries[0].person.name == "渡辺 六郎"
    assert by_line[8].entries[0].person.my_number == ""
    assert by_line[2].entries[0].person.number_issued_on is not None
    assert by_line[14].skip and by_line[14].report == ()
    assert by_line[2].has_errors is False and by_line[3].has_errors is True


FULL_FILE = [
    f",取引先,,,,株式会社 講師派遣,,,カブシキガイシャ コウシハケン,,,,,{CORPORATE},,,",  # 2: fine
    f",取引先,,,,個人 B,,,,,,,{N[1]},{CORPORATE[:-1]}3,,,",  # 3: both numbers (and a wrong corporate one)
    f",従業員,,,100,社員 C,,,,,,,{N[2]},{corporate_number(1)},,,",  # 4: 法人番号 on an employee
    f",扶養家族,,,100,社員 C,,家族 D,,,,,{N[3]},,,,",  # 5: 扶養家族 without 扶養No
    f",従業員,,,101,社員 E,1,,,,,,{N[4]},,,,",  # 6: 扶養No on an employee
    f",社長,,,102,社員 F,,,,,,,{N[5]},,,,",  # 7: not a 区分
    f",従業員,,,103,社員 G,,,yamada,,子,,{N[6]},,,,",  # 8: romaji フリガナ, 続柄 on an employee
    f",扶養家族,,,103,社員 G,1,家族 H,,2999/01/01,孫娘,,{N[7]},,,,",  # 9: born in the future, not a 続柄
    f",取引先,,,104,個人 I,,,,,,,{N[8]},,,,",  # 10: a payee with a 社員コード
    f",従業員,,,105,社員 J,,,,,,,{N[9]},,謎の状態,いつか,",  # 11: information columns are not checked
]


def test_every_kind_of_problem_of_the_full_layout() -> None:
    rows, _checker = _check(FULL, FULL_FILE)

    assert _lines(rows) == {
        (3, "法人番号", ERROR, Code.CHECK_DIGIT),
        (4, "法人番号", ERROR, Code.NUMBER_NOT_ALLOWED),
        (5, "扶養No", ERROR, Code.ROLE_MISMATCH),
        (6, "扶養No", ERROR, Code.ROLE_MISMATCH),
        (7, "区分", ERROR, Code.CHOICE),
        (8, "フリガナ", ERROR, Code.INVALID),
        (8, "続柄", ERROR, Code.ROLE_MISMATCH),
        (9, "生年月日", ERROR, Code.INVALID),
        (9, "続柄", ERROR, Code.CHOICE),
        (10, "社員コード", ERROR, Code.ROLE_MISMATCH),
    }


def test_a_payee_with_both_numbers_is_refused() -> None:
    rows, _checker = _check(FULL, [f",取引先,,,,個人 B,,,,,,,{N[1]},{CORPORATE},,,"])

    assert _lines(rows) == {(2, "法人番号", ERROR, Code.NUMBER_NOT_ALLOWED)}


def test_the_same_number_twice_in_a_withholding_row_and_a_slot_without_a_name() -> None:
    layout = WithholdingLayout()
    cells = {name: "" for name in layout.header}
    cells.update({"社員コード": "200", "氏名": "本人 一", "個人番号": N[1]})
    cells.update(
        {"控除対象配偶者 個人番号": N[2], "控除対象扶養親族1 氏名": "子 一", "控除対象扶養親族1 個人番号": N[1]}
    )
    line = ",".join(cells[name] for name in layout.header)

    rows, _checker = _check(layout, [line, line.replace("本人 一", "本人 二")])

    assert _lines(rows) == {
        (2, "控除対象配偶者 氏名", ERROR, Code.REQUIRED),
        (2, "控除対象扶養親族1 個人番号", ERROR, Code.DUPLICATE_IN_FILE),
        (3, "社員コード", ERROR, Code.DUPLICATE_CODE),
        (3, "個人番号", ERROR, Code.DUPLICATE_IN_FILE),
        (3, "控除対象配偶者 氏名", ERROR, Code.REQUIRED),
        (3, "控除対象配偶者 個人番号", ERROR, Code.DUPLICATE_IN_FILE),
        (3, "控除対象扶養親族1 個人番号", ERROR, Code.DUPLICATE_IN_FILE),
    }
    [repeated] = [line for line in rows[1].report if line.code is Code.DUPLICATE_CODE]
    assert "従業員の行の欄に入れます" in repeated.message and "扶養No" not in repeated.message  # no such column here
    assert [(e.role, e.slot) for e in rows[0].entries] == [
        (Role.EMPLOYEE, ""),
        (Role.DEPENDANT, "控除対象配偶者"),
        (Role.DEPENDANT, "控除対象扶養親族1"),
    ]
    assert rows[0].entries[1].person.relationship == "配偶者"


@pytest.mark.parametrize("layout", [SEED, FULL, WithholdingLayout()])
def test_an_entry_knows_the_columns_its_values_came_from(layout: Layout) -> None:
    headers = set(layout.header)
    data = ("\r\n".join([",".join(layout.header), ",1,山田 太郎" + "," * (len(headers) - 3)]) + "\r\n").encode()

    [row] = list(check_rows(layout, open_rows(data, layout).rows))

    assert set(row.entries[0].columns.values()) <= headers
    assert {"name", "my_number"} <= set(row.entries[0].columns)
