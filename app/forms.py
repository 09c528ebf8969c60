"""Validating form input: collect every field's Japanese error first, write nothing unless all are fine."""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections.abc import Mapping
from typing import TypeVar

import msgspec
from litestar.enums import RequestEncodingType
from litestar.params import Body

from app.audit.guard import contains_digit_run

FormT = TypeVar("FormT", bound=msgspec.Struct)

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

    def text(self, field: str, value: str, label: str, *, required: bool = False, max_length: int = 200) -> str:
        cleaned = clean_text(value)
        if required and not cleaned:
            self.fail(field, f"{label}を入力してください。")
        elif len(cleaned) > max_length:
            self.fail(field, f"{label}は{max_length}文字以内で入力してください。")
        return cleaned

    def code(self, field: str, value: str, label: str, *, required: bool = True, max_length: int = 32) -> str:
        cleaned = unicodedata.normalize("NFKC", value).strip()
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
        not_future: bool = False,
        today: dt.date | None = None,
    ) -> dt.date | None:
        cleaned = unicodedata.normalize("NFKC", value).strip().replace("/", "-")
        if not cleaned:
            if required:
                self.fail(field, f"{label}を入力してください。")
            return None
        try:
            parsed = dt.date.fromisoformat(cleaned)
        except ValueError:
            self.fail(field, f"{label}は 2024-04-01 の形式で正しい日付を入力してください。")
            return None
        if not_future and parsed > (today or dt.date.today()):
            self.fail(field, f"{label}に未来の日付は指定できません。")
        return parsed

    def integer(self, field: str, value: str, label: str, *, minimum: int = 0, maximum: int = 100000) -> int:
        cleaned = unicodedata.normalize("NFKC", value).strip()
        try:
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
    """NFKC-normalise (full-width ASCII to half-width, half-width kana to full-width) and trim."""
    return unicodedata.normalize("NFKC", value).strip()


def checkbox(value: str) -> bool:
    return value in ("on", "true", "1", "yes")


def scrubbed(form: FormT) -> FormT:
    """The form to show again after a failed post: every value kept except one that could hold a number."""
    blanked = {
        name: ""
        for name in form.__struct_fields__
        if isinstance(getattr(form, name), str) and contains_digit_run(getattr(form, name))
    }
    return msgspec.structs.replace(form, **blanked) if blanked else form
