"""Form input of the partner pages (msgspec Structs, every field text as a browser posts it)."""

from __future__ import annotations

import msgspec


class OfficeForm(msgspec.Struct, kw_only=True):
    """The operator's form: a 社労士事務所 and its first admin."""

    code: str = ""
    name: str = ""
    registration_number: str = ""
    postal_code: str = ""
    address: str = ""
    phone: str = ""
    admin_login_id: str = ""
    admin_name: str = ""
    admin_email: str = ""


class OfficeEditForm(msgspec.Struct, kw_only=True):
    """The operator's edit of an office: its name, 社労士登録番号 and address."""

    name: str = ""
    registration_number: str = ""
    postal_code: str = ""
    address: str = ""
    phone: str = ""


class OfficeStaffForm(msgspec.Struct, kw_only=True):
    login_id: str = ""
    name: str = ""
    email: str = ""
    role: str = "partner_staff"


class OfficeStaffEditForm(msgspec.Struct, kw_only=True):
    name: str = ""
    email: str = ""
    role: str = "partner_staff"
    confidential_access: str = ""  # the checkbox 機密ファイルの閲覧: "on" when checked


class InviteOfficeForm(msgspec.Struct, kw_only=True):
    """A client admin invites an office by the office's code, granting a power."""

    office_code: str = ""
    power: str = "numbers"


class RequestClientForm(msgspec.Struct, kw_only=True):
    """An office admin asks a client (by the client's 事業者コード) for a link with a power."""

    client_code: str = ""
    power: str = "numbers"


class AcceptRequestForm(msgspec.Struct, kw_only=True):
    """The client admin's consent to an office's request: the power granted (may differ from the one asked)."""

    power: str = ""
