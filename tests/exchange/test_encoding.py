"""Writing files: formula cells neutralised, cp932's missing characters reported, Windows' cp932 codes, streaming."""

from __future__ import annotations

import io
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import openpyxl
import pytest

from exchange.encoding import (
    GETA,
    Action,
    Encoding,
    Unencodable,
    UnencodableText,
    cp932_form,
    encode_cp932,
    neutralise,
    scan_cp932,
    write_csv,
    write_xlsx,
)
from exchange.layouts import FULL, SEED
from exchange.reading import open_rows
from tests.exchange.samples import number

ROW = ["", "0012", "河合 康則", "", "", "2016/01/01", number(1)]


def _seed_row(name: str, *, code: str = "0012", dependant: str = "") -> list[str]:
    return ["", code, name, "1" if dependant else "", dependant, "2016/01/01", number(1)]


def _csv(rows: list[list[str]], **options: object) -> str:
    return b"".join(write_csv(SEED.columns, rows, **options)).decode("cp932")  # type: ignore[arg-type]


def _xlsx_values(data: bytes) -> list[tuple[object, ...]]:
    workbook = openpyxl.load_workbook(io.BytesIO(data), read_only=True)
    try:
        return list(workbook.worksheets[0].iter_rows(values_only=True))
    finally:
        workbook.close()


# CSV injection ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["=1+1", "+1", "-太郎", "@SUM(A1)", "\tx", "\rx", "＝１", "'x"])
def test_a_cell_a_spreadsheet_would_run_gets_a_quote(text: str) -> None:
    assert neutralise(text) == "'" + text


@pytest.mark.parametrize("text", ["太郎", "", "1-2", " =x", "a=b"])
def test_other_cells_are_left_alone(text: str) -> None:
    assert neutralise(text) == text


def test_csv_neutralises_typed_cells_and_keeps_the_text_after_the_quote() -> None:
    text = _csv([_seed_row("-太郎", code="=cmd", dependant='=HYPERLINK("x")')])

    assert text.splitlines()[1] == f""",'=cmd,'-太郎,1,"'=HYPERLINK(""x"")",2016/01/01,{number(1)}"""


def test_numbers_and_dates_are_never_touched() -> None:
    row = ["", "1", "太郎", "", "", "2016/01/01", number(1)]

    line = _csv([row]).splitlines()[1]

    assert line == f",1,太郎,,,2016/01/01,{number(1)}"


def test_xlsx_neutralises_the_same_cells_with_the_quote_prefix_and_stores_formulas_as_text() -> None:
    """Field trial: the workbook showed the guard's ``'`` in the cell; Excel's own quote prefix (a cell style)
    shows the text as typed and keeps it text when the cell is edited."""
    data = b"".join(write_xlsx(SEED.columns, [_seed_row("=1+1", code="@x", dependant="-花子")]))

    sheet = openpyxl.load_workbook(io.BytesIO(data)).worksheets[0]
    [cells] = list(sheet.iter_rows(min_row=2, max_row=2))

    assert [cell.value for cell in cells[1:5]] == ["@x", "=1+1", "1", "-花子"]
    assert [bool(cell.quotePrefix) for cell in cells[1:5]] == [True, True, False, True]
    assert all(cell.data_type == "s" and cell.number_format == "@" for cell in cells[1:5])
    assert b"<f>" not in data and b"<f " not in data  # no formula anywhere


def test_a_neutralised_name_reads_back_as_typed() -> None:
    for encoding in Encoding:
        rows = [_seed_row("-太郎", code="=c", dependant="'quoted")]
        chunks = (
            write_xlsx(SEED.columns, rows)
            if encoding is Encoding.XLSX
            else write_csv(SEED.columns, rows, encoding=encoding)
        )
        data = b"".join(chunks)

        [row] = list(open_rows(data, SEED).rows)

        assert row.values[1:5] == ("=c", "-太郎", "1", "'quoted"), encoding


