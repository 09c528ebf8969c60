"""Reading files back: the kind and encoding from the content, the header matched exactly, rows with their numbers."""

from __future__ import annotations

import datetime as dt
import io
import zipfile

import openpyxl
import pytest

from exchange.layouts import FULL, SEED
from exchange.reading import FileRejected, detect_encoding, open_rows
from tests.exchange.samples import number

HEADER = "処理スキップ,社員コード,社員名,扶養No,扶養者名,マイナンバー発行日,マイナンバー"


def _csv(text: str, encoding: str) -> bytes:
    return text.replace("\n", "\r\n").encode(encoding)


SAMPLE = f"""{HEADER}
*,104,東野二郎,,,2016/01/01,
,104,東野二郎,1,東野順子,2016/01/01,{number(3)}
"""


@pytest.mark.parametrize(("encoding", "detected"), [("cp932", "cp932"), ("utf-8", "utf-8"), ("utf-8-sig", "utf-8-sig")])
def test_the_encoding_is_found_by_decoding(encoding: str, detected: str) -> None:
    opened = open_rows(_csv(SAMPLE, encoding), SEED)

    rows = list(opened.rows)

    assert opened.encoding == detected
    assert [(row.line, row.values[2], row.skip) for row in rows] == [(2, "東野二郎", True), (3, "東野二郎", False)]
    assert rows[1].values == ("", "104", "東野二郎", "1", "東野順子", "2016/01/01", number(3))


def test_a_cp932_file_whose_start_is_ascii_is_still_read_as_cp932() -> None:
    text = HEADER + "\n" + "".join(f",{n},Taro,,,,\n" for n in range(5000)) + ",9,山田,,,,\n"
    data = _csv(text, "cp932")

    assert detect_encoding(io.BytesIO(data)) == "cp932"
    assert list(open_rows(data, SEED).rows)[-1].values[2] == "山田"


def test_bytes_neither_cp932_nor_utf8_can_read_stop_with_the_row() -> None:
    data = _csv(f"{HEADER}\n,1,山田,,,,\n", "cp932") + b",2,\x85\x40,,,,\r\n"  # 0x8540: no character

    with pytest.raises(FileRejected) as rejected:
        list(open_rows(data, SEED).rows)

    assert "3行目" in rejected.value.message


def test_the_header_may_come_in_any_order_with_spaces_and_empty_trailing_columns() -> None:
    data = _csv(
        "マイナンバー, 社員名 ,社員コード,扶養No,扶養者名,マイナンバー発行日,処理スキップ,,\n"
        f"{number(1)},山田,7,,,,*,,\n",
        "cp932",
    )

    [row] = list(open_rows(data, SEED).rows)

    assert row.values == ("*", "7", "山田", "", "", "", number(1))
    assert row.skip


def test_missing_and_unknown_columns_are_one_japanese_error_naming_them() -> None:
    data = _csv("処理スキップ,社員コード,氏名,扶養No,扶養者名,マイナンバー,備考\n", "cp932")

    with pytest.raises(FileRejected) as rejected:
        open_rows(data, SEED)

    message = rejected.value.message
    assert "足りない列: 「社員名」、「マイナンバー発行日」" in message
    assert "この形式にない列: 「氏名」、「備考」" in message
    assert HEADER in message


def test_a_repeated_column_is_named() -> None:
    with pytest.raises(FileRejected) as rejected:
        open_rows(_csv(HEADER + ",社員名\n", "utf-8"), SEED)

    assert "2回ある列: 「社員名」" in rejected.value.message


def test_an_empty_file_is_refused() -> None:
    with pytest.raises(FileRejected):
        open_rows(b"", SEED)


def test_row_numbers_count_lines_of_quoted_cells_and_blank_rows_are_left_out() -> None:
    text = f'{HEADER}\n,1,"山田\n太郎",,,,\n,,,,,,\n\n,2,佐藤,,,,\n'

    rows = list(open_rows(_csv(text, "utf-8"), SEED).rows)

    assert [(row.line, row.values[1]) for row in rows] == [(2, "1"), (6, "2")]


