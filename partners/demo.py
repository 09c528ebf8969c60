"""The partners' demo (`mnvault demo`): a 社労士事務所 linked to the demo company, with a file waiting for it.

Created once (idempotent, found by its code); its sign-in lines are printed every time. The link is made as the
company's admin would consent to it (番号の取扱い), and the office's staff member sends the company one file through
the real exchange service, so the company admin sees the sign-in notice and the badge at once.
"""

from __future__ import annotations

from typing import Final

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.models import Account, Role
from app.auth.principal import Principal
from app.blobs import BlobStore, blob_store_from_settings
from app.config import Settings
from app.db import utcnow
from app.tenancy import Tenant, TenantKind, TenantStatus
from app.text import format_date, today_in_japan
from app.vault import Vault
from app.vault.numbers import my_number_check_digit
from partners.models import LinkPower, LinkSide, LinkStatus, NoticeKind, PartnerLink
from partners.services import send_files, send_notice
from tenants.demo import ensure_demo_staff

DEMO_OFFICE_CODE: Final = "sato-sr"
DEMO_OFFICE_STAFF: Final = (
    ("sradmin", "佐藤 一郎", Role.PARTNER_ADMIN, True),
    ("srstaff", "鈴木 花子", Role.PARTNER_STAFF, True),
)
DEMO_FILE_NAME: Final = "2026年度 算定基礎届のご案内.txt"
DEMO_FILE_TEXT: Final = (
    "算定基礎届の提出時期になりました。\n"
    "7月1日現在の従業員の4月〜6月の報酬を、同封の様式にご記入のうえ、6月30日までにお送りください。\n"
    "佐藤社会保険労務士事務所\n"
)


async def ensure_demo_office(session: AsyncSession, settings: Settings, vault: Vault, client: Tenant) -> list[str]:
    """The demo office (code ``sato-sr``), its admin and a staff member with 機密ファイルの閲覧 (TOTP), an ACTIVE
    番号の取扱い link with ``client`` and one file sent to it; returns the lines to print."""
    office = (await session.execute(select(Tenant).where(Tenant.code == DEMO_OFFICE_CODE))).scalar_one_or_none()
    created = office is None
    if office is None:
        office = Tenant(
            code=DEMO_OFFICE_CODE,
            kind=TenantKind.PARTNER,
            name="佐藤社会保険労務士事務所",
            name_kana="サトウシャカイホケンロウムシジムショ",
            partner_registration_number="13990001",
            postal_code="530-0001",
            address="大阪府大阪市北区梅田1-1-1",  # fictional
            phone="06-1234-5678",  # fictional
            status=TenantStatus.ACTIVE,
        )
        session.add(office)
        await session.flush()
    await vault.create_tenant_keys(session, office.id)
    lines = await ensure_demo_staff(session, settings, vault, office, staff=DEMO_OFFICE_STAFF)
    notice_line: list[str] = []
    if created:
        staff = await _account(session, office, "srstaff")
        staff.confidential_access = True
        await _link(session, client, office)
        await session.flush()
        store = blob_store_from_settings(settings)
        try:
            await send_files(
                session, vault, store, settings, _principal(office, staff),
                to=client.id, files=[(DEMO_FILE_NAME, DEMO_FILE_TEXT.encode())], message="算定基礎届のご案内です。",
            )  # fmt: skip
            if await _demo_notice(session, settings, vault, store, client, office):
                notice_line = [
                    f"連絡管理: {client.name} からの入社の連絡が届いています（/partner/notices で台帳に反映）"
                ]
        finally:
            await store.close()
    return [
        f"デモ社労士事務所: {office.name}（事務所コード: {office.code}、{client.name} と連携中・番号の取扱い）",
        f"ログインURL: {settings.effective_base_url}/t/{office.code}/login",
        *lines,
        *notice_line,
    ]


async def _account(session: AsyncSession, office: Tenant, login_id: str) -> Account:
    statement = select(Account).where(Account.tenant_id == office.id, Account.login_id == login_id)
    return (await session.execute(statement)).scalar_one()


async def _link(session: AsyncSession, client: Tenant, office: Tenant) -> None:
    admin = (
        (await session.execute(select(Account).where(Account.tenant_id == client.id, Account.role == Role.ADMIN)))
        .scalars()
        .first()
    )
    now = utcnow()
    session.add(
        PartnerLink(
            tenant_id=client.id,
            partner_id=office.id,
            status=LinkStatus.ACTIVE,
            power=LinkPower.NUMBERS,
            requested_by_side=LinkSide.CLIENT,
            requested_by=admin.id if admin else office.id,
            requested_by_name=admin.name if admin else "",
            consented_by=admin.id if admin else None,
            consented_by_name=admin.name if admin else "",
            consented_at=now,
            activated_at=now,
        )
    )


async def _demo_notice(
    session: AsyncSession, settings: Settings, vault: Vault, store: BlobStore, client: Tenant, office: Tenant
) -> bool:
    """A 入社 notice from the demo company's admin, waiting (未) for the office to apply it (台帳に反映); False when
    the company has no admin to send it."""
    admin = (
        (await session.execute(select(Account).where(Account.tenant_id == client.id, Account.role == Role.ADMIN)))
        .scalars()
        .first()
    )
    if admin is None:
        return False
    eleven = "73519264801"  # made up; the check digit makes it a valid number for the demo
    typed = {
        "employee_code": "D9001",
        "name": "新人 𠮷子",
        "kana": "シンジン ヨシコ",
        "birth_date": "2003/06/15",
        "gender": "female",
        "address": "東京都千代田区千代田1-1",  # fictional
        "hire_date": format_date(today_in_japan()),
        "employment_type": "正社員",
        "social_insurance": "yes",
        "employment_insurance": "yes",
        "number": eleven + str(my_number_check_digit(eleven)),
    }
    await send_notice(
        session, vault, store, settings, _principal(client, admin), kind=NoticeKind.HIRE, to=office.id, typed=typed,
        message="本日入社の新入社員です。資格取得の手続きをお願いします。",
    )  # fmt: skip
    return True


def _principal(tenant: Tenant, account: Account) -> Principal:
    return Principal(
        account_id=account.id,
        tenant_id=tenant.id,
        tenant_code=tenant.code,
        tenant_name=tenant.name,
        tenant_kind=tenant.kind,
        login_id=account.login_id,
        name=account.name,
        role=account.role,
        totp_enabled=True,
        person_id=None,
        stepup_fresh=False,
        tenant_status=tenant.status,
        confidential_access=True,
    )
