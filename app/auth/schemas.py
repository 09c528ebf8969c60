"""Form inputs of the sign-in pages (msgspec Structs; missing fields arrive as empty strings)."""

from __future__ import annotations

import msgspec


class SignInForm(msgspec.Struct, kw_only=True):
    tenant_code: str = ""
    login_id: str = ""
    password: str = ""
    next: str = ""
    fixed_code: str = ""  # "1" from the QR sign-in page (/t/<code>/login): the page stays that page


class CodeForm(msgspec.Struct, kw_only=True):
    code: str = ""
    next: str = ""


class NewPasswordForm(msgspec.Struct, kw_only=True):
    current_password: str = ""
    password: str = ""
    confirmation: str = ""


class ReauthForm(msgspec.Struct, kw_only=True):
    password: str = ""
    code: str = ""
    next: str = ""
