"""「個人ボックスへ保管」 from an exchanged file (seed 002: 添付ファイルを個人ＢＯＸで保管): by the client's admin,
by an office's staff member through a 番号の取扱い link with the 機密 permission; refusals keep nothing."""

from __future__ import annotations

from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.events import AuditAction
from app.auth.models import Account
from app.config import Settings
from partners.models import LinkPower, PersonBoxFile
from tests.partners.exchange_support import pdf, post, rows, send
from tests.support.audit import entries
from tests.support.partners import make_link, make_office
from tests.support.people import make_employee
from tests.support.world import World, sign_in


async def _box(db: AsyncSession) -> list[PersonBoxFile]:
    await db.commit()
    found = await db.execute(select(PersonBoxFile).execution_options(populate_existing=True))
    return list(found.scalars())


async def test_the_client_admin_keeps_a_received_file_in_an_employees_box(
    app: Litestar, client: AsyncTestClient[Litestar], world: World, db: AsyncSession, settings: Settings
) -> None:
    office = await make_office(db, settings, app.state["vault"])
    await make_link(db, world.tenant, office.tenant, LinkPower.FILES)
    employee = await make_employee(db, world.tenant.id, "E100", "𠮷野 太郎")
    await db.commit()
    await sign_in(client, office.staff)
    await send(client, f"/partner/clients/{world.tenant.id}/files", [("扶養控除等申告書.pdf", pdf("申告書"))])
    (file,) = await rows(db)
    await sign_in(client, world.admin)
    detail = await client.get(f"/admin/files/{file.id}")
    assert "個人ボックスへ保管" in detail.text
    unknown = await post(client, f"/admin/files/{file.id}/box", {"employee_code": "X999"})
    assert unknown.status_code == 302  # type: ignore[attr-defined]
    assert "社員コード「X999」の従業員が見つかりません" in (await client.get(f"/admin/files/{file.id}")).text
    assert await _box(db) == []
    kept = await post(client, f"/admin/files/{file.id}/box", {"employee_code": "Ｅ１００", "note": "2026年分"})
    assert kept.status_code == 302  # type: ignore[attr-defined]
    (box_file,) = await _box(db)
    assert (box_file.person_id, box_file.file_name, box_file.note) == (employee.id, "扶養控除等申告書.pdf", "2026年分")
    (entry,) = await entries(db, world.tenant.id, AuditAction.BOX_STORE)
    assert entry.subject_person_id == employee.id
    opened = await client.get(f"/admin/people/{employee.id}/box/{box_file.id}")
    assert opened.content == pdf("申告書")
    assert len(await rows(db)) == 1  # the exchanged file stays


async def test_office_staff_keep_a_file_only_with_the_numbers_power_and_the_permission(
    app: Litestar, client: AsyncTestClient[Litestar], world: World, db: AsyncSession, settings: Settings
) -> None:
    office = await make_office(db, settings, app.state["vault"])
    link = await make_link(db, world.tenant, office.tenant, LinkPower.VIEW)
    employee = await make_employee(db, world.tenant.id, "E200", "山本 一郎")
    await db.commit()
    await sign_in(client, world.admin)
    await send(client, "/admin/files", [("入社連絡票.pdf", pdf("入社"))], office_id=office.tenant.id)
    (file,) = await rows(db)
    await sign_in(client, office.staff)
    refused = await post(client, f"/partner/files/{file.id}/box", {"employee_code": "E200"})
    assert refused.status_code == 302  # type: ignore[attr-defined]
    assert "個人ボックスに保管する権限がありません" in (await client.get(f"/partner/files/{file.id}")).text
    await db.execute(update(Account).where(Account.id == office.staff.account.id).values(confidential_access=True))
    await db.commit()
    still = await post(client, f"/partner/files/{file.id}/box", {"employee_code": "E200"})  # view-only link
    assert still.status_code == 302 and await _box(db) == []  # type: ignore[attr-defined]
    link.power = LinkPower.NUMBERS
    await db.merge(link)
    await db.commit()
    kept = await post(client, f"/partner/files/{file.id}/box", {"employee_code": "E200"})
    assert kept.status_code == 302  # type: ignore[attr-defined]
    (box_file,) = await _box(db)
    assert box_file.person_id == employee.id and box_file.uploaded_by_side.value == "partner"
    (entry,) = await entries(db, world.tenant.id, AuditAction.BOX_STORE)
    assert entry.actor_partner_id == office.tenant.id


async def test_an_office_changes_nothing_of_a_read_only_client_from_its_own_pages(
    app: Litestar, client: AsyncTestClient[Litestar], world: World, db: AsyncSession, settings: Settings
) -> None:
    import datetime as dt

    from app.tenancy import Tenant, TenantStatus
    from partners.models import ExchangeFile

    office = await make_office(db, settings, app.state["vault"])
    await make_link(db, world.tenant, office.tenant, LinkPower.NUMBERS)
    await make_employee(db, world.tenant.id, "E300", "川口 二郎")
    await db.execute(update(Account).where(Account.id == office.staff.account.id).values(confidential_access=True))
    await db.commit()
    await sign_in(client, world.admin)
    await send(client, "/admin/files", [("入社連絡票.pdf", pdf("入社"))], office_id=office.tenant.id)
    (file,) = await rows(db)
    ended = dt.date.today() - dt.timedelta(days=3)
    await db.execute(
        update(Tenant).where(Tenant.id == world.tenant.id).values(status=TenantStatus.ACTIVE, contract_ends_on=ended)
    )
    await db.commit()
    await sign_in(client, office.staff)
    assert (await client.get(f"/partner/files/{file.id}/download")).status_code == 200  # reading stays
    for action, data in (("box", {"employee_code": "E300"}), ("save", {"save_as": "confidential"}), ("delete", {})):
        refused = await post(client, f"/partner/files/{file.id}/{action}", data)
        assert refused.status_code == 302  # type: ignore[attr-defined]
    assert "読み取り専用" in (await client.get(f"/partner/files/{file.id}")).text
    (kept,) = await db.execute(select(ExchangeFile).execution_options(populate_existing=True))
    assert kept[0].saved_as is None and await _box(db) == []
