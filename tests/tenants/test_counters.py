"""The counters equal a full recount after every kind of change, made through the services the pages call.

Each test changes people the way the product does (registration by the employee and by an admin, confirmations,
declining, erasure by a correction or a duplicate's resolution, retirement, moves between departments, new codes,
dependants added and deleted, payees) and checks ``stored_counts == recount`` and the placement columns the masked
list sorts by. ``tests/tenants/test_counters_concurrency.py`` covers concurrent writers.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import insert, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.config import Settings
from app.db import make_engine, new_id
from app.forms import FormInvalid
from app.vault import Vault
from selfservice import services as selfservice
from selfservice.schemas import CorrectionForm, DeclineForm
from selfservice.schemas import DependantForm as OwnDependantForm
from tenants import services
from tenants.listing import (
    apply_count_deltas,
    count_deltas,
    placement,
    recount,
    repair_counts,
    stored_counts,
)
from tenants.models import (
    NO_DEPARTMENT,
    CollectionStatus,
    Department,
    NumberDuplicate,
    PeopleCount,
    Person,
    PersonKind,
)
from tenants.schemas import DepartmentForm, DependantForm, EmployeeForm, PayeeForm, RetireForm
from tenants.services import _records
from tenants.services._people import add_person
from tests.support.people import ACTOR, make_department, make_dependant, make_employee, valid_my_number
from tests.support.principals import principal_of
from tests.support.world import World

S = CollectionStatus
K = PersonKind


@pytest.fixture
async def vault(settings: Settings) -> AsyncIterator[Vault]:
    arranging = Vault.from_settings(settings)
    yield arranging
    await arranging.close()


async def counted(db: AsyncSession, tenant_id: uuid.UUID) -> dict[tuple[uuid.UUID, K, S], int]:
    """The stored counters, checked against a recount, as ``{(department, kind, status): n}``."""
    kept = await stored_counts(db, tenant_id)
    assert kept == await recount(db, tenant_id)
    return {(department, kind, status): n for (_, department, kind, status), n in kept.items()}


async def fresh(db: AsyncSession, *people: Person) -> None:
    for person in people:
        await db.refresh(person)


async def family(db: AsyncSession, world: World) -> tuple[Department, Department, Person, Person]:
    """営業 (S01) with 山田 (E100) and his child; an empty 開発 (D01)."""
    sales = await make_department(db, world.tenant.id, "S01", "営業")
    dev = await make_department(db, world.tenant.id, "D01", "開発")
    employee = await make_employee(db, world.tenant.id, "E100", "山田 太郎", department=sales, kana="ヤマダ タロウ")
    child = await make_dependant(db, employee, "山田 花子")
    await db.commit()
    return sales, dev, employee, child


def edit_form(person: Person, **changes: str) -> EmployeeForm:
    values = {
        "employee_code": person.employee_code or "",
        "name": person.name,
        "kana": person.kana,
        "birth_date": person.birth_date.isoformat() if person.birth_date else "",
        "department_id": str(person.department_id or ""),
        "hire_date": person.hire_date.isoformat() if person.hire_date else "",
    }
    return EmployeeForm(**{**values, **changes})


async def test_registering_by_the_employee_and_by_an_admin(db: AsyncSession, world: World, vault: Vault) -> None:
    sales, _, employee, child = await family(db, world)
    await services.proxy_register(db, vault, principal_of(world.admin), employee, valid_my_number(1))
    await db.commit()
    me = principal_of(world.employee, person_id=employee.id)
    await selfservice.register(db, vault, me, child, valid_my_number(2))
    await db.commit()
    counts = await counted(db, world.tenant.id)
    assert counts == {(sales.id, K.EMPLOYEE, S.PROXY_REGISTERED): 1, (sales.id, K.DEPENDANT, S.REGISTERED): 1}

    await selfservice.register(db, vault, me, child, valid_my_number(3))  # a new number: still 登録済, once
    await db.commit()
    assert await counted(db, world.tenant.id) == counts
    await fresh(db, child)
    assert child.registered_section == 0


async def test_confirming_by_the_employee_then_by_an_admin(db: AsyncSession, world: World, vault: Vault) -> None:
    sales, _, employee, _ = await family(db, world)
    number = valid_my_number(4)
    await services.proxy_register(db, vault, principal_of(world.admin), employee, number)
    await db.commit()
    await _records.confirm_by_self(db, actor=ACTOR, person=employee, function=selfservice.SELF_FUNCTION)
    await db.commit()
    assert (await counted(db, world.tenant.id))[(sales.id, K.EMPLOYEE, S.SELF_CONFIRMED)] == 1

    await services.confirm_number(db, vault, principal_of(world.admin), employee, number)
    await db.commit()
    counts = await counted(db, world.tenant.id)
    assert counts[(sales.id, K.EMPLOYEE, S.ADMIN_CONFIRMED)] == 1
    assert (sales.id, K.EMPLOYEE, S.SELF_CONFIRMED) not in counts


async def test_declining_and_taking_it_back(db: AsyncSession, world: World) -> None:
    sales, _, employee, child = await family(db, world)
    me = principal_of(world.employee, person_id=employee.id)
    await selfservice.decline(db, me, child, DeclineForm(reason="家族の分は出したくない"))
    await db.commit()
    assert (await counted(db, world.tenant.id))[(sales.id, K.DEPENDANT, S.DECLINED)] == 1

    await selfservice.withdraw_decline(db, me, child)
    await db.commit()
    counts = await counted(db, world.tenant.id)
    assert counts[(sales.id, K.DEPENDANT, S.NOT_REGISTERED)] == 1 and (sales.id, K.DEPENDANT, S.DECLINED) not in counts


async def test_an_approved_correction_erases_the_number_and_reopens(
    db: AsyncSession, world: World, vault: Vault
) -> None:
    sales, _, employee, _ = await family(db, world)
    number = valid_my_number(5)
    admin = principal_of(world.admin)
    await services.proxy_register(db, vault, admin, employee, number)
    await services.confirm_number(db, vault, admin, employee, number)
    await db.commit()
    me = principal_of(world.employee, person_id=employee.id)
    request = await selfservice.request_correction(db, me, employee, CorrectionForm(reason="reissued"))
    await db.commit()
    await services.decide_correction(db, vault, admin, str(request.id), approve=True)
    await db.commit()
    counts = await counted(db, world.tenant.id)
    assert counts == {(sales.id, K.EMPLOYEE, S.NOT_REGISTERED): 1, (sales.id, K.DEPENDANT, S.NOT_REGISTERED): 1}
    await fresh(db, employee)
    assert employee.registered_section == 1


async def test_resolving_a_duplicate_as_a_mistake_erases_one_number(
    db: AsyncSession, world: World, vault: Vault
) -> None:
    sales, _, employee, _ = await family(db, world)
    other = await make_employee(db, world.tenant.id, "E200", "佐藤 次郎", department=sales, kana="サトウ ジロウ")
    await db.commit()
    admin = principal_of(world.admin)
    number = valid_my_number(6)
    await services.proxy_register(db, vault, admin, employee, number)
    await services.proxy_register(db, vault, admin, other, number)
    await db.commit()
    case = (await db.execute(select(NumberDuplicate))).scalar_one()
    assert (await counted(db, world.tenant.id))[(sales.id, K.EMPLOYEE, S.PROXY_REGISTERED)] == 2

    resolution = services.DuplicateResolution(same_person=False, wrong_person_id=other.id)
    await services.resolve_duplicate(db, vault, admin, case, resolution)
    await db.commit()
    counts = await counted(db, world.tenant.id)
    assert counts[(sales.id, K.EMPLOYEE, S.PROXY_REGISTERED)] == 1
    assert counts[(sales.id, K.EMPLOYEE, S.NOT_REGISTERED)] == 1


async def test_retiring_and_reinstating_an_employee(db: AsyncSession, world: World) -> None:
    _, _, employee, _ = await family(db, world)
    before = await counted(db, world.tenant.id)
    admin = principal_of(world.admin)
    await services.retire_employee(db, admin, employee, RetireForm(retirement_date=services.today().isoformat()))
    await db.commit()
    assert await counted(db, world.tenant.id) == before  # retired people stay listed and counted
    await services.reinstate_employee(db, admin, employee)
    await db.commit()
    assert await counted(db, world.tenant.id) == before


async def test_moving_an_employee_moves_their_dependants(db: AsyncSession, world: World, vault: Vault) -> None:
    _, dev, employee, child = await family(db, world)
    me = principal_of(world.employee, person_id=employee.id)
    await selfservice.register(db, vault, me, child, valid_my_number(7))
    await db.commit()
    await services.update_employee(
        db, principal_of(world.admin), employee, edit_form(employee, department_id=str(dev.id))
    )
    await db.commit()
    await fresh(db, employee, child)
    assert (employee.list_department_id, employee.list_department_code) == (dev.id, "D01")
    assert (child.list_department_id, child.list_department_code, child.department_section) == (dev.id, "D01", 0)
    counts = await counted(db, world.tenant.id)
    assert counts == {(dev.id, K.EMPLOYEE, S.NOT_REGISTERED): 1, (dev.id, K.DEPENDANT, S.REGISTERED): 1}

    await services.update_employee(db, principal_of(world.admin), employee, edit_form(employee, department_id=""))
    await db.commit()
    await fresh(db, child)
    assert (child.list_department_id, child.list_department_code, child.department_section) == (None, "", 1)
    counts = await counted(db, world.tenant.id)
    assert counts == {(NO_DEPARTMENT, K.EMPLOYEE, S.NOT_REGISTERED): 1, (NO_DEPARTMENT, K.DEPENDANT, S.REGISTERED): 1}


async def test_a_new_employee_code_is_the_dependants_code_too(db: AsyncSession, world: World) -> None:
    _, _, employee, child = await family(db, world)
    await services.update_employee(db, principal_of(world.admin), employee, edit_form(employee, employee_code="E900"))
    await db.commit()
    await fresh(db, child)
    assert (child.list_owner_code, child.code_section) == ("E900", 0)
    employee.employee_code = None  # the form requires one; imports may leave it out
    await db.commit()
    await fresh(db, child)
    assert (child.list_owner_code, child.code_section) == ("", 1)
    await counted(db, world.tenant.id)


async def test_a_new_department_code_is_shown_for_everyone_in_it(db: AsyncSession, world: World) -> None:
    sales, _, employee, child = await family(db, world)
    await services.update_department(db, principal_of(world.admin), sales, DepartmentForm(code="S09", name="営業"))
    await db.commit()
    await fresh(db, employee, child)
    assert employee.list_department_code == child.list_department_code == "S09"
    await counted(db, world.tenant.id)


async def test_dependants_added_by_an_admin_and_by_the_employee_then_deleted(
    db: AsyncSession, world: World, vault: Vault
) -> None:
    sales, _, employee, _ = await family(db, world)
    admin = principal_of(world.admin)
    form = DependantForm(name="山田 次郎", kana="ヤマダ ジロウ", relationship="子", birth_date="2015-05-05")
    added = await services.add_dependant(db, admin, employee, form)
    me = principal_of(world.employee, person_id=employee.id)
    own = OwnDependantForm(
        name="山田 良子",
        kana="ヤマダ ヨシコ",
        relationship="配偶者",
        birth_date="1986-02-02",
        number=valid_my_number(8),
    )
    spouse = await selfservice.add_dependant(db, vault, me, employee, own)
    await db.commit()
    await fresh(db, added, spouse)
    assert (added.family_id, added.family_rank, added.list_owner_code, added.list_department_id) == (
        employee.id,
        1,
        "E100",
        sales.id,
    )
    counts = await counted(db, world.tenant.id)
    assert counts[(sales.id, K.DEPENDANT, S.NOT_REGISTERED)] == 2
    assert counts[(sales.id, K.DEPENDANT, S.REGISTERED)] == 1

    await db.delete(added)
    await db.commit()
    assert (await counted(db, world.tenant.id))[(sales.id, K.DEPENDANT, S.NOT_REGISTERED)] == 1


async def test_payees_are_counted_apart_from_any_department(db: AsyncSession, world: World, vault: Vault) -> None:
    form = PayeeForm(payee_type="individual", name="講師 佐藤", payment_kind="報酬・料金", address="東京都千代田区")
    payee = await services.add_payee(db, principal_of(world.admin), form)
    await db.commit()
    assert await counted(db, world.tenant.id) == {(NO_DEPARTMENT, K.PAYEE, S.NOT_REGISTERED): 1}
    await _records.register_number(
        db, vault, actor=ACTOR, person=payee, number=valid_my_number(9), channel=_records.Channel.PAYEE
    )
    await db.commit()
    assert await counted(db, world.tenant.id) == {(NO_DEPARTMENT, K.PAYEE, S.REGISTERED): 1}
    assert (payee.department_section, payee.code_section, payee.registered_section) == (2, 2, 0)


async def test_several_changes_in_one_flush(db: AsyncSession, world: World) -> None:
    """The employee moves while one dependant declines, another is deleted and a new one is added, and the new
    department gets a new code: all in one flush."""
    sales, dev, employee, child = await family(db, world)
    gone = await make_dependant(db, employee, "山田 三郎")
    await db.commit()
    employee.department_id = dev.id
    dev.code = "D02"
    child.status = S.DECLINED
    await db.delete(gone)
    newborn = Person(tenant_id=world.tenant.id, kind=K.DEPENDANT, employee_id=employee.id, name="山田 四郎")
    db.add(newborn)
    await db.commit()
    await fresh(db, child, newborn)
    for dependant in (child, newborn):
        assert (dependant.list_department_id, dependant.list_department_code) == (dev.id, "D02")
    counts = await counted(db, world.tenant.id)
    assert counts == {
        (dev.id, K.EMPLOYEE, S.NOT_REGISTERED): 1,
        (dev.id, K.DEPENDANT, S.DECLINED): 1,
        (dev.id, K.DEPENDANT, S.NOT_REGISTERED): 1,
    }
    assert sales.code == "S01"


async def test_changes_made_from_a_stale_copy_count_from_the_database(
    db: AsyncSession, world: World, settings: Settings
) -> None:
    """Another request changed the person after this session loaded it: what is counted (and where a new
    dependant is placed) comes from the database, not from the session's copy."""
    sales, dev, employee, child = await family(db, world)
    engine = make_engine(settings.effective_database_url, pool_size=2)
    try:
        async with async_sessionmaker(engine, expire_on_commit=False)() as other:
            mine = await other.get(Person, (world.tenant.id, child.id))
            boss = await other.get(Person, (world.tenant.id, employee.id))
            assert mine is not None and boss is not None
            await other.commit()
            child.status = S.REGISTERED  # meanwhile, in another request
            employee.department_id = dev.id
            await db.commit()
            mine.status = S.DECLINED  # this session still sees 未登録 in 営業
            other.add(Person(tenant_id=world.tenant.id, kind=K.DEPENDANT, employee_id=boss.id, name="山田 五郎"))
            await other.commit()
    finally:
        await engine.dispose()
    counts = await counted(db, world.tenant.id)
    assert counts == {
        (dev.id, K.EMPLOYEE, S.NOT_REGISTERED): 1,
        (dev.id, K.DEPENDANT, S.DECLINED): 1,
        (dev.id, K.DEPENDANT, S.NOT_REGISTERED): 1,
    }
    assert sales.id not in {department for department, _, _ in counts}


