"""The bulk path (tenants.services.bulk): many people and numbers in batches, all or nothing, as the pages would."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator
from pathlib import Path

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.events import Actor
from app.audit.models import AuditEntry
from app.auth import sessions
from app.auth.models import Role
from app.config import Settings
from app.db import utcnow
from app.text import person_search_key
from app.vault import Vault
from app.vault.keystore import NumberKey
from app.vault.models import VaultNumber
from tenants.listing import recount, stored_counts
from tenants.models import (
    CollectionStatus,
    Department,
    DuplicateStatus,
    NumberDuplicate,
    PeopleCount,
    Person,
    PersonKind,
)
from tenants.services._records import Channel
from tenants.services.bulk import BulkRefused, BulkReport, DepartmentRecord, PersonRecord, write_people
from tests.support.people import give_number, make_department, make_employee, valid_my_number
from tests.support.world import World, make_persona, sign_in

ADMIN = Actor(user_id=None, login_id="admin", name="岡 昌平", role="管理者", organisation="アクメ商事株式会社")
DEPARTMENTS = [DepartmentRecord(code=f"D{n:02d}", name=f"第{n}部") for n in range(1, 6)]
# Where each family's numbers stand, cycled: (fields of the record, status the pages would leave).
PATHS: list[tuple[dict[str, object], CollectionStatus]] = [
    ({}, CollectionStatus.NOT_REGISTERED),
    ({"channel": Channel.PROXY}, CollectionStatus.PROXY_REGISTERED),
    ({"channel": Channel.SELF}, CollectionStatus.REGISTERED),
    ({"channel": Channel.SELF, "self_confirmed": True}, CollectionStatus.SELF_CONFIRMED),
    ({"channel": Channel.SELF, "self_confirmed": True, "admin_confirmed": True}, CollectionStatus.ADMIN_CONFIRMED),
    ({"channel": Channel.PROXY, "admin_confirmed": True}, CollectionStatus.ADMIN_CONFIRMED),
    ({"decline_reason": "家族の同意が得られていないため"}, CollectionStatus.DECLINED),
]


@pytest.fixture
async def vault(settings: Settings) -> AsyncIterator[Vault]:
    arranging = Vault.from_settings(settings)
    yield arranging
    await arranging.close()


def numbers(start: int) -> Iterator[str]:
    """Distinct valid My Numbers."""
    seed = start
    while True:
        yield valid_my_number(seed)
        seed += 1


def families(employees: int, *, first_code: int = 1, seed: int = 0) -> Iterator[PersonRecord]:
    """Employees each followed by 0-3 dependants, departments and paths cycled; then two payees."""
    supply = numbers(seed * 1_000_000)
    for n in range(employees):
        fields, _ = PATHS[n % len(PATHS)]
        code = f"E{first_code + n:06d}"

        def number_fields(fields: dict[str, object] = fields) -> dict[str, object]:
            return {**fields, "number": next(supply)} if "channel" in fields else dict(fields)

        yield PersonRecord(
            kind=PersonKind.EMPLOYEE,
            employee_code=code,
            name=f"山田　太郎{n}",  # a full-width space, as typed: the name rules make it one half-width space
            kana="やまだ たろう" if n % 2 else "ﾔﾏﾀﾞ ﾀﾛｳ",  # hiragana / half-width: made katakana
            birth_date=dt.date(1970, 1, 1) + dt.timedelta(days=n % 9000),
            department_code="" if n % 11 == 10 else DEPARTMENTS[n % len(DEPARTMENTS)].code,
            hire_date="2020/04/01",
            **number_fields(),  # type: ignore[arg-type]
        )
        for d in range(n % 4):
            yield PersonRecord(
                kind=PersonKind.DEPENDANT,
                employee_code=code,
                name=f"山田 花子{n}-{d}",
                kana="ヤマダ ハナコ",
                relationship="配偶者" if d == 0 else "子",
                birth_date="R2.5.1",
                **number_fields(),  # type: ignore[arg-type]
            )
    yield PersonRecord(kind=PersonKind.PAYEE, name="講師 佐藤 一郎", payee_type="individual", payment_kind="講演料")
    yield PersonRecord(
        kind=PersonKind.PAYEE,
        name="株式会社サンプル印刷",
        payee_type="corporation",
        payment_kind="原稿料",
        number="7000012050002",
    )


async def fill(
    db: AsyncSession,
    vault: Vault,
    tenant_id: uuid.UUID,
    records: Iterable[PersonRecord] | AsyncIterable[PersonRecord],
    *,
    batch_size: int = 1000,
    log_additions: bool = False,
) -> BulkReport:
    return await write_people(
        db,
        vault,
        tenant_id=tenant_id,
        actor=ADMIN,
        departments=DEPARTMENTS,
        people=records,
        batch_size=batch_size,
        log_additions=log_additions,
    )


async def count(db: AsyncSession, model: type, *conditions: object) -> int:
    statement = select(func.count()).select_from(model).where(*conditions)  # type: ignore[arg-type]
    return int((await db.execute(statement)).scalar_one())


async def snapshot(db: AsyncSession, vault: Vault, tenant_id: uuid.UUID) -> dict[str, int]:
    """How many rows of everything a fill writes the tenant has (the key store included)."""
    async with vault.keystore.engine.connect() as connection:
        keys = (await connection.execute(select(func.count()).select_from(NumberKey))).scalar_one()
    return {
        "people": await count(db, Person, Person.tenant_id == tenant_id),
        "departments": await count(db, Department, Department.tenant_id == tenant_id),
        "numbers": await count(db, VaultNumber, VaultNumber.tenant_id == tenant_id),
        "entries": await count(db, AuditEntry, AuditEntry.tenant_id == tenant_id),
        "counters": int(sum((await stored_counts(db, tenant_id)).values())),
        "counter_rows": await count(db, PeopleCount, PeopleCount.tenant_id == tenant_id, PeopleCount.count != 0),
        "keys": int(keys),
    }


def expected_placement(person: Person, owner: Person | None, departments: dict[uuid.UUID, str]) -> tuple[object, ...]:
    """The placement columns worked out from the person's own fields (not through tenants.listing)."""
    registered = 0 if person.registered_at is not None else 1
    if person.kind is PersonKind.PAYEE:
        return (person.id, 0, None, "", "", 2, 2, registered)
    head = owner if owner is not None else person
    department = head.department_id
    return (
        head.id,
        1 if owner is not None else 0,
        department,
        departments.get(department, "") if department else "",
        head.employee_code,
        0 if department else 1,
        0,
        registered,
    )


