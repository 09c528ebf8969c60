"""What may be exchanged: programs refused by content and by name, ZIPs by their directory, names made safe."""

from __future__ import annotations

import io
import zipfile

import pytest

from partners.filecheck import FileRefused, check_file, safe_file_name

LIMIT = 10 * 1024 * 1024


def _zip(entries: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("給与明細.jpg", b"MZ\x90\x00" + b"\x00" * 100),  # a Windows program renamed .jpg
        ("report.pdf", b"\x7fELF\x02\x01\x01" + b"\x00" * 50),
        ("photo.png", b"\xcf\xfa\xed\xfe" + b"\x00" * 50),
        ("メモ.txt", b"#!/bin/sh\nrm -rf /\n"),
        ("bom.txt", b"\xef\xbb\xbf#!/usr/bin/env python\n"),
        ("run.bat", b"echo hello"),
        ("Invoice.PDF.exe", b"plain text"),
        ("macro.vbs", b"MsgBox 1"),
        ("script.ps1", b"Write-Host 1"),
        ("tool.jar", _zip({"META-INF/MANIFEST.MF": b"Manifest-Version: 1.0\n"})),
        ("setup.msi", b"\xd0\xcf\x11\xe0" + b"\x00" * 50),
        ("archive.zip", _zip({"docs/readme.txt": b"hi", "docs/setup.exe": b"MZ"})),
        ("bomb.zip", _zip({"zeros.bin": b"\x00" * (30 * 1024 * 1024)})),
    ],
)
def test_programs_scripts_and_bombs_are_refused_with_the_reason(name: str, data: bytes) -> None:
    with pytest.raises(FileRefused) as refused:
        check_file(name, data, max_bytes=LIMIT)
    assert "送信できません" in refused.value.message


@pytest.mark.parametrize(
    ("name", "data", "content_type"),
    [
        ("扶養控除等申告書.pdf", b"%PDF-1.7\n...", "application/pdf"),
        ("一覧.xlsx", _zip({"xl/workbook.xml": b"<workbook/>" * 20, "[Content_Types].xml": b"<Types/>"}), None),
        ("書類.zip", _zip({"a/入社連絡票.xls": b"\xd0\xcf\x11\xe0data", "b/c.txt": b"text"}), "application/zip"),
        ("名簿.csv", "氏名,カナ\n𠮷野,ヨシノ\n".encode("cp932", "replace"), "text/csv"),
    ],
)
def test_documents_and_archives_of_documents_pass(name: str, data: bytes, content_type: str | None) -> None:
    checked = check_file(name, data, max_bytes=LIMIT)
    assert checked.name == name
    assert checked.data == data
    if content_type:
        assert checked.content_type == content_type


def test_size_limit_and_empty_files_are_refused() -> None:
    with pytest.raises(FileRefused, match="10MBまで"):
        check_file("big.pdf", b"x" * (LIMIT + 1), max_bytes=LIMIT)
    with pytest.raises(FileRefused, match="空のファイル"):
        check_file("empty.pdf", b"", max_bytes=LIMIT)
    assert check_file("exact.pdf", b"x" * LIMIT, max_bytes=LIMIT).size == LIMIT


def test_names_keep_japanese_and_lose_paths_and_control_characters() -> None:
    assert safe_file_name("C:\\Users\\taro\\𠮷野の書類.pdf") == "𠮷野の書類.pdf"
    assert safe_file_name("../../etc/passwd") == "passwd"
    assert safe_file_name('a"b<c>\r\n.pdf') == "a_b_c___.pdf"
    assert safe_file_name("ｶﾞ.pdf") == "ｶﾞ.pdf"  # NFC keeps half-width kana as typed
    long = "長" * 300 + ".pdf"
    assert len(safe_file_name(long)) == 255 and safe_file_name(long).endswith(".pdf")
    with pytest.raises(FileRefused):
        safe_file_name("...")


