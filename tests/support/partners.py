"""Partner offices for tests: an office with its admin and a staff member, and links made directly."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.models import Role
from app.config import Settings
from app.db import utcnow
from app.tenancy import Tenant, TenantKind
from app.vault import Vault
from partners.models import LinkPower, LinkSide, LinkStatus, PartnerLink
from partners.services import OFFICE_SEATS
from tests.support.world import Persona, make_persona, make_tenant


@dataclass
class Office:
    tenant: Tenant
    admin: Persona
    staff: Persona


async def make_office(
    db: AsyncSession, settings: Settings, vault: Vault, code: str = "sr-yamada", name: str = "山田社会保険労務士事務所"
) -> Office:
    """An office (tenant of kind partner) with an office admin and a staff member, both with TOTP."""
    tenant = await make_tenant(db, vault, code, name, kind=TenantKind.PARTNER)
    tenant.partner_registration_number = "13990001"
    tenant.admin_seats = OFFICE_SEATS
    admin = await make_persona(db, settings, vault, tenant, "boss", Role.PARTNER_ADMIN, name="社労 太郎")
    staff = await make_persona(db, settings, vault, tenant, "yamada", Role.PARTNER_STAFF, name="山田 花子")
    await db.commit()
    return Office(tenant, admin, staff)


async def make_link(
    db: AsyncSession,
    client: Tenant,
    office: Tenant,
    power: LinkPower,
    *,
    status: LinkStatus = LinkStatus.ACTIVE,
) -> PartnerLink:
    """A link made directly in the database (the pages' own flow is tested in tests/partners/test_links.py)."""
    now = utcnow()
    link = PartnerLink(
        tenant_id=client.id,
        partner_id=office.id,
        status=status,
        power=power,
        requested_by_side=LinkSide.CLIENT,
        requested_by=office.id,
        requested_by_name="テスト",
        consented_by=office.id,
        consented_by_name="テスト",
        consented_at=now,
        activated_at=now if status is LinkStatus.ACTIVE else None,
        ended_at=now if status is LinkStatus.ENDED else None,
    )
    db.add(link)
    await db.commit()
    return link
