"""Names and free text: NFC (never NFKC), 異体字 and variation sequences kept, unprintable characters refused."""

from __future__ import annotations

import re
import unicodedata

from app.text._chars import (
    BIDI_CONTROLS,
    SPACES,
    VARIATION_SELECTORS,
    has_emoji,
    is_ideograph,
    nfc_keeping_variants,
    strip_invisible,
)

# The one separator between family and given name (and between words of free text): a single ASCII space.
NAME_SEPARATOR = " "
_SPACE_RUN = re.compile(f"[{SPACES}]+")
_LINE_SPACE_RUN = re.compile("[\t\v\f \u00a0\u1680\u2000-\u200a\u202f\u205f\u3000]+")


class TextRejected(ValueError):
    """The text holds a character that cannot be kept; ``message`` is the Japanese sentence (without the label)."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message


def _problem(text: str, *, multiline: bool) -> TextRejected | None:
    if has_emoji(text):
        return TextRejected("emoji", "に絵文字は使えません。文字で入力してください。")
    previous = ""
    for char in text:
        category = unicodedata.category(char)
        if char in BIDI_CONTROLS:
            return TextRejected("bidi", "に文字の向きを変える制御文字が含まれています。入力し直してください。")
        if category == "Cc" and not (multiline and char == "\n"):
            return TextRejected("control", "に制御文字（改行・タブなど表示できない文字）が含まれています。")
        if category == "Co":
            return TextRejected(
                "private_use", "に外字（私用領域の文字）が含まれています。通常の漢字に置き換えてください。"
            )
        if category in ("Cf", "Cs") or (category == "Cn" and not 0x20000 <= ord(char) <= 0x3FFFF):
            return TextRejected("unknown", "に表示できない文字が含まれています。入力し直してください。")
        if VARIATION_SELECTORS.fullmatch(char) and not is_ideograph(previous):
            return TextRejected("unknown", "に表示できない文字が含まれています。入力し直してください。")
        previous = char if not VARIATION_SELECTORS.fullmatch(char) else previous
    return None


def clean_text(text: str, *, multiline: bool = False) -> str:
    """Free text as stored: invisible characters removed, NFC (異体字 kept), runs of spaces made one, trimmed.

    Refused (TextRejected): emoji, control characters (a line break only in multi-line text), bidi overrides,
    private-use characters (外字), unassigned code points. Ideographic variation sequences (葛 + U+E0100) stay.
    """
    text = nfc_keeping_variants(strip_invisible(text))
    if multiline:
        lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
        text = "\n".join(_LINE_SPACE_RUN.sub(" ", line).strip() for line in lines).strip()
    else:
        text = _SPACE_RUN.sub(" ", text).strip()
    problem = _problem(text, multiline=multiline)
    if problem is not None:
        raise problem
    return text


def clean_name(text: str) -> str:
    """A person's or company's name: as ``clean_text``, with one ``NAME_SEPARATOR`` between family and given name."""
    return _SPACE_RUN.sub(NAME_SEPARATOR, clean_text(text)).strip()


def without_variation_selectors(text: str) -> str:
    """The text with variation selectors removed (葛󠄀 → 葛): what an output that cannot show them prints."""
    return VARIATION_SELECTORS.sub("", text)