# cp932 --------------------------------------------------------------------------------------------------------

KANJI_NOT_IN_CP932 = "\U00020bb7"  # 𠮷 (つちよし)
VARIATION = "葛\U000e0100"  # 葛 + an ideographic variation selector
COMPATIBILITY = "\uf900"  # 豈 compatibility ideograph, not in cp932; its canonical twin 豈 U+8C48 is


def test_scan_lists_each_character_cp932_cannot_hold_with_row_and_column() -> None:
    rows = [
        _seed_row("山田 太郎"),
        _seed_row(f"{KANJI_NOT_IN_CP932}野 {VARIATION}子", dependant=f"{COMPATIBILITY}子"),
    ]

    issues = scan_cp932(SEED.columns, rows)

    assert [(i.line, i.column, i.char, i.action, i.replacement) for i in issues] == [
        (3, "社員名", KANJI_NOT_IN_CP932, Action.REFUSED, ""),
        (3, "社員名", VARIATION, Action.DROPPED, "葛"),
        (3, "扶養者名", COMPATIBILITY, Action.SUBSTITUTED, "\u8c48"),
    ]
    assert issues[0].code_points == "U+20BB7"
    assert issues[1].code_points == "U+845B U+E0100"
    assert issues[0].text == f"{KANJI_NOT_IN_CP932}野 葛子"
    assert "3行目「社員名」" in issues[0].message and "UTF-8" in issues[0].message


def test_refusing_raises_with_the_list_before_writing_the_row() -> None:
    rows = [_seed_row("山田 太郎"), _seed_row(f"{KANJI_NOT_IN_CP932}田 一郎")]

    with pytest.raises(UnencodableText) as raised:
        _csv(rows)

    assert [(i.line, i.char) for i in raised.value.issues] == [(3, KANJI_NOT_IN_CP932)]
    assert "1か所" in raised.value.message


def test_replacing_writes_geta_and_reports_every_change() -> None:
    report: list = []
    rows = [_seed_row(f"{KANJI_NOT_IN_CP932}田 {VARIATION}男", dependant=f"{COMPATIBILITY}子")]

    text = _csv(rows, unencodable=Unencodable.REPLACE, report=report)

    assert text.splitlines()[1].split(",")[2:5] == [f"{GETA}田 葛男", "1", "\u8c48子"]
    assert [(i.char, i.action) for i in report] == [
        (KANJI_NOT_IN_CP932, Action.REPLACED),
        (VARIATION, Action.DROPPED),
        (COMPATIBILITY, Action.SUBSTITUTED),
    ]


def test_variation_selectors_are_dropped_and_reported_even_when_refusing() -> None:
    report: list = []

    text = _csv([_seed_row(f"{VARIATION}城 太郎")], report=report)

    assert "葛城 太郎" in text
    assert [(i.line, i.action) for i in report] == [(2, Action.DROPPED)]


def test_utf8_and_xlsx_keep_every_character() -> None:
    name = f"{KANJI_NOT_IN_CP932}野 {VARIATION}子"
    rows = [_seed_row(name)]

    utf8 = b"".join(write_csv(SEED.columns, rows, encoding=Encoding.UTF8_BOM)).decode("utf-8-sig")
    xlsx = _xlsx_values(b"".join(write_xlsx(SEED.columns, rows)))

    assert name in utf8
    assert xlsx[1][2] == name


@pytest.mark.parametrize(
    ("typed", "read_back"),
    [
        ("〜", "～"),  # U+301C WAVE DASH → 0x8160 → U+FF5E, the glyph Japanese Excel shows for 0x8160
        ("～", "～"),
        ("−", "－"),  # U+2212 → 0x817C
        ("‖", "∥"),  # U+2016 → 0x8161
        ("¢£¬", "￠￡￢"),
        ("—", "―"),  # U+2014 EM DASH → 0x815C (Python's codec alone cannot write it)
        ("髙", "髙"),
        ("﨑", "﨑"),
        ("①ⅰ№㈱", "①ⅰ№㈱"),
    ],
)
def test_jis_and_microsoft_forms_are_written_the_windows_way(typed: str, read_back: str) -> None:
    data = b"".join(write_csv(SEED.columns, [_seed_row(f"山{typed}")]))

    [row] = list(open_rows(data, SEED).rows)

    assert row.values[2] == f"山{read_back}"
    assert cp932_form(f"山{typed}") == f"山{read_back}"


