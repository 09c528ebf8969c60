"""Validating form input: collect every field's Japanese error first, write nothing unless all are fine."""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from collections.abc import Mapping
from typing import TypeVar

import msgspec
from litestar.enums import RequestEncodingType
from litestar.params import Body

from app import text as rules
from app.audit.guard import looks_like_number

FormT = TypeVar("FormT")  # a msgspec Struct or a dataclass instance

# A handler's ``data: Annotated[XForm, Form]`` is read from an url-encoded HTML form.
Form = Body(media_type=RequestEncodingType.URL_ENCODED)


class FormInvalid(Exception):
    """One or more fields are wrong; ``errors`` maps field name to a Japanese message saying what to fix."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("form invalid")
        self.errors = errors

    @property
    def message(self) -> str:
        """The first error, for a page that can only show one line (a flash after a button)."""
        return next(iter(self.errors.values()))


class Checker:
    """Accumulates field errors; `done()` raises FormInvalid when there are any."""

    def __init__(self) -> None:
        self.errors: dict[str, str] = {}

    def fail(self, field: str, message: str) -> None:
        self.errors.setdefault(field, message)

    def text(
        self,
        field: str,
        value: str,
        label: str,
        *,
        required: bool = False,
        max_length: int = 200,
        multiline: bool = False,
        kept_in_clear: bool = False,
    ) -> str:
        """Free text by the shared rules (``app.text.clean_text``): NFC, unprintable characters refused.

        ``kept_in_clear``: the text is stored and shown as typed (titles, descriptions others read), so what may
        hold a My Number (``looks_like_number``: 12+ digits, grouped, hyphenated or in kanji) is refused.
        """
        try:
            cleaned = rules.clean_text(value, multiline=multiline)
        except rules.TextRejected as exc:
            self.fail(field, f"{label}{exc.message}")
            return rules.strip_invisible(value).strip()
        if kept_in_clear and looks_like_number(cleaned):
            self.fail(field, f"{label}にマイナンバーの可能性がある12桁以上の数字は入力できません。")
            return ""
        return self._sized(field, cleaned, label, required=required, max_length=max_length)

    def name(self, field: str, value: str, label: str, *, required: bool = False, max_length: int = 100) -> str:
        """A person's or company's name (``app.text.clean_name``): one space between family and given name."""
        try:
            cleaned = rules.clean_name(value)
        except rules.TextRejected as exc:
            self.fail(field, f"{label}{exc.message}")
            return rules.strip_invisible(value).strip()
        return self._sized(field, cleaned, label, required=required, max_length=max_length)

    def kana(self, field: str, value: str, *, label: str = "フリガナ", required: bool = False) -> str:
        """フリガナ in full-width katakana (``app.text.clean_kana``: hiragana and half-width kana converted)."""
        try:
            cleaned = rules.clean_kana(value)
        except rules.TextRejected as exc:
            self.fail(field, f"{label}{exc.message}")
            return rules.strip_invisible(value).strip()
        return self._sized(field, cleaned, label, required=required, max_length=100)

    def _sized(self, field: str, cleaned: str, label: str, *, required: bool, max_length: int) -> str:
        if required and not cleaned:
            self.fail(field, f"{label}を入力してください。")
        elif len(cleaned) > max_length:
            self.fail(field, f"{label}は{max_length}文字以内で入力してください。")
        return cleaned

    def code(self, field: str, value: str, label: str, *, required: bool = True, max_length: int = 32) -> str:
        cleaned = rules.clean_code(value)
        if required and not cleaned:
            self.fail(field, f"{label}を入力してください。")
        elif cleaned and not re.fullmatch(r"[A-Za-z0-9_.\-]+", cleaned):
            self.fail(field, f"{label}は半角英数字と - _ . で入力してください。")
        elif len(cleaned) > max_length:
            self.fail(field, f"{label}は{max_length}文字以内で入力してください。")
        return cleaned

    def date(
        self,
        field: str,
        value: str,
        label: str,
        *,
        required: bool = False,
        birth: bool = False,
        not_future: bool = False,
        today: dt.date | None = None,
    ) -> dt.date | None:
        """A date typed as 西暦 or 和暦 (``app.text.parse_date``); a birth date lies between 1900 and today (JST)."""
        try:
            parsed = rules.parse_date(value, birth=birth, today=today)
        except rules.DateRejected as exc:
            self.fail(field, f"{label}{exc.message}")
            return None
        if parsed is None:
            if required:
                self.fail(field, f"{label}を入力してください。")
            return None
        if not_future and parsed > (today or rules.today_in_japan()):
            self.fail(field, f"{label}に未来の日付は指定できません。")
        return parsed

    def integer(self, field: str, value: str, label: str, *, minimum: int = 0, maximum: int = 100000) -> int:
        cleaned = rules.clean_code(value)
        try:
            if not cleaned.isascii():  # int() would read other scripts' digits
                raise ValueError(cleaned)
            number = int(cleaned)
        except ValueError:
            self.fail(field, f"{label}は半角数字で入力してください。")
            return minimum
        if not minimum <= number <= maximum:
            self.fail(field, f"{label}は{minimum}〜{maximum}の範囲で入力してください。")
        return number

    def choice(self, field: str, value: str, label: str, choices: Mapping[str, object]) -> str:
        if value not in choices:
            self.fail(field, f"{label}を選択してください。")
        return value

    def done(self) -> None:
        if self.errors:
            raise FormInvalid(self.errors)


def clean_text(value: str) -> str:
    """A query parameter or filter as compared (never refused): the shared text rules, or at least trimmed."""
    try:
        return rules.clean_text(value)
    except rules.TextRejected:
        return rules.strip_invisible(value).strip()


def checkbox(value: str) -> bool:
    return value in ("on", "true", "1", "yes")


def scrubbed(form: FormT) -> FormT:
    """The form to show again after a failed post: every value kept except one that could hold a number
    (a msgspec Struct or a dataclass)."""
    is_dataclass = dataclasses.is_dataclass(form)
    names = [f.name for f in dataclasses.fields(form)] if is_dataclass else list(form.__struct_fields__)  # type: ignore[arg-type, attr-defined]
    blanked = {
        name: "" for name in names if isinstance(getattr(form, name), str) and looks_like_number(getattr(form, name))
    }
    if not blanked:
        return form
    return dataclasses.replace(form, **blanked) if is_dataclass else msgspec.structs.replace(form, **blanked)  # type: ignore[type-var]
