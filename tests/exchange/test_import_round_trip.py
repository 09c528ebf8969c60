"""The tenant's people written as a file (every layout and encoding) and checked back: nothing to change."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.vault import Vault
from exchange import Encoding, FamilyRecord, PersonRecord, Role, write_file
from exchange.checks import Code
from exchange.layouts import FULL, SEED, Layout, WithholdingLayout
from exchange.services import check_import
from tenants.models import Department, Person, PersonKind
from tests.exchange.importing import N, admin, arrange, csv_file
from tests.support.people import give_number, make_employee
from tests.support.world import World

LAYOUTS: dict[str, Layout] = {"seed": SEED, "full": FULL, "withholding": WithholdingLayout(2025)}


def _record(person: Person, numbers: dict[uuid.UUID, str]) -> PersonRecord:
    return PersonRecord(
        name=person.name,
        kana=person.kana,
        birth_date=person.birth_date,
        relationship=person.relationship.value if person.relationship else "",
        my_number=numbers.get(person.id, ""),
        status=person.status.value,
    )


async def families_of(db: AsyncSession, tenant_id: uuid.UUID, numbers: dict[uuid.UUID, str]) -> list[FamilyRecord]:
    """The tenant's families as an export gives them (employees by 社員コード with their dependants, then payees)."""
    people = list((await db.execute(select(Person).where(Person.tenant_id == tenant_id))).scalars())
    departments = {d.id: d for d in (await db.execute(select(Department))).scalars()}
    families = []
    for employee in sorted((p for p in people if p.kind is PersonKind.EMPLOYEE), key=lambda p: p.employee_code or ""):
        department = departments.get(employee.department_id) if employee.department_id else None
        dependants = sorted((p for p in people if p.employee_id == employee.id), key=lambda p: (p.created_at, p.id))
        families.append(
            FamilyRecord(
                _record(employee, numbers),
                employee_code=employee.employee_code or "",
                department_code=department.code if department else "",
                department_name=department.name if department else "",
                dependants=tuple(_record(d, numbers) for d in dependants),
            )
        )
    families += [FamilyRecord(_record(p, numbers), role=Role.PAYEE) for p in people if p.kind is PersonKind.PAYEE]
    return families


@pytest.mark.parametrize("encoding", list(Encoding))
@pytest.mark.parametrize("name", list(LAYOUTS))
async def test_an_exported_file_checks_back_as_unchanged(
    vault: Vault, db: AsyncSession, world: World, name: str, encoding: Encoding
) -> None:
    people = await arrange(db, vault, world)
    principal = admin(world)
    variant = await make_employee(db, principal.tenant_id, "006", "葛\U000e0100城 髙﨑", kana="カツラギ タカサキ")
    for person, number in ((people.sato_child, N[15]), (variant, N[16])):
        await give_number(db, vault, await db.merge(person), number)
    await db.commit()
    numbers = {
        people.kawai.id: N[1],
        people.suzuki.id: N[2],
        people.ito.id: N[9],
        people.sato_child.id: N[15],
        variant.id: N[16],
    }
    layout = LAYOUTS[name]
    families = [f for f in await families_of(db, principal.tenant_id, numbers) if f.role in layout.roles]
    data = b"".join(write_file(layout.columns, layout.table(families), encoding))

    report = await check_import(db, vault, principal, data, name)

    assert report.rejected == "" and report.counts.errors == 0
    assert report.lines == []  # rows without a number included: nothing to accept, the file round-trips
    counts = report.counts
    assert (counts.to_register, counts.to_replace, counts.people_to_add, counts.people_to_update) == (0, 0, 0, 0)
    assert counts.unchanged == len(numbers)
    assert report.kind == ("xlsx" if encoding is Encoding.XLSX else "csv")


async def test_a_cp932_file_typed_by_hand_matches_names_written_with_other_spaces_and_widths(
    vault: Vault, db: AsyncSession, world: World
) -> None:
    await arrange(db, vault, world)
    data = csv_file(SEED, [f",001,河合　康則,,,,{N[1]}", f",004,ｽｽﾞｷ ｼﾞﾛｳ,,,,{N[2]}"], "cp932")

    report = await check_import(db, vault, admin(world), data, "seed")

    assert report.encoding == "cp932"
    assert [(line.line, line.code) for line in report.lines] == [(3, Code.DIFFERS_FROM_STORED)]
    assert report.counts.unchanged == 2