async def test_bulk_rows_counted_through_apply_count_deltas(db: AsyncSession, world: World) -> None:
    """What a bulk path does: placement for the rows it inserts, their deltas in the same transaction."""
    sales = await make_department(db, world.tenant.id, "S01", "営業")
    await db.commit()
    rows = []
    for i in range(3):
        person_id = new_id()
        values = placement(
            person_id=person_id,
            kind=K.EMPLOYEE,
            employee_code=f"B{i}",
            department_id=sales.id,
            registered=False,
            department_code="S01",
        )
        rows.append(
            {
                "tenant_id": world.tenant.id,
                "id": person_id,
                "kind": K.EMPLOYEE,
                "employee_code": f"B{i}",
                "name": f"一括 {i}",
                "department_id": sales.id,
                **values,
            }
        )
    await db.execute(insert(Person), rows)
    await apply_count_deltas(db, count_deltas(rows))
    await db.commit()
    assert await counted(db, world.tenant.id) == {(sales.id, K.EMPLOYEE, S.NOT_REGISTERED): 3}
    # keys may come raw (no department as None, kinds and statuses as strings); they are merged
    await db.execute(update(Person).where(Person.employee_code == "B0").values(status=S.DECLINED))
    await apply_count_deltas(
        db,
        {
            (world.tenant.id, sales.id, "employee", "未登録"): -1,
            (world.tenant.id, sales.id, K.EMPLOYEE, S.DECLINED): 1,
            (world.tenant.id, None, K.PAYEE, S.DECLINED): 0,
        },
    )
    await db.commit()
    assert (await counted(db, world.tenant.id))[(sales.id, K.EMPLOYEE, S.DECLINED)] == 1


