"""Every erasure of a number leaves its deletion record (削除記録), however it went (issue 11, tester's defect 2):
a number replaced by 代理登録, an approved correction request, a duplicate resolved as 誤り and an import that
replaces numbers all erase through the vault, and each now writes its record (same transaction, the acting person
as handler, a reason of its own), so the day's 削除証明書 lists them."""

from __future__ import annotations

import io
import re
import uuid
from collections.abc import AsyncIterator

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from pypdf import PdfReader
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.events import Actor
from app.config import Settings
from app.text import today_in_japan
from app.vault import Vault
from exchange.layouts import SEED
from exchange.services import commit_import
from tenants import services
from tenants.certificates import range_certificate
from tenants.models import DeletionRecord, DeletionResult, NumberDuplicate, PersonKind, Relationship
from tenants.services import RecordRange, _records
from tests.exchange.importing import N, csv_file
from tests.exchange.importing import arrange as arrange_import
from tests.support.people import ACTOR, give_number, make_department, make_dependant, make_employee, valid_my_number
from tests.support.principals import principal_of
from tests.support.world import World, post_form, sign_in
from tests.tenants.test_numbers import file_correction

Client = AsyncTestClient[Litestar]


@pytest.fixture
async def vault(settings: Settings) -> AsyncIterator[Vault]:
    arranging = Vault.from_settings(settings)
    yield arranging
    await arranging.close()


async def records(db: AsyncSession, tenant_id: uuid.UUID) -> list[DeletionRecord]:
    statement = (
        select(DeletionRecord)
        .where(DeletionRecord.tenant_id == tenant_id)
        .order_by(DeletionRecord.erased_at, DeletionRecord.subject_name)
        .execution_options(populate_existing=True)
    )
    return list((await db.execute(statement)).scalars())


async def erased_ids(db: AsyncSession, vault: Vault, tenant_id: uuid.UUID, person_id: uuid.UUID) -> uuid.UUID:
    return (await vault.number_info(db, tenant_id, [person_id]))[person_id].id


async def todays_certificate(db: AsyncSession, world: World) -> str:
    today = today_in_japan()
    certificate = await range_certificate(db, principal_of(world.admin), RecordRange(today, today))
    return "".join(re.sub(r"\s+", "", page.extract_text()) for page in PdfReader(io.BytesIO(certificate.pdf)).pages)


async def test_replacing_a_number_by_proxy_registration_leaves_a_record(
    client: Client, world: World, db: AsyncSession, vault: Vault
) -> None:
    sales = await make_department(db, world.tenant.id, "105", "人事部")
    employee = await make_employee(db, world.tenant.id, "104", "東野二郎", department=sales)
    child = await make_dependant(db, employee, "東野順子", Relationship.CHILD)
    old, new = valid_my_number(301), valid_my_number(302)
    await give_number(db, vault, employee, old)
    await give_number(db, vault, child, valid_my_number(303))
    await db.commit()
    old_id = await erased_ids(db, vault, world.tenant.id, employee.id)
    child_old = await erased_ids(db, vault, world.tenant.id, child.id)
    await sign_in(client, world.handler)  # registering is a handler's work; its replaced number is recorded
    response = await post_form(client, f"/admin/numbers/{employee.id}/register", {"number": new})
    assert response.status_code == 302  # type: ignore[attr-defined]
    response = await post_form(client, f"/admin/numbers/{child.id}/register", {"number": valid_my_number(304)})
    assert response.status_code == 302  # type: ignore[attr-defined]
    first, second = await records(db, world.tenant.id)
    assert (first.person_id, first.number_id, first.reason, first.result) == (
        employee.id,
        old_id,
        "replaced",
        DeletionResult.ERASED,
    )
    assert (first.subject_name, first.subject_kind, first.department_code, first.department_name) == (
        "東野二郎",
        PersonKind.EMPLOYEE,
        "105",
        "人事部",
    )
    assert (first.employee_code, first.handler_login_id, first.handler_name) == (
        "104",
        "handler",
        world.handler.account.name,
    )
    assert (second.subject_name, second.subject_kind, second.number_id) == (
        "東野二郎 > 東野順子",
        PersonKind.DEPENDANT,
        child_old,
    )
    # Registering someone without a number erases nothing and records nothing.
    newcomer = await make_employee(db, world.tenant.id, "105", "井原はじめ", department=sales)
    await db.commit()
    response = await post_form(client, f"/admin/numbers/{newcomer.id}/register", {"number": valid_my_number(305)})
    assert response.status_code == 302  # type: ignore[attr-defined]
    assert len(await records(db, world.tenant.id)) == 2
    text = await todays_certificate(db, world)
    assert "東野二郎" in text and "番号の変更" in text and old not in text and new not in text


