"""Form inputs of the self-service pages (every field a string; the services validate)."""

from __future__ import annotations

import msgspec


class InvitationForm(msgspec.Struct, kw_only=True):
    # One checkbox per employee: a single tick arrives as a string, several as a list.
    person_id: list[str] | str = ""
    # Which button: the ticked ones, everyone not yet invited on this page, or everyone matching the filter.
    scope: str = "selected"
    # The filter and page the form was shown with (hidden fields; a page past the numbered ones by its cursor).
    department: str = ""
    status: str = ""
    page: str = "1"
    after: str = ""
    before: str = ""

    @property
    def person_ids(self) -> list[str]:
        values = [self.person_id] if isinstance(self.person_id, str) else self.person_id
        return [value for value in values if value]


class NumberForm(msgspec.Struct, kw_only=True):
    number: str = ""


class DependantForm(msgspec.Struct, kw_only=True):
    name: str = ""
    kana: str = ""
    relationship: str = ""
    birth_date: str = ""
    number: str = ""


class CorrectionForm(msgspec.Struct, kw_only=True):
    reason: str = ""
    note: str = ""


class DeclineForm(msgspec.Struct, kw_only=True):
    reason: str = ""