def test_ibm_extension_kanji_use_the_ibm_codes_as_windows_does() -> None:
    assert encode_cp932("髙") == b"\xfb\xfc"
    assert encode_cp932("﨑") == b"\xfa\xb1"
    assert encode_cp932("ⅰ") == b"\xfa\x40"
    assert encode_cp932("Ⅰ∵￢") == "Ⅰ∵￢".encode("cp932")  # NEC row 13 and JIS X 0208 forms stay
    assert b"\xee\xe0".decode("cp932") == b"\xfb\xfc".decode("cp932") == "髙"


# Streaming ----------------------------------------------------------------------------------------------------

ROWS = 20_000  # enough to see growth: the peak stays that of one chunk (the bench writes 1,000,000)
NUMBERS = [number(k) for k in range(1000)]


def _many_rows(count: int) -> Iterator[list[str]]:
    for n in range(count):
        yield ["", f"{n:06d}", "河合 康則", "", "", "2016/01/01", NUMBERS[n % 1000]]


def _peak_while_writing(chunks: Iterator[bytes], sink: io.RawIOBase | None = None) -> tuple[int, int]:
    tracemalloc.start()
    try:
        size = 0
        for chunk in chunks:
            size += len(chunk)
            if sink is not None:
                sink.write(chunk)
        return size, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_a_cp932_csv_of_many_rows_is_written_in_constant_memory() -> None:
    size, peak = _peak_while_writing(write_csv(SEED.columns, _many_rows(ROWS)))

    assert size > 800_000
    assert peak < 4_000_000, f"peak {peak / 1e6:.1f} MB"


def test_a_streamed_xlsx_of_many_rows_opens_with_openpyxl_and_keeps_leading_zeros(tmp_path: Path) -> None:
    path = tmp_path / "numbers.xlsx"  # test data only: made-up numbers
    with path.open("wb") as sink:
        size, peak = _peak_while_writing(write_xlsx(SEED.columns, _many_rows(ROWS), row_count=ROWS), sink)  # type: ignore[arg-type]

    workbook = openpyxl.load_workbook(path, read_only=True)
    try:
        rows = workbook.worksheets[0].iter_rows(values_only=True)
        header = next(rows)
        first = next(rows)
        count = 2 + sum(1 for _ in rows)
    finally:
        workbook.close()

    assert peak < 4_000_000, f"peak {peak / 1e6:.1f} MB for {size / 1e6:.1f} MB written"
    assert header == tuple(SEED.header)
    assert first == (None, "000000", "河合 康則", None, None, "2016/01/01", number(0))
    assert count == ROWS + 1


def test_the_xlsx_cells_are_text_formatted_and_the_header_frozen() -> None:
    data = b"".join(write_xlsx(FULL.columns, [["", "従業員", "001", "総務", "0012"] + [""] * 12]))

    workbook = openpyxl.load_workbook(io.BytesIO(data))
    sheet = workbook.worksheets[0]

    assert sheet.freeze_panes == "A2"
    assert sheet["C2"].number_format == "@" and sheet["C2"].data_type == "s"
    assert sheet["A1"].font.bold
    assert sheet.title == "マイナンバー"


def test_an_xlsx_larger_than_an_excel_sheet_is_refused_before_anything_is_sent() -> None:
    with pytest.raises(ValueError):
        next(write_xlsx(SEED.columns, [], row_count=1_048_576))
