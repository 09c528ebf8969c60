"""What may be sent as a file between a client and its 社労士事務所 (seed 000: 1ファイル10MBまで, exe・com等のプログラム
ファイルは送信できません), and the safe name it is kept under.

A file is refused by its CONTENT first (a renamed program is still a program): Windows PE (``MZ``), ELF, Mach-O
(32/64-bit, both byte orders, universal), scripts starting with ``#!``; then by its name's extension (.exe .com .bat
.cmd .js .vbs .ps1 .scr .msi .jar and their kin, which Windows runs whatever they contain; full-width letters read
as ASCII). A ZIP archive (by its first bytes or its end record) is read by its central directory: refused when it
names a program, or when its declared sizes make it a decompression bomb; archives inside it are read the same way
(bounded: ``ZIP_NESTED_BUDGET`` bytes, ``ZIP_MAX_DEPTH`` deep); no other entry is ever decompressed. A name loses
invisible characters (what the download header would drop) and may not hold what may be a My Number.
"""

from __future__ import annotations

import io
import math
import mimetypes
import re
import unicodedata
import zipfile
import zlib
from dataclasses import dataclass
from typing import Final

from app.audit.guard import redact_client_text
from app.vault.numbers import is_valid_my_number

NAME_MAX: Final = 255
# Windows runs these by name whatever their bytes (the seed's exe/com and the list, with their kin).
PROGRAM_EXTENSIONS: Final = frozenset(
    {
        "exe", "com", "bat", "cmd", "js", "jse", "vbs", "vbe", "ps1", "psm1", "psd1", "scr", "msi", "msp", "jar",
        "wsf", "wsh", "hta", "cpl", "dll", "sys", "lnk", "pif", "reg", "sh", "app", "apk", "appx", "msix",
        "application", "gadget", "inf", "scf", "url", "vb", "ws",
    }
)  # fmt: skip
_MACHO_MAGICS: Final = (
    b"\xfe\xed\xfa\xce",
    b"\xce\xfa\xed\xfe",
    b"\xfe\xed\xfa\xcf",
    b"\xcf\xfa\xed\xfe",
)
_CAFEBABE: Final = b"\xca\xfe\xba\xbe"  # Mach-O universal binary, or a Java class file: both programs
_ZIP_MAGIC: Final = b"PK\x03\x04"
# A ZIP whose entries would expand past this (declared sizes), or by more than this ratio, is a bomb.
ZIP_MAX_EXPANDED: Final = 1024 * 1024 * 1024
ZIP_MAX_RATIO: Final = 200
ZIP_MAX_ENTRIES: Final = 10_000
# Archives inside an archive are opened (bounded) to this depth; deeper nesting is refused.
ZIP_MAX_DEPTH: Final = 3
# All the archives inside one file are read within this many bytes together (each level's ratio check alone would
# let the work multiply with the depth); past it the file is refused as a bomb.
ZIP_NESTED_BUDGET: Final = 64 * 1024 * 1024
_UNSAFE_NAME = re.compile(r'[\x00-\x1f\x7f"*:<>?|\\/]')
# Characters a name loses (never shown, dropped by the download header too): format (zero-width, bidi overrides,
# soft hyphen), unassigned, private-use and surrogate code points, line and paragraph separators.
_INVISIBLE_CATEGORIES: Final = frozenset({"Cf", "Cn", "Co", "Cs", "Zl", "Zp"})


class FileRefused(ValueError):
    """The file may not be sent; ``message`` is the sender's Japanese sentence (what to do instead)."""

    def __init__(self, message: str) -> None:
        self.message = message
        super().__init__(message)


@dataclass(frozen=True, slots=True)
class CheckedFile:
    """A file that may be kept: its safe name, the type it is served as, and its bytes (``size`` in bytes)."""

    name: str
    content_type: str
    data: bytes

    @property
    def size(self) -> int:
        return len(self.data)


