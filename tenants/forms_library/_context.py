"""What every form fills in from the tenant: its name, address, representative, phone, the day and its notice."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from app.tenancy import Tenant
from app.text import format_japanese_era
from tenants.forms_library._writer import BLANK
from tenants.purposes import Audience, notice_text, notified_purposes


@dataclass(frozen=True, slots=True)
class FormContext:
    """The tenant's details as the forms print them; what the tenant never gave is a blank to fill in by hand."""

    name: str
    address: str
    representative: str
    phone: str
    dated: str  # 制定日 / 作成日 in 和暦 (令和8年12月1日)
    purpose_notice: str  # the 利用目的の通知 employees read (tenants.purposes.notice_text)
    purposes: tuple[str, ...]  # every notified purpose, employees' then payees' (tenants.purposes)

    @classmethod
    def of(cls, tenant: Tenant, today: dt.date) -> FormContext:
        """The context for ``tenant`` on ``today`` (the JST day the form is made)."""
        address = tenant.address.strip()
        if address and tenant.postal_code.strip():
            address = f"〒{tenant.postal_code.strip()}　{address}"
        return cls(
            name=tenant.name,
            address=address or BLANK * 2,
            representative=tenant.representative.strip() or BLANK,
            phone=tenant.phone.strip() or BLANK,
            dated=format_japanese_era(today),
            purpose_notice=notice_text(tenant),
            purposes=tuple(
                dict.fromkeys(notified_purposes(tenant, Audience.EMPLOYEE) + notified_purposes(tenant, Audience.PAYEE))
            ),
        )