def test_cells_past_the_header_are_kept_for_the_checks() -> None:
    [row] = list(open_rows(_csv(f"{HEADER}\n,1,山田,,,,,メモ\n", "utf-8"), SEED).rows)

    assert row.extra == ("メモ",)


def test_the_quote_of_a_neutralised_cell_is_taken_off_typed_cells_only() -> None:
    [row] = list(open_rows(_csv(f"{HEADER}\n,'=1,'-太郎,,,,'{number(1)}\n", "utf-8"), SEED).rows)

    assert row.values[1:3] == ("=1", "-太郎")
    assert row.values[6] == f"'{number(1)}"  # a number is the checks' to read


def _workbook(rows: list[list[object]]) -> bytes:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def test_an_xlsx_saved_by_a_spreadsheet_is_read_by_content_with_numbers_and_dates_as_text() -> None:
    data = _workbook(
        [
            list(SEED.header),
            [None, 104, "東野二郎", None, None, dt.datetime(2016, 1, 1), 123456789018],
            ["*", "001", "河合康則", 1, "河合花子", "2016/01/01", 12345678901.0],
        ]
    )

    opened = open_rows(data, SEED)
    rows = list(opened.rows)

    assert opened.kind == "xlsx"
    assert rows[0].values == ("", "104", "東野二郎", "", "", "2016/01/01", "123456789018")
    assert rows[1].values == ("*", "001", "河合康則", "1", "河合花子", "2016/01/01", "12345678901")
    assert [row.line for row in rows] == [2, 3]


def test_an_xlsx_with_another_header_is_refused_like_a_csv() -> None:
    with pytest.raises(FileRejected) as rejected:
        open_rows(_workbook([list(SEED.header)]), FULL)

    assert "足りない列: 「区分」" in rejected.value.message


def test_an_old_xls_file_is_refused_with_what_to_do() -> None:
    with pytest.raises(FileRejected) as rejected:
        open_rows(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 100, SEED)

    assert ".xlsx" in rejected.value.message


@pytest.mark.parametrize(
    "data",
    [
        b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4,  # an image renamed .csv
        bytes((n * 7919 + 13) % 256 for n in range(5000)),  # random bytes
        _csv(f"{HEADER}\n", "utf-8") + b"\x00\x00",  # NUL after a good header
    ],
)
def test_a_file_that_is_not_text_is_one_short_sentence(data: bytes) -> None:
    """Field trial: random bytes named .csv gave 1,600 characters of quote marks as "unknown columns"."""
    with pytest.raises(FileRejected) as rejected:
        list(open_rows(data, SEED).rows)

    assert "読めないファイルです" in rejected.value.message and len(rejected.value.message) < 150


def test_long_or_many_unknown_header_names_are_cut_short() -> None:
    data = _csv(HEADER + "," + ",".join(f"列{n}" + "x" * 300 for n in range(40)) + "\n", "utf-8")

    with pytest.raises(FileRejected) as rejected:
        open_rows(data, SEED)

    assert "ほか30列" in rejected.value.message and len(rejected.value.message) < 600


def test_a_zip_that_is_not_a_workbook_is_refused() -> None:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("readme.txt", "x")

    with pytest.raises(FileRejected):
        open_rows(out.getvalue(), SEED)


def test_a_damaged_workbook_is_one_sentence() -> None:
    data = _workbook([list(SEED.header), ["", "1", "山田", "", "", "", number(1)]])
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as source, zipfile.ZipFile(out, "w") as damaged:
        for item in source.infolist():
            content = source.read(item)
            if item.filename == "xl/worksheets/sheet1.xml":
                content = content[: len(content) // 2]  # cut in the middle of the rows
            damaged.writestr(item, content)

    with pytest.raises(FileRejected) as rejected:
        list(open_rows(out.getvalue(), SEED).rows)

    assert "読めません" in rejected.value.message


def test_a_row_never_shows_its_cells_in_a_traceback() -> None:
    [row] = list(open_rows(_csv(f"{HEADER}\n,1,山田,,,,{number(1)}\n", "utf-8"), SEED).rows)

    assert number(1) not in repr(row) and "山田" not in repr(row)
