"""Search keys: names found whatever the spaces, kana script, width or 異体字 (河合康則 finds 河合 康則)."""

from __future__ import annotations

import re
import unicodedata

from app.text._chars import SPACES, fold_width, strip_invisible
from app.text._kana import to_katakana
from app.text._names import without_variation_selectors

_SPACE_RUN = re.compile(f"[{SPACES}]+")
# Between the name's key and the kana's key in the stored column: a character no search key contains.
KEY_SEPARATOR = "|"


def search_key(text: str) -> str:
    """The form of a name or フリガナ that searches compare: no spaces, katakana for hiragana and half-width kana,
    ASCII for full-width letters and digits, lower case, 異体字 and variation sequences folded to the base kanji."""
    text = without_variation_selectors(unicodedata.normalize("NFC", strip_invisible(text)))
    text = to_katakana(fold_width(text))
    return _SPACE_RUN.sub("", text).replace(KEY_SEPARATOR, "").casefold()


def person_search_key(name: str, kana: str) -> str:
    """What a person's ``search_key`` column holds: the keys of the name and of the フリガナ."""
    return f"{search_key(name)}{KEY_SEPARATOR}{search_key(kana)}"
