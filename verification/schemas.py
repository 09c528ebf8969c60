"""Form bodies of the verification pages (msgspec Structs; the upload itself is read as multipart)."""

from __future__ import annotations

import msgspec


class RejectForm(msgspec.Struct, kw_only=True):
    reason: str = ""
    note: str = ""


class ManualRecordForm(msgspec.Struct, kw_only=True):
    method: str = ""
    number_document: str = ""
    identity_1: str = ""
    identity_2: str = ""
    note: str = ""


class OptionForm(msgspec.Struct, kw_only=True):
    enabled: str = ""
