"""cp932 as Windows writes it, and the characters it cannot hold: found, refused, replaced or fixed, reported."""

from __future__ import annotations

import enum
import re
import unicodedata
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache

from app.text import without_variation_selectors
from exchange.layouts import NUMBER_KINDS, Column

GETA = "〓"  # U+3013, the mark for a character that could not be written (0x81AC in cp932)


class Unencodable(enum.StrEnum):
    """What writing cp932 does with a character cp932 cannot hold."""

    REFUSE = "refuse"
    REPLACE = "replace"


class Action(enum.StrEnum):
    """What happened to one character in cp932."""

    REFUSED = "refused"  # not written: the caller must choose UTF-8, xlsx or replacement
    REPLACED = "replaced"  # written as 〓
    DROPPED = "dropped"  # a variation selector left out, the base character kept
    SUBSTITUTED = "substituted"  # a compatibility ideograph written as its canonical twin


@dataclass(frozen=True, slots=True)
class CharacterIssue:
    """One character of one cell that cp932 cannot hold as it is; ``line`` is the row number in the file."""

    line: int
    column: str
    char: str  # the character, or a base character with its variation selector
    action: Action
    replacement: str = ""
    text: str = ""  # the whole cell, to show which name it is ("" for number columns)
    person_id: str = ""  # whose row it is (set by the export's survey; the API lists it, never a number)

    @property
    def code_points(self) -> str:
        """``U+20BB7`` (``U+845B U+E0100`` for a variation sequence)."""
        return " ".join(f"U+{ord(c):04X}" for c in self.char)

    @property
    def message(self) -> str:
        """The Japanese sentence for the report."""
        where = f"{self.line}行目「{self.column}」の「{self.char}」（{self.code_points}）"
        if self.action is Action.DROPPED:
            return f"{where}は異体字セレクタを外し「{self.replacement}」として出力します。"
        if self.action is Action.SUBSTITUTED:
            return f"{where}は cp932 にないため、同じ字の標準の字形「{self.replacement}」で出力します。"
        if self.action is Action.REPLACED:
            return f"{where}は cp932（Shift_JIS）で出力できないため「{GETA}」に置き換えます。"
        return (
            f"{where}は cp932（Shift_JIS）で出力できません。"
            f"UTF-8 か Excel（.xlsx）で出力するか、「{GETA}」に置き換えて出力してください。"
        )


class UnencodableText(ValueError):
    """Writing cp932 with ``Unencodable.REFUSE`` met characters cp932 cannot hold; ``issues`` lists them."""

    def __init__(self, issues: Sequence[CharacterIssue]) -> None:
        self.issues = list(issues)
        self.message = (
            f"cp932（Shift_JIS）で出力できない文字が{len(self.issues)}か所あります。"
            f"UTF-8 か Excel（.xlsx）で出力するか、「{GETA}」に置き換えて出力してください。"
        )
        super().__init__(self.message)


# cp932 --------------------------------------------------------------------------------------------------------

_WINDOWS_FORMS = str.maketrans({"\u2014": "\u2015"})
_VARIATION_SELECTOR = re.compile("[\ufe00-\ufe0f\U000e0100-\U000e01ef]")


def _two_byte_codes(leads: Iterable[int]) -> Iterator[bytes]:
    for lead in leads:
        for trail in (*range(0x40, 0x7F), *range(0x80, 0xFD)):
            yield bytes((lead, trail))


def _ibm_codes() -> dict[str, bytes]:
    """Each character Python writes as a NEC-selected IBM extension code, with its IBM extension code."""
    ibm: dict[str, bytes] = {}
    for code in _two_byte_codes((0xFA, 0xFB, 0xFC)):
        try:
            ibm.setdefault(code.decode("cp932"), code)
        except UnicodeDecodeError:
            continue
    return {char: code for char, code in ibm.items() if char.encode("cp932")[0] in (0xED, 0xEE)}


_IBM_CODES = _ibm_codes()
_NEC_SELECTED = re.compile("[" + "".join(sorted(_IBM_CODES)) + "]")


def encode_cp932(text: str) -> bytes:
    """The text in cp932 as Windows writes it (IBM extension codes; — as 0x815C); UnicodeEncodeError otherwise."""
    text = text.translate(_WINDOWS_FORMS)
    if not _NEC_SELECTED.search(text):
        return text.encode("cp932")
    parts: list[bytes] = []
    start = 0
    for match in _NEC_SELECTED.finditer(text):
        parts.append(text[start : match.start()].encode("cp932"))
        parts.append(_IBM_CODES[match.group()])
        start = match.end()
    parts.append(text[start:].encode("cp932"))
    return b"".join(parts)


@lru_cache(maxsize=4096)
def _in_cp932(char: str) -> bool:
    try:
        char.translate(_WINDOWS_FORMS).encode("cp932")
    except UnicodeEncodeError:
        return False
    return True


def cp932_form(text: str) -> str:
    """The text as it reads back from a cp932 file (variation selectors dropped, 〜 → ～ …; 〓 for the rest)."""
    converted, _changes = _cp932_text(text, Unencodable.REPLACE)
    return encode_cp932(converted).decode("cp932")


def _cp932_text(text: str, mode: Unencodable) -> tuple[str, list[tuple[str, Action, str]]]:
    """The text made writable in cp932, with each change: (character, action, what was written instead)."""
    out: list[str] = []
    changes: list[tuple[str, Action, str]] = []
    for char in text:
        if _VARIATION_SELECTOR.fullmatch(char):
            base = out[-1] if out else ""
            changes.append((base + char, Action.DROPPED, base))
        elif _in_cp932(char):
            out.append(char)
        elif (twin := unicodedata.normalize("NFC", char)) != char and all(_in_cp932(c) for c in twin):
            out.append(twin)
            changes.append((char, Action.SUBSTITUTED, twin))
        elif mode is Unencodable.REPLACE:
            out.append(GETA)
            changes.append((char, Action.REPLACED, GETA))
        else:
            out.append(char)
            changes.append((char, Action.REFUSED, ""))
    return "".join(out), changes


def cell_issues(line: int, column: Column, text: str, mode: Unencodable) -> tuple[str, list[CharacterIssue]]:
    converted, changes = _cp932_text(text, mode)
    shown = "" if column.kind in NUMBER_KINDS else without_variation_selectors(text)
    issues = [CharacterIssue(line, column.name, char, action, written, shown) for char, action, written in changes]
    return converted, issues


def row_fits(cells: Sequence[str]) -> bool:
    try:
        encode_cp932("\x1f".join(cells))
    except UnicodeEncodeError:
        return False
    return True


def scan_cp932(
    columns: Sequence[Column], rows: Iterable[Sequence[str]], *, first_line: int = 2
) -> list[CharacterIssue]:
    """Every character of these rows that cp932 cannot hold as it is, before writing (rows as ``Layout.rows``).

    ``first_line`` is the file's row number of the first row (2: the header is row 1). Issues of refused
    characters have ``Action.REFUSED``; those writing fixes anyway (variation selectors, compatibility
    ideographs) their own action.
    """
    issues: list[CharacterIssue] = []
    for line, cells in enumerate(rows, start=first_line):
        if row_fits(cells):
            continue
        for column, text in zip(columns, cells, strict=True):
            if not row_fits((text,)):
                issues.extend(cell_issues(line, column, text, Unencodable.REFUSE)[1])
    return issues
