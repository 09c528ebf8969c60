"""Character classes the rules share: invisible characters, separators, full-width forms, emoji."""

from __future__ import annotations

import re
import unicodedata

# Invisible characters that come with pasted text (Excel, PDFs, chat apps) and carry nothing: zero-width space,
# non-joiner and joiner, word joiner, BOM / zero-width no-break space, soft hyphen, left-to-right / right-to-left /
# Arabic letter marks, Mongolian vowel separator, invisible operators. Removed from every input.
INVISIBLE = "\u200b\u200c\u200d\u2060\ufeff\u00ad\u200e\u200f\u061c\u180e\u2061\u2062\u2063\u2064"
_INVISIBLE_RE = re.compile(f"[{INVISIBLE}]")

# Separators people type or paste between digit groups of a number: every kind of space, hyphen-minus and the
# dashes, minus signs, the katakana long-vowel mark (IMEs give ー for "-" in Japanese mode), dots, slashes.
SPACES = "\t\n\v\f\r \u00a0\u1680" + "".join(map(chr, range(0x2000, 0x200B))) + "\u2028\u2029\u202f\u205f\u3000"
DASHES = "-\u2010\u2011\u2012\u2013\u2014\u2015\u2212\u30fc\uff0d\uff70\ufe63\u2043"
NUMBER_SEPARATORS = SPACES + DASHES + "._/\u30fb\uff65\uff0e\uff3f\uff0f"

# Bidirectional embedding, override and isolate controls: they reorder what is shown (a name that reads
# differently from what is stored), so they are refused, never silently dropped.
BIDI_CONTROLS = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"

# Characters shown as emoji by default (Emoji_Presentation=Yes) in the BMP; every character from U+1F000 up to
# U+1FAFF is treated as emoji too (pictographs, enclosed alphanumerics, regional indicators, skin tones).
_BMP_EMOJI = (
    "\u231a\u231b\u23e9-\u23ec\u23f0\u23f3\u25fd\u25fe\u2614\u2615\u2648-\u2653\u267f\u2693\u26a1\u26aa\u26ab"
    "\u26bd\u26be\u26c4\u26c5\u26ce\u26d4\u26ea\u26f2\u26f3\u26f5\u26fa\u26fd\u2705\u270a\u270b\u2728\u274c"
    "\u274e\u2753-\u2755\u2757\u2795-\u2797\u27b0\u27bf\u2b1b\u2b1c\u2b50\u2b55"
)
_EMOJI_RE = re.compile(f"[{_BMP_EMOJI}\U0001f000-\U0001faff\u20e3\U000e0020-\U000e007f]|.\ufe0f")

VARIATION_SELECTORS = re.compile("[\ufe00-\ufe0f\U000e0100-\U000e01ef]")


def strip_invisible(text: str) -> str:
    """The text without the invisible characters listed in ``INVISIBLE``."""
    return _INVISIBLE_RE.sub("", text)


_FOLD_WIDTH = {code: code - 0xFEE0 for code in range(0xFF01, 0xFF5F)} | {0x3000: 0x20}


def fold_width(text: str) -> str:
    """Full-width ASCII (Ａ, １, －, ／ …) and the ideographic space turned into ASCII; nothing else changes."""
    return text.translate(_FOLD_WIDTH)


def has_emoji(text: str) -> bool:
    """Whether the text holds an emoji (by default or through the emoji variation selector U+FE0F)."""
    return _EMOJI_RE.search(text) is not None


def is_ideograph(char: str) -> bool:
    """A CJK ideograph (unified, extension or compatibility), the base of an ideographic variation sequence."""
    cp = ord(char)
    return (
        0x3400 <= cp <= 0x4DBF
        or 0x4E00 <= cp <= 0x9FFF
        or 0xF900 <= cp <= 0xFAFF
        or 0x20000 <= cp <= 0x3FFFF
        or char in "々〆〇"
    )


def is_compatibility_ideograph(char: str) -> bool:
    """A CJK compatibility ideograph that NFC would replace by its unified twin (塚 U+FA10 → 塚 U+585A)."""
    cp = ord(char)
    return (0xF900 <= cp <= 0xFAFF or 0x2F800 <= cp <= 0x2FA1F) and bool(unicodedata.decomposition(char))


def nfc_keeping_variants(text: str) -> str:
    """NFC, except that CJK compatibility ideographs (異体字 such as 塚 U+FA10) are kept exactly as typed."""
    if not any(is_compatibility_ideograph(c) for c in text):
        return unicodedata.normalize("NFC", text)
    parts: list[str] = []
    run: list[str] = []
    for char in text:
        if is_compatibility_ideograph(char):
            parts.append(unicodedata.normalize("NFC", "".join(run)))
            parts.append(char)
            run = []
        else:
            run.append(char)
    parts.append(unicodedata.normalize("NFC", "".join(run)))
    return "".join(parts)