def safe_file_name(raw: str) -> str:
    """The name a file is kept and offered under: the last path component, NFC, no control or reserved
    characters (replaced by ``_``), at most 255 characters keeping the extension; Japanese kept as typed.

    Raises FileRefused when nothing usable is left.
    """
    name = unicodedata.normalize("NFC", raw or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(c for c in name if unicodedata.category(c) not in _INVISIBLE_CATEGORIES)
    name = _UNSAFE_NAME.sub("_", name).strip().strip(".")
    if not name:
        raise FileRefused("ファイル名がありません。名前の付いたファイルを選んでください。")
    if len(name) > NAME_MAX:
        stem, dot, extension = name.rpartition(".")
        if dot and 0 < len(extension) <= 10:
            name = stem[: NAME_MAX - len(extension) - 1] + "." + extension
        else:
            name = name[:NAME_MAX]
    return name


def extension_of(name: str) -> str:
    """The lower-case extension of a name without its dot ("" when none), full-width letters read as ASCII (NFKC:
    the download header's ASCII fallback turns ｂａｔ into bat)."""
    stem, dot, extension = name.rpartition(".")
    return unicodedata.normalize("NFKC", extension).lower() if dot and stem else ""


def program_kind(data: bytes) -> str | None:
    """What kind of program ``data`` is by its first bytes (``"Windows"``, ``"Linux"``, ``"macOS"``, ``"スクリプト"``),
    or None when it does not start like one."""
    head = data[:4]
    if data[:2] == b"MZ":
        return "Windows"
    if head == b"\x7fELF":
        return "Linux"
    if head in _MACHO_MAGICS or head == _CAFEBABE:
        return "macOS / Java"
    if data.lstrip(b"\xef\xbb\xbf")[:2] == b"#!":
        return "スクリプト"
    return None


# Digit groups of a name: digits, and the one separator people put between the groups of a number (1234-5678-9018).
_NAME_DIGITS = re.compile(r"\d+")
_GROUP_SEPARATORS = frozenset("-_. /,、・")


def name_holds_my_number(name: str) -> bool:
    """Whether a file name carries a My Number: 12 digits (alone, or in groups joined by one separator such as
    1234-5678-9018, full-width digits too) whose check digit is right (番号法施行令8条).

    File names are kept in clear (the list, the log), so such a name is refused; a scanner's or camera's name
    (``20241201123456.pdf``, 14 digits; ``IMG_20241201_123456.jpg``) is not a My Number and passes.
    """
    folded = unicodedata.normalize("NFKC", name)
    chains: list[list[str]] = []
    end = -2
    for match in _NAME_DIGITS.finditer(folded):
        joined = match.start() == end + 1 and folded[end] in _GROUP_SEPARATORS
        if joined and chains:
            chains[-1].append(match.group())
        else:
            chains.append([match.group()])
        end = match.end()
    for groups in chains:
        for first in range(len(groups)):
            digits = ""
            for group in groups[first:]:
                digits += group
                if len(digits) >= 12:
                    break
            if len(digits) == 12 and is_valid_my_number(digits):
                return True
    return False


def check_file(raw_name: str, data: bytes, *, max_bytes: int) -> CheckedFile:
    """Check one file to be sent or kept: size (1 byte to ``max_bytes``, MNV_EXCHANGE_MAX_FILE_BYTES), content,
    extension, archive contents; return it with its safe name and the type it is served as.

    Raises FileRefused with the Japanese reason. Source: seed 000 (10MB, no program files), issue 14.
    """
    name = safe_file_name(raw_name)
    if name_holds_my_number(name):
        raise FileRefused(
            f"「{redact_client_text(name)}」はファイル名にマイナンバーと同じ形の12桁の数字があるため送信できません。"
            "ファイル名を変えてから送ってください。"
        )
    if not data:
        raise FileRefused(f"「{name}」は空のファイルです。中身のあるファイルを選んでください。")
    if len(data) > max_bytes:
        raise FileRefused(
            f"「{name}」は{_megabytes(len(data))}あります。送信できるのは1ファイル{_megabytes(max_bytes)}までです。"
            "分割するか圧縮してから送ってください。"
        )
    kind = program_kind(data)
    if kind is not None:
        raise FileRefused(
            f"「{name}」はプログラム（{kind}）のため送信できません。プログラムや実行できるファイルは送れません。"
        )
    extension = extension_of(name)
    if extension in PROGRAM_EXTENSIONS:
        raise FileRefused(f"「{name}」は実行できる形式（.{extension}）のため送信できません。")
    if _is_archive(data):
        _check_archive(name, data, _Budget(ZIP_NESTED_BUDGET))
    content_type = mimetypes.guess_type(name, strict=False)[0] or "application/octet-stream"
    return CheckedFile(name=name, content_type=content_type[:100], data=data)


def _is_archive(data: bytes) -> bool:
    """A ZIP by its first bytes, or by its end of central directory (a ZIP behind a prefix, as self-extracting
    archives are: unzip tools and Windows open those too)."""
    return data[:4] == _ZIP_MAGIC or zipfile.is_zipfile(io.BytesIO(data))


@dataclass(slots=True)
class _Budget:
    """The bytes still to be read from archives inside one file."""

    left: int


def _check_archive(name: str, data: bytes, budget: _Budget, depth: int = 1) -> None:
    """Read a ZIP's central directory: refuse programs inside and bombs (by the declared sizes). Archives inside it
    are read in turn (``ZIP_MAX_DEPTH`` deep, ``ZIP_NESTED_BUDGET`` bytes in all); no other entry is decompressed."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            entries = archive.infolist()
            _check_entries(name, entries)
            for entry in entries:
                if extension_of(entry.filename) == "zip" and not entry.is_dir():
                    if depth >= ZIP_MAX_DEPTH:
                        raise FileRefused(f"「{name}」は圧縮ファイルの入れ子が深すぎるため送信できません。")
                    inner = _read_bounded(name, archive, entry, budget)
                    if inner is not None and _is_archive(inner):
                        _check_archive(name, inner, budget, depth + 1)
    except FileRefused:
        raise  # a ValueError too: not a damaged archive
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, EOFError):
        return  # a Word/Excel file or a damaged archive: kept as bytes, never opened on the server


def _check_entries(name: str, entries: list[zipfile.ZipInfo]) -> None:
    if len(entries) > ZIP_MAX_ENTRIES:
        raise FileRefused(f"「{name}」はファイル数が多すぎる圧縮ファイルのため送信できません。")
    expanded = sum(max(entry.file_size, 0) for entry in entries)
    packed = max(sum(max(entry.compress_size, 0) for entry in entries), 1)
    if expanded > ZIP_MAX_EXPANDED or expanded / packed > ZIP_MAX_RATIO:
        raise FileRefused(f"「{name}」は展開すると極端に大きくなる圧縮ファイルのため送信できません。")
    for entry in entries:
        inner = entry.filename.replace("\\", "/").rsplit("/", 1)[-1]
        if extension_of(_safe_name_or_blank(inner)) in PROGRAM_EXTENSIONS:
            raise FileRefused(
                f"「{name}」の中に実行できる形式のファイル（{safe_file_name(inner)}）があるため送信できません。"
            )


def _safe_name_or_blank(raw: str) -> str:
    """:func:`safe_file_name`, or "" for a name with nothing usable left."""
    try:
        return safe_file_name(raw)
    except FileRefused:
        return ""


def _read_bounded(name: str, archive: zipfile.ZipFile, entry: zipfile.ZipInfo, budget: _Budget) -> bytes | None:
    """An inner archive's bytes, read no further than what is left of the budget (past it: a bomb); None when it
    cannot be read (encrypted, damaged): then it is kept as bytes like any other entry."""
    limit = budget.left
    try:
        with archive.open(entry) as stream:
            data = stream.read(limit + 1)
    except (RuntimeError, NotImplementedError, zipfile.BadZipFile, zlib.error, EOFError, ValueError):
        return None
    if len(data) > limit:
        raise FileRefused(f"「{name}」は展開すると極端に大きくなる圧縮ファイルのため送信できません。")
    budget.left -= len(data)
    return data


def _megabytes(size: int) -> str:
    """A size in MB: whole numbers as such, others to one decimal rounded UP (10 MB and 1 byte reads 10.1MB, never
    the limit itself)."""
    value = size / (1024 * 1024)
    return f"{int(value)}MB" if value == int(value) else f"{math.ceil(value * 10) / 10:.1f}MB"
