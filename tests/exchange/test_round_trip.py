"""Families → rows → bytes → rows → families, for every layout and encoding: what the layout carries comes back."""

from __future__ import annotations

import pytest

from exchange import Encoding, check_rows, group_families, open_rows, write_file
from exchange.checks import ERROR
from exchange.layouts import FULL, SEED, Layout, WithholdingLayout
from exchange.records import FamilyRecord
from tests.exchange.samples import families

LAYOUTS = {"seed": SEED, "full": FULL, "withholding": WithholdingLayout(2025)}


def _exported(layout: Layout, encoding: Encoding) -> tuple[list[FamilyRecord], bytes]:
    chosen = [family for family in families() if family.role in layout.roles]
    return chosen, b"".join(write_file(layout.columns, layout.table(chosen), encoding))


@pytest.mark.parametrize("encoding", list(Encoding))
@pytest.mark.parametrize("name", list(LAYOUTS))
def test_an_exported_file_reads_back_to_the_same_families(name: str, encoding: Encoding) -> None:
    layout = LAYOUTS[name]
    chosen, data = _exported(layout, encoding)

    opened = open_rows(data, layout)
    checked = list(check_rows(layout, opened.rows))
    back = list(group_families(entry for row in checked for entry in row.entries))

    assert back == [layout.kept(family) for family in chosen]
    assert opened.kind == ("xlsx" if encoding is Encoding.XLSX else "csv")
    assert [line for row in checked for line in row.report if line.level == ERROR] == []


@pytest.mark.parametrize("name", list(LAYOUTS))
def test_an_exported_file_gets_no_remark(name: str) -> None:
    layout = LAYOUTS[name]
    _chosen, data = _exported(layout, Encoding.CP932)

    report = [line for row in check_rows(layout, open_rows(data, layout).rows) for line in row.report]

    assert report == []  # a row without a number is left as it is, without a remark (it round-trips)


@pytest.mark.parametrize("encoding", [Encoding.CP932, Encoding.UTF8_BOM])
@pytest.mark.parametrize("name", list(LAYOUTS))
def test_an_exported_csv_written_again_is_the_same_bytes(name: str, encoding: Encoding) -> None:
    layout = LAYOUTS[name]
    _chosen, data = _exported(layout, encoding)

    rows = [list(row.values) for row in open_rows(data, layout).rows]
    again = b"".join(write_file(layout.columns, rows, encoding))

    assert again == data


def test_the_cp932_file_is_cp932_with_crlf_and_no_bom() -> None:
    chosen, data = _exported(SEED, Encoding.CP932)

    text = data.decode("cp932")  # Python's codec reads it

    assert not data.startswith(b"\xef\xbb\xbf")
    assert text.startswith("処理スキップ,社員コード,社員名,扶養No,扶養者名,マイナンバー発行日,マイナンバー\r\n")
    assert text.count("\r\n") == 1 + len(list(SEED.table(chosen)))
    assert "\n" not in text.replace("\r\n", "")
    assert "髙橋 﨑子" in text
    assert "\r\n*,1000,井原 はじめ,,,,\r\n" in text


def test_the_utf8_file_starts_with_a_bom() -> None:
    _chosen, data = _exported(FULL, Encoding.UTF8_BOM)

    assert data.startswith(b"\xef\xbb\xbf\xe5\x87\xa6")  # BOM, then 処
    assert data.decode("utf-8-sig").splitlines()[0] == ",".join(FULL.header)