def placement_of(person: Person) -> tuple[object, ...]:
    return (
        person.family_id,
        person.family_rank,
        person.list_department_id,
        person.list_department_code,
        person.list_owner_code,
        person.department_section,
        person.code_section,
        person.registered_section,
    )


def database_files(directory: Path) -> bytes:
    """The main database, the key store and their WAL files, as bytes."""
    return b"".join(p.read_bytes() for p in directory.iterdir() if ".db" in p.name)


def employee(code: str, name: str, **fields: object) -> PersonRecord:
    return PersonRecord(kind=PersonKind.EMPLOYEE, employee_code=code, name=name, **fields)  # type: ignore[arg-type]


class TestAFill:
    async def test_people_numbers_entries_counters_and_placement_are_all_written(
        self, db: AsyncSession, vault: Vault, world: World
    ) -> None:
        tenant_id = world.tenant.id
        report = await fill(db, vault, tenant_id, families(70), batch_size=40)
        await vault.commit(db)

        people = list((await db.execute(select(Person).where(Person.tenant_id == tenant_id))).scalars())
        kinds = Counter(p.kind for p in people)
        assert kinds == {
            PersonKind.EMPLOYEE: 70,
            PersonKind.DEPENDANT: sum(n % 4 for n in range(70)),
            PersonKind.PAYEE: 2,
        }
        assert report.people == len(people) and report.batches > 3 and report.departments == 5
        by_id = {p.id: p for p in people}
        departments = {d.id: d.code for d in (await db.execute(select(Department))).scalars()}
        for person in people:
            owner = by_id[person.employee_id] if person.employee_id else None
            assert placement_of(person) == expected_placement(person, owner, departments), person.name
            assert person.search_key == person_search_key(person.name, person.kana)
        assert await stored_counts(db, tenant_id) == await recount(db, tenant_id)

        # Statuses and timestamps as the pages leave them, the text rules applied.
        employees = sorted((p for p in people if p.kind is PersonKind.EMPLOYEE), key=lambda p: p.employee_code or "")
        for n, employee in enumerate(employees):
            _, status = PATHS[n % len(PATHS)]
            family = [employee, *(p for p in people if p.employee_id == employee.id)]
            assert {p.status for p in family} == {status}, employee.employee_code
            assert employee.name == f"山田 太郎{n}" and employee.kana == "ヤマダ タロウ"
            assert all((p.registered_at is not None) == status.has_number for p in family)
            assert all((p.declined_at is not None) == (status is CollectionStatus.DECLINED) for p in family)
            if status is CollectionStatus.ADMIN_CONFIRMED:
                assert employee.admin_confirmed_by == "岡 昌平" and employee.admin_confirmed_at is not None
        corporation = next(p for p in people if p.name == "株式会社サンプル印刷")
        assert corporation.status is CollectionStatus.PROXY_REGISTERED

        # One vault row and one registration entry per number; one entry per confirmation and decline.
        with_number = [p for p in people if p.status.has_number]
        live = await count(db, VaultNumber, VaultNumber.tenant_id == tenant_id, VaultNumber.erased_at.is_(None))
        assert live == len(with_number) == report.numbers
        entries = list((await db.execute(select(AuditEntry).where(AuditEntry.tenant_id == tenant_id))).scalars())
        actions = Counter((str(e.action), e.function) for e in entries)
        proxy = sum(1 for p in with_number if p.status is CollectionStatus.PROXY_REGISTERED) + sum(
            1 for p in with_number if p.status is CollectionStatus.ADMIN_CONFIRMED and p.self_confirmed_at is None
        )
        assert actions[("代理登録", "代理登録")] == proxy
        assert actions[("登録", "じぶんで登録")] == len(with_number) - proxy
        assert actions[("本人番号確認", "じぶんで登録")] == sum(1 for p in people if p.self_confirmed_at)
        assert actions[("管理者番号確認", "管理者番号確認")] == sum(1 for p in people if p.admin_confirmed_at)
        assert actions[("提供拒否", "じぶんで登録")] == sum(1 for p in people if p.declined_at)
        dependant = next(p for p in with_number if p.kind is PersonKind.DEPENDANT and p.self_confirmed_at)
        owner = by_id[dependant.employee_id]  # type: ignore[index]
        (entry,) = [e for e in entries if e.subject_person_id == dependant.id and e.action == "本人番号確認"]
        assert (entry.subject_name, entry.actor_name) == (f"{owner.name} > {dependant.name}", owner.name)
        assert entry.subject_employee_code == owner.employee_code

    async def test_an_async_stream_and_additions_logged_like_the_forms(
        self, db: AsyncSession, vault: Vault, world: World
    ) -> None:
        async def stream() -> AsyncIterator[PersonRecord]:
            for record in families(5):
                await asyncio.sleep(0)
                yield record

        await fill(db, vault, world.tenant.id, stream(), batch_size=3, log_additions=True)
        await vault.commit(db)
        entries = (await db.execute(select(AuditEntry.function).where(AuditEntry.tenant_id == world.tenant.id))).all()
        functions = Counter(f for (f,) in entries)
        assert functions["部門の追加"] == 5 and functions["従業員の追加"] == 5 and functions["取引先の追加"] == 2
        assert functions["扶養家族の追加"] == sum(n % 4 for n in range(5))

    async def test_a_refused_row_in_a_late_batch_leaves_nothing_written(
        self, db: AsyncSession, vault: Vault, world: World
    ) -> None:
        tenant_id = world.tenant.id
        await make_department(db, tenant_id, "X01", "既存部")
        await db.commit()
        before = await snapshot(db, vault, tenant_id)

        def broken() -> Iterator[PersonRecord]:
            for index, record in enumerate(families(60)):
                if index == 130:  # the fourth batch of forty
                    number = valid_my_number(7)
                    wrong = number[:11] + str((int(number[11]) + 1) % 10)  # the check digit is off
                    record = employee("BAD", "誤り 一郎", kana="アヤマリ", number=wrong)
                yield record

        with pytest.raises(BulkRefused) as refused:
            await fill(db, vault, tenant_id, broken(), batch_size=40)
        assert [(p.index, p.field) for p in refused.value.problems] == [(130, "number")]
        await db.rollback()
        await vault.wait_for_shredding()
        assert await snapshot(db, vault, tenant_id) == before

    async def test_every_refused_row_of_a_batch_is_named_and_nothing_is_written(
        self, db: AsyncSession, vault: Vault, world: World
    ) -> None:
        tenant_id = world.tenant.id
        await make_employee(db, tenant_id, "E000001", "既存 社員")
        await db.commit()
        before = await snapshot(db, vault, tenant_id)
        records = [
            employee("E000001", "重複 一郎", kana="ジュウフク"),
            employee("E2", "部門 なし", kana="ブモン", department_code="NOPE"),
            employee("E3", "漢字 カナ", kana="漢字"),
            employee("E3", "同じ コード", kana="オナジ"),
            PersonRecord(kind=PersonKind.DEPENDANT, employee_code="E404", name="迷子 花子", relationship="子"),
            employee("E5", "確認 だけ", kana="カクニン", self_confirmed=True),
            employee("E6", "拒否 と番号", kana="キョヒ", number=valid_my_number(5), decline_reason="理由"),
            employee(
                "E7",
                "退職 済",
                kana="タイショク",
                retirement_date="2020-03-31",
                hire_date="2010-04-01",
                number=valid_my_number(6),
                channel=Channel.SELF,
            ),
            PersonRecord(kind=PersonKind.PAYEE, name="区分 なし", payee_type="?"),
            employee("E9", "電話 123456789012", kana="デンワ"),
        ]
        with pytest.raises(BulkRefused) as refused:
            await fill(db, vault, tenant_id, records)
        problems = {(p.index, p.field) for p in refused.value.problems}
        assert problems >= {
            (0, "employee_code"),
            (1, "department_code"),
            (2, "kana"),
            (3, "employee_code"),
            (4, "employee_code"),
            (5, "number"),
            (6, "decline_reason"),
            (7, "number"),
            (8, "payee_type"),
            (9, "name"),
        }
        assert all(p.message and "123456789012" not in p.message for p in refused.value.problems)
        await db.rollback()
        assert await snapshot(db, vault, tenant_id) == before