@pytest.mark.parametrize(
    "name",
    [
        "run.ba\u200bt",  # a zero-width space: the download header drops it and the browser saves run.bat
        "run.b\u00adat",  # a soft hyphen, dropped the same way
        "setup.ex\u2060e",  # a word joiner
        "run.ｂａｔ",  # full-width letters: the ASCII fallback of the download header reads run.bat
        "report\u202egpj.exe",  # a right-to-left override hiding .exe
    ],
)
def test_programs_hidden_behind_invisible_or_full_width_characters_are_refused(name: str) -> None:
    with pytest.raises(FileRefused, match="実行できる形式"):
        check_file(name, b"@echo off\r\n", max_bytes=LIMIT)


def test_names_drop_invisible_characters_and_keep_ideographic_spaces() -> None:
    assert safe_file_name("給与\u200b明細\u202e.pdf") == "給与明細.pdf"
    assert safe_file_name("給与\u3000明細.pdf") == "給与\u3000明細.pdf"


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("写真.zip", b"JUNK" * 10 + _zip({"setup.exe": b"hello"})),  # a program behind a prefix (self-extracting style)
        ("二重.zip", _zip({"inner.zip": _zip({"setup.exe": b"hello"})})),  # a program inside an archive inside one
        ("三重.zip", _zip({"a.zip": _zip({"b.zip": _zip({"run.bat": b"echo"})})})),
    ],
)
def test_archives_hidden_behind_a_prefix_or_inside_archives_are_read_too(name: str, data: bytes) -> None:
    with pytest.raises(FileRefused, match="送信できません"):
        check_file(name, data, max_bytes=LIMIT)


@pytest.mark.parametrize(
    "name",
    ["山田_123456789018.pdf", "番号 1234-5678-9018.pdf", "１２３４５６７８９０１８.txt", "123456789018_20241201.pdf"],
)
def test_names_that_may_hold_a_my_number_are_refused_without_echoing_it(name: str) -> None:
    with pytest.raises(FileRefused, match="ファイル名") as refused:
        check_file(name, b"%PDF-1.4", max_bytes=LIMIT)
    assert "5678" not in refused.value.message and "５６７８" not in refused.value.message


def _stored_zip(entries: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def test_archives_inside_an_archive_are_read_within_one_budget() -> None:
    import os

    # Each level passes the ratio check (about 120:1) yet reading every archive inside would cost gigabytes.
    leaf = _stored_zip({"a.bin": os.urandom(30_000) + b"\x00" * (4 * 1024 * 1024)})  # 4 MB as bytes
    middle = _zip({f"in{n}.zip": leaf for n in range(40)})  # about 1.4 MB, 160 MB to read
    outer = _stored_zip({f"m{n}.zip": middle for n in range(20)})  # 3.2 GB to read through
    with pytest.raises(FileRefused, match="極端に大きく"):
        check_file("入れ子.zip", outer, max_bytes=64 * 1024 * 1024)


def test_a_file_just_over_the_limit_is_told_it_is_over_not_that_it_is_the_limit() -> None:
    with pytest.raises(FileRefused) as refused:
        check_file("big.pdf", b"x" * (LIMIT + 1), max_bytes=LIMIT)
    assert "「big.pdf」は10.1MBあります" in refused.value.message and "10MBまで" in refused.value.message
    with pytest.raises(FileRefused, match=r"12\.5MB"):
        check_file("big.pdf", b"x" * (LIMIT + LIMIT // 4), max_bytes=LIMIT)


def test_a_download_keeps_the_ideographic_space_of_a_kept_name() -> None:
    from urllib.parse import unquote

    from app.http import attachment

    header = attachment(safe_file_name("給与明細\u30002024年.pdf"))
    assert unquote(header.split("filename*=UTF-8''", 1)[1]) == "給与明細\u30002024年.pdf"
    assert "\r" not in attachment("a\r\nSet-Cookie: x.pdf") and "\n" not in attachment("a\r\nb.pdf")


@pytest.mark.parametrize(
    "name",
    ["20241201123456.pdf", "IMG_20241201_123456.jpg", "scan_123456789012.pdf", "2024年 源泉徴収票 12345.pdf"],
)
def test_scanner_and_camera_names_are_not_taken_for_my_numbers(name: str) -> None:
    # 14 digits, 8 + 6 digits, and 12 digits whose check digit is wrong: not a My Number, kept as named.
    assert check_file(name, b"%PDF-1.4", max_bytes=LIMIT).name == name