async def test_approving_a_correction_leaves_a_record(
    client: Client, world: World, db: AsyncSession, vault: Vault
) -> None:
    employee = await make_employee(db, world.tenant.id, "001", "河合康則")
    number = valid_my_number(311)
    await give_number(db, vault, employee, number)
    await _records.confirm_by_admin(db, actor=ACTOR, person=employee)
    await db.commit()
    number_id = await erased_ids(db, vault, world.tenant.id, employee.id)
    request = await file_correction(db, world, employee)
    await sign_in(client, world.admin)
    response = await post_form(client, f"/admin/corrections/{request.id}/approve", {"confirmed": "yes"})
    assert response.status_code == 302  # type: ignore[attr-defined]
    (record,) = await records(db, world.tenant.id)
    assert (record.person_id, record.number_id, record.reason, record.reason_text) == (
        employee.id,
        number_id,
        "correction",
        "番号が変わった（再発行）",
    )
    assert (record.subject_name, record.employee_code, record.handler_login_id) == ("河合康則", "001", "admin")
    text = await todays_certificate(db, world)
    assert "河合康則" in text and "修正依頼の承認" in text and number not in text


async def test_resolving_a_duplicate_as_a_mistake_leaves_a_record(world: World, db: AsyncSession, vault: Vault) -> None:
    sales = await make_department(db, world.tenant.id, "200", "営業部")
    right = await make_employee(db, world.tenant.id, "E100", "佐藤 一郎", department=sales)
    wrong = await make_employee(db, world.tenant.id, "E200", "佐藤 次郎", department=sales)
    await db.commit()
    admin = principal_of(world.admin)
    number = valid_my_number(321)
    await services.proxy_register(db, vault, admin, right, number)
    await services.proxy_register(db, vault, admin, wrong, number)
    await db.commit()
    assert await records(db, world.tenant.id) == []  # two first registrations: nothing erased yet
    number_id = await erased_ids(db, vault, world.tenant.id, wrong.id)
    case = (await db.execute(select(NumberDuplicate))).scalar_one()
    resolution = services.DuplicateResolution(same_person=False, wrong_person_id=wrong.id)
    await services.resolve_duplicate(db, vault, admin, case, resolution)
    await vault.commit(db)
    (record,) = await records(db, world.tenant.id)
    assert (record.person_id, record.number_id, record.reason) == (wrong.id, number_id, "mistake")
    assert (record.subject_name, record.department_code, record.employee_code) == ("佐藤 次郎", "200", "E200")
    assert record.handler_login_id == "admin"
    text = await todays_certificate(db, world)
    assert "佐藤次郎" in text and "誤登録" in text and number not in text


async def test_an_import_that_replaces_numbers_leaves_a_record_each(
    world: World, db: AsyncSession, vault: Vault
) -> None:
    people = await arrange_import(db, vault, world)
    principal = principal_of(world.admin)
    actor = Actor(user_id=None, login_id="admin", name="岡 昌平", role="管理者", organisation="アクメ商事株式会社")
    replaced = {
        people.suzuki.id: await erased_ids(db, vault, world.tenant.id, people.suzuki.id),
        people.ito.id: await erased_ids(db, vault, world.tenant.id, people.ito.id),
    }
    rows = [f",004,鈴木 次郎,,,,{N[12]}", f",005,伊藤 五郎,,,,{N[13]}", f",002,山田 一郎,,,,{N[3]}"]
    outcome = await commit_import(db, vault, principal, actor, csv_file(SEED, rows), "seed", False)
    await vault.commit(db)
    assert outcome.replaced == 2
    found = await records(db, world.tenant.id)
    assert {(r.person_id, r.number_id, r.reason) for r in found} == {
        (person_id, number_id, "replaced") for person_id, number_id in replaced.items()
    }
    assert sorted((r.subject_name, r.employee_code, r.subject_kind) for r in found) == [
        ("伊藤 五郎", "005", PersonKind.EMPLOYEE),
        ("鈴木 次郎", "004", PersonKind.EMPLOYEE),
    ]
    assert {r.handler_login_id for r in found} == {"admin"}
    text = await todays_certificate(db, world)
    assert "鈴木次郎" in text and "伊藤五郎" in text and "山田一郎" not in text and N[2] not in text