class TestDuplicates:
    async def test_a_number_held_already_or_twice_in_the_input_is_kept_and_flagged(
        self, db: AsyncSession, vault: Vault, world: World
    ) -> None:
        tenant_id = world.tenant.id
        shared, twice = valid_my_number(900), valid_my_number(901)
        holder = await make_employee(db, tenant_id, "H1", "先に 登録")
        await give_number(db, vault, holder, shared)
        await db.commit()
        records = [
            employee("A1", "後から 一郎", kana="アトカラ", number=shared, channel=Channel.SELF),
            *(employee(f"F{n}", f"埋め {n}", kana="ウメ") for n in range(5)),
            employee("B1", "同番 一", kana="ドウバン", number=twice),
            employee("B2", "同番 二", kana="ドウバン", number=twice),
        ]
        report = await fill(db, vault, tenant_id, records, batch_size=7)  # B2 comes in the second batch
        await vault.commit(db)
        assert report.flagged == 2
        cases = list(
            (await db.execute(select(NumberDuplicate).where(NumberDuplicate.tenant_id == tenant_id))).scalars()
        )
        people = {p.id: p.employee_code for p in (await db.execute(select(Person))).scalars()}
        assert sorted((people[c.person_id], people[c.other_person_id], c.function) for c in cases) == [
            ("A1", "H1", "じぶんで登録"),
            ("B2", "B1", "代理登録"),
        ]
        assert all(c.status is DuplicateStatus.OPEN for c in cases)
        suspected = (
            await db.execute(
                select(AuditEntry.subject_name, AuditEntry.actor_name).where(AuditEntry.function == "重複の疑い")
            )
        ).all()
        assert sorted(suspected) == [("同番 二", "岡 昌平"), ("後から 一郎", "後から 一郎")]
        flagged = await count(db, VaultNumber, VaultNumber.tenant_id == tenant_id, VaultNumber.flagged.is_(True))
        assert flagged == 2


