"""Reading numbers shown in full (4-4-4 card layout) and the confirmation token out of a page."""

from __future__ import annotations

import re


def card_html(number: str) -> str:
    """How a number shown in full is written: one span per group, nothing between them (copy gives the digits)."""
    head = len(number) % 4
    groups = ([number[:head]] if head else []) + [number[i : i + 4] for i in range(head, len(number), 4)]
    return "".join(f"<span>{group}</span>" for group in groups)


def shown_numbers(html: str) -> list[str]:
    """The text a reader would copy out of each card-layout number on the page (tags dropped, nothing added)."""
    blocks = re.findall(r'<p class="[^"]*card-number[^"]*"[^>]*>(.*?)</p>', html, flags=re.S)
    return [re.sub(r"<[^>]+>", "", block) for block in blocks]


def confirmation_token(html: str) -> str:
    """The one-time confirmation token carried by the page's confirm form ("" when there is none)."""
    match = re.search(r'name="confirmation" value="([^"]*)"', html)
    return match.group(1) if match else ""


def hides(html: str, *numbers: str) -> bool:
    """True when none of ``numbers`` can be read on the page: neither written in one piece nor split over tags,
    spaces or hyphens (a 4-4-4 card is ``<span>1234</span><span>5678</span>…``, which a plain ``in`` misses)."""
    compact = re.sub(r"<[^>]+>|[\s\-]", "", html)
    return all(number not in html and number not in compact for number in numbers)
