"""フリガナ: full-width katakana only. Hiragana, half-width kana, separate or combining (han)dakuten and the
long-vowel look-alikes are converted; anything else (romaji, kanji, symbols) is refused with a message.
"""

from __future__ import annotations

import re
import unicodedata

from app.text._chars import DASHES, SPACES, strip_invisible
from app.text._names import NAME_SEPARATOR, TextRejected

_HALF_WIDTH = dict(
    zip(
        "ｦｧｨｩｪｫｬｭｮｯｰｱｲｳｴｵｶｷｸｹｺｻｼｽｾｿﾀﾁﾂﾃﾄﾅﾆﾇﾈﾉﾊﾋﾌﾍﾎﾏﾐﾑﾒﾓﾔﾕﾖﾗﾘﾙﾚﾛﾜﾝﾞﾟ･",
        "ヲァィゥェォャュョッーアイウエオカキクケコサシスセソタチツテトナニヌネノハヒフヘホマミムメモヤユヨラリルレロワン゛゜・",
        strict=True,
    )
)
# Separate (゛ ゜, half-width ﾞ ﾟ already mapped to them) and combining marks are composed with the kana before.
_VOICED = {"\u309b": "\u3099", "\u309c": "\u309a"}
# Dashes and the half-width / full-width look-alikes of ー: all become the katakana long-vowel mark.
_LONG_VOWEL = re.compile(f"[{re.escape(DASHES.replace(chr(0x30FC), ''))}\uff5e\u301c~\u2500\u2501]")
_SPACE_RUN = re.compile(f"[{SPACES}]+")
_KATAKANA_LETTERS = "\u30a1-\u30ff\u31f0-\u31ff"  # ァ…ヺ, ・ (foreign names), ー, ヽヾヿ, small ㇰ…ㇿ
KATAKANA = re.compile(f"[{_KATAKANA_LETTERS}]+(?: [{_KATAKANA_LETTERS}]+)*")
KANA_MESSAGE = "はカタカナ（またはひらがな）で入力してください。ローマ字や漢字は使えません。"


_HALF_WIDTH_TABLE = str.maketrans(_HALF_WIDTH)
_HIRAGANA_TABLE = {code: code + 0x60 for code in (*range(0x3041, 0x3097), 0x309D, 0x309E)}
_MARKS = frozenset("\u309b\u309c\u3099\u309a")  # what _compose_marks acts on


def _compose_marks(text: str) -> str:
    if _MARKS.isdisjoint(text):
        return text
    out: list[str] = []
    for char in text:
        mark = _VOICED.get(char, char)
        if mark in ("\u3099", "\u309a") and out:
            composed = unicodedata.normalize("NFC", out[-1] + mark)
            if len(composed) == 1:
                out[-1] = composed
                continue
            raise TextRejected("kana", "の濁点（゛）・半濁点（゜）は、つけられる文字のあとに入力してください。")
        if mark in ("\u3099", "\u309a"):
            raise TextRejected("kana", "の濁点（゛）・半濁点（゜）は、つけられる文字のあとに入力してください。")
        out.append(char)
    return "".join(out)


def _convert(text: str, *, strict: bool) -> str:
    text = strip_invisible(text).translate(_HALF_WIDTH_TABLE).translate(_HIRAGANA_TABLE)
    try:
        text = _compose_marks(text)
    except TextRejected:
        if strict:
            raise
    text = _LONG_VOWEL.sub("ー", text)
    return unicodedata.normalize("NFC", _SPACE_RUN.sub(NAME_SEPARATOR, text).strip())


def to_katakana(text: str) -> str:
    """Convert what can be converted (hiragana, half-width kana, marks, dashes, spaces); never refuses (search)."""
    return _convert(text, strict=False)


def clean_kana(text: str) -> str:
    """フリガナ as stored (full-width katakana, one space between family and given name), or TextRejected."""
    text = _convert(text, strict=True)
    if text and not KATAKANA.fullmatch(text):
        raise TextRejected("kana", KANA_MESSAGE)
    return text