async def test_no_number_appears_in_the_database_files(
    db: AsyncSession, vault: Vault, world: World, settings: Settings
) -> None:
    if not settings.is_sqlite:
        pytest.skip("a file scan needs the SQLite files")
    records = list(families(40, seed=3))
    await fill(db, vault, world.tenant.id, records, batch_size=16)
    await vault.commit(db)
    await db.close()
    given = [r.number for r in records if r.number]
    assert len(given) > 40
    content = database_files(Path(settings.data_dir))
    assert b"**********" in content  # the masks are there: the scan reads the rows
    for number in given:
        assert number.encode() not in content and number.encode("utf-16-le") not in content


# On SQLite a signed-in GET that writes its session back waits for the fill's write lock; reads stop writing with the
# sessions change of the same round (app.auth.sessions.touch_last_seen): until it is merged this fails there.
@pytest.mark.xfail(
    os.environ.get("MNV_TEST_DB", "sqlite") == "sqlite" and not hasattr(sessions, "touch_last_seen"),
    reason="SQLite: every signed-in GET writes its session (fixed by the sessions change of issue 9)",
    strict=True,
)
async def test_pages_answer_while_a_large_fill_runs_in_the_same_process(
    client: AsyncTestClient[Litestar], app: Litestar, db: AsyncSession, settings: Settings, world: World
) -> None:
    tenant_id = world.tenant.id
    person = await make_employee(db, tenant_id, "ME01", "画面 確認")
    persona = await make_persona(db, settings, app.state["vault"], world.tenant, "me01", Role.EMPLOYEE)
    persona.account.person_id = person.id
    person.notice_acknowledged_at = utcnow()
    await db.commit()
    await sign_in(client, persona)
    assert (await client.get("/me")).status_code == 200

    async def run_fill() -> float:
        async with AsyncSession(bind=db.bind, expire_on_commit=False) as session:
            await fill(session, app.state["vault"], tenant_id, families(1500, first_code=10_000, seed=5))
            await app.state["vault"].commit(session)
        return time.perf_counter()

    task = asyncio.create_task(run_fill())
    await asyncio.sleep(0.3)  # the fill is under way
    answered: list[tuple[str, int, float]] = []
    for path in ("/healthz", "/me", "/healthz", "/me"):
        response = await client.get(path)
        answered.append((path, response.status_code, time.perf_counter()))
    assert not task.done(), "the fill ended before the pages were asked: make it larger"
    finished = await task
    assert all(status == 200 for _, status, _ in answered), answered
    assert all(at < finished for _, _, at in answered)
    assert await count(db, Person, Person.tenant_id == tenant_id) > 3000
