"""Form inputs of the operator console and the tenant's account pages."""

from __future__ import annotations

import msgspec


class TenantForm(msgspec.Struct, kw_only=True):
    code: str = ""
    name: str = ""
    name_kana: str = ""
    corporate_number: str = ""
    postal_code: str = ""
    address: str = ""
    representative: str = ""
    phone: str = ""
    is_member: str = ""
    status: str = "trial"
    trial_ends_on: str = ""
    contract_ends_on: str = ""
    admin_seats: str = "2"


class StaffForm(msgspec.Struct, kw_only=True):
    login_id: str = ""
    name: str = ""
    email: str = ""
    role: str = "handler"


class TenantSettingsForm(msgspec.Struct, kw_only=True):
    require_totp_for_employees: str = ""
    purpose_notice: str = ""