async def test_repair_sets_wrong_counters_to_the_recount(db: AsyncSession, world: World) -> None:
    sales, _, _, _ = await family(db, world)
    await db.execute(update(PeopleCount).values(count=PeopleCount.count + 5))
    await db.execute(
        insert(PeopleCount).values(
            tenant_id=world.tenant.id, department_id=NO_DEPARTMENT, kind=K.PAYEE, status=S.ERASED, count=2
        )
    )
    await db.commit()
    wrong = await repair_counts(db, world.tenant.id)
    await db.commit()
    key = (world.tenant.id, sales.id, K.EMPLOYEE, S.NOT_REGISTERED)
    assert wrong[key] == (6, 1) and wrong[(world.tenant.id, NO_DEPARTMENT, K.PAYEE, S.ERASED)] == (2, 0)
    await counted(db, world.tenant.id)
    assert await repair_counts(db, world.tenant.id) == {}


async def test_another_tenants_counters_are_left_alone(db: AsyncSession, world: World) -> None:
    await family(db, world)
    stranger = await make_employee(db, world.other_tenant.id, "001", "よその人")
    await db.commit()
    assert stranger.list_department_id is None
    assert await counted(db, world.other_tenant.id) == {(NO_DEPARTMENT, K.EMPLOYEE, S.NOT_REGISTERED): 1}
    total = (await db.execute(text("SELECT sum(count) FROM people_counts"))).scalar_one()
    assert total == 3


async def test_a_refused_insert_counts_nothing(db: AsyncSession, world: World) -> None:
    """The 社員コード taken at the same moment: the insert fails inside its savepoint, and so does its count."""
    sales, _, employee, _ = await family(db, world)
    admin = principal_of(world.admin)
    values = {"employee_code": "E100", "name": "後から 登録", "department_id": sales.id}
    with pytest.raises(FormInvalid):
        await add_person(db, admin, K.EMPLOYEE, values, "従業員の登録")
    await db.commit()
    assert (await counted(db, world.tenant.id))[(sales.id, K.EMPLOYEE, S.NOT_REGISTERED)] == 1
    assert employee.employee_code == "E100"
