"""Arranging a company for export tests, downloading through the pages, and reading the files back."""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Sequence
from dataclasses import dataclass, field

import httpx
import openpyxl
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.models import AuditEntry
from app.vault import Vault
from tenants.models import Department, PayeeType, Person, Relationship
from tests.exchange.samples import corporate_number, my_number
from tests.support.audit import entries
from tests.support.people import give_number, make_department, make_dependant, make_employee, make_payee
from tests.support.world import World, csrf_token, post_form

Client = AsyncTestClient[Litestar]
PURPOSE = "源泉徴収票作成事務"


@dataclass
class Office:
    """河合 (101), 東野 with his wife and daughter (105), 井原 without a number, 𠮷田 and 葛󠄀城 (names cp932 cannot
    hold as they are), an employee whose name a spreadsheet would run, and two payees; ``numbers`` by key."""

    people: dict[str, Person]
    numbers: dict[str, str]
    departments: dict[str, Department] = field(default_factory=dict)

    def __getitem__(self, key: str) -> Person:
        return self.people[key]

    @property
    def all_numbers(self) -> list[str]:
        return list(self.numbers.values())


async def arrange(db: AsyncSession, vault: Vault, world: World) -> Office:
    """The office above, committed (numbers through the vault, as proxy registrations)."""
    tenant_id = world.tenant.id
    president = await make_department(db, tenant_id, "101", "社長室")
    personnel = await make_department(db, tenant_id, "105", "人事部")
    people: dict[str, Person] = {}
    people["kawai"] = await make_employee(
        db, tenant_id, "001", "河合 康則", department=president, kana="カワイ ヤスノリ"
    )
    people["higashino"] = await make_employee(db, tenant_id, "104", "東野 二郎", department=personnel)
    people["junko"] = await make_dependant(db, people["higashino"], "東野 順子", Relationship.SPOUSE)
    people["manami"] = await make_dependant(db, people["higashino"], "東野 真奈美", Relationship.CHILD)
    people["ihara"] = await make_employee(db, tenant_id, "1000", "井原 はじめ", department=personnel)
    people["yoshida"] = await make_employee(db, tenant_id, "300", "𠮷田 太郎", department=personnel)
    people["katsuragi"] = await make_employee(db, tenant_id, "301", "葛\U000e0100城 花子", department=personnel)
    people["formula"] = await make_employee(db, tenant_id, "0007", "=SUM(A1)", department=president)
    people["payee"] = await make_payee(db, tenant_id, "講師 山田 花子")
    people["company"] = await make_payee(db, tenant_id, "株式会社 講師派遣", PayeeType.CORPORATION)
    numbers = {
        "kawai": my_number(1),  # 00000000001x: leading zeros a spreadsheet must keep
        "higashino": my_number(2_000_000_002),
        "junko": my_number(3_000_000_003),
        "manami": my_number(4_000_000_004),
        "yoshida": my_number(5_000_000_005),
        "katsuragi": my_number(6_000_000_006),
        "formula": my_number(7_000_000_007),
        "payee": my_number(8_000_000_008),
        "company": corporate_number(5835678256),
    }
    for key, number in numbers.items():
        await give_number(db, vault, people[key], number)
    await db.commit()
    return Office(people, numbers, {"101": president, "105": personnel})


async def add_family(db: AsyncSession, vault: Vault, world: World, children: int) -> tuple[Person, list[Person]]:
    """An employee (社員コード 500) with ``children`` children under 16, each with a number."""
    employee = await make_employee(db, world.tenant.id, "500", "大家 族男")
    kids = []
    for n in range(children):
        child = await make_dependant(db, employee, f"大家 子{n + 1}", Relationship.CHILD)
        child.birth_date = dt.date(2015, 1, 1 + n)
        await give_number(db, vault, child, my_number(9_100_000_000 + n))
        kids.append(child)
    await give_number(db, vault, employee, my_number(9_000_000_000))
    await db.commit()
    return employee, kids


def params(
    *,
    layout: str = "seed",
    encoding: str = "cp932",
    numbers: bool = True,
    purpose: str | None = PURPOSE,
    replace: bool = False,
    year: int | None = None,
    **selection: str,
) -> dict[str, str]:
    """Form values for the export pages."""
    values = {"layout": layout, "encoding": encoding, "numbers": "1" if numbers else "0", **selection}
    if purpose and numbers:
        values["purpose"] = purpose
    if replace:
        values["replace"] = "1"
    if year is not None:
        values["year"] = str(year)
    return values


async def download(client: Client, values: dict[str, str], persons: Sequence[object] = ()) -> httpx.Response:
    """POST the download form (with the CSRF token), ``persons`` as repeated ``person`` fields."""
    data: dict[str, str | list[str]] = {**values, "_csrf_token": await csrf_token(client)}
    if persons:
        data["person"] = [str(p) for p in persons]
    return await client.post("/admin/exports/download", data=data, follow_redirects=False)


def confirm_path(values: dict[str, str], persons: Sequence[object] = ()) -> str:
    pairs = list(values.items()) + [("person", str(p)) for p in persons]
    return f"/admin/exports/confirm?{httpx.QueryParams(pairs)}"


def read_rows(content: bytes, encoding: str) -> list[list[str]]:
    """The file's rows as text cells: cp932 decoded by Python's codec, UTF-8 with its BOM, xlsx by openpyxl."""
    if encoding == "xlsx":
        workbook = openpyxl.load_workbook(io.BytesIO(content), read_only=True)
        try:
            rows = [
                [("" if v is None else str(v)) for v in row]
                for row in workbook.worksheets[0].iter_rows(values_only=True)
            ]
        finally:
            workbook.close()
        return rows
    text = content.decode("cp932" if encoding == "cp932" else "utf-8-sig")
    assert "\r\n" in text
    return list(csv.reader(io.StringIO(text, newline="")))


async def exports_logged(db: AsyncSession, world: World) -> list[AuditEntry]:
    return await entries(db, world.tenant.id, "CSV出力")


__all__ = ["PURPOSE", "Office", "add_family", "arrange", "download", "exports_logged", "params", "post_form"]
