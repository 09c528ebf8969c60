"""Japanese text rules shared by every input and output path: forms, imports, the API, payee pages and PDFs.

- Names and free text (``clean_name``, ``clean_text``): NFC only (never NFKC), 異体字 (塚 U+FA10, 𠮷) and
  ideographic variation sequences kept as typed; emoji, control, bidi-override and private-use characters refused.
- フリガナ (``clean_kana``): hiragana and half-width kana become full-width katakana, separate or combining
  (han)dakuten are composed, long-vowel look-alikes become ー; romaji and kanji are refused.
- Numbers and codes (``compact_number``, ``clean_code``, ``insurance_number``): invisible characters and
  separators removed, full-width digits made ASCII (the browser check applies the same table); 雇用保険's
  被保険者番号 and 適用事業所番号 are 11 digits (``insurance_number``).
- Dates (``parse_date``, ``parse_year``, ``format_date``): 西暦 and 和暦 typed; shown as YYYY/MM/DD in JST everywhere.
- Search (``search_key``): names match ignoring spaces and kana script.
- PDFs (``printable``): what a PDF prints for a stored text (variation selectors dropped, the base kanji kept).
"""

from app.text._chars import INVISIBLE, fold_width, has_emoji, strip_invisible
from app.text._codes import (
    INSURANCE_NUMBER_LENGTH,
    clean_code,
    compact_number,
    format_insurance_number,
    insurance_number,
)
from app.text._dates import (
    EARLIEST_BIRTH_DATE,
    ERAS,
    JST,
    DateRejected,
    Era,
    format_date,
    japan_date,
    parse_date,
    parse_year,
    today_in_japan,
)
from app.text._era import format_japanese_era
from app.text._kana import clean_kana, to_katakana
from app.text._names import NAME_SEPARATOR, TextRejected, clean_name, clean_text, without_variation_selectors
from app.text._search import KEY_SEPARATOR, person_search_key, search_key


def printable(text: str) -> str:
    """A stored text as a PDF prints it: variation selectors dropped (葛󠄀城 → 葛城), everything else as stored."""
    return without_variation_selectors(text)


__all__ = [
    "EARLIEST_BIRTH_DATE",
    "ERAS",
    "INSURANCE_NUMBER_LENGTH",
    "INVISIBLE",
    "JST",
    "KEY_SEPARATOR",
    "NAME_SEPARATOR",
    "DateRejected",
    "Era",
    "TextRejected",
    "clean_code",
    "clean_kana",
    "clean_name",
    "clean_text",
    "compact_number",
    "fold_width",
    "format_date",
    "format_insurance_number",
    "format_japanese_era",
    "has_emoji",
    "insurance_number",
    "japan_date",
    "parse_date",
    "parse_year",
    "person_search_key",
    "printable",
    "search_key",
    "strip_invisible",
    "to_katakana",
    "today_in_japan",
    "without_variation_selectors",
]
