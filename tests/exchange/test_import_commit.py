"""The import's commit: the whole file in one transaction, numbers as 代理登録 with one entry each, or nothing."""

from __future__ import annotations

import csv
import json
import logging
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.events import Actor
from app.config import Settings
from app.jobs import JobCancelled
from app.vault import NumberField, Vault
from exchange.encoding import write_xlsx
from exchange.layouts import FULL, SEED
from exchange.reading import NO_DATA_ROWS
from exchange.services import ImportRefused, check_import, commit_import
from exchange.services import _import as importing
from exchange.services._import_apply import Applier
from tenants.models import CollectionStatus, Department, DuplicateStatus, NumberDuplicate, PayeeType, Person, PersonKind
from tests.exchange.importing import N, admin, arrange, counters_match, csv_file, files_holding, snapshot
from tests.exchange.samples import corporate_number
from tests.exchange.test_import_check import SEED_FILE, full_row
from tests.support.audit import details, entries
from tests.support.world import World

ACTOR = Actor(user_id=None, login_id="admin", name="岡 昌平", role="管理者", organisation="アクメ商事株式会社")
CORPORATE = corporate_number(5835678256)

GOOD_SEED = [
    f",001,河合 康則,,,,{N[1]}",  # unchanged
    f",002,山田 一郎,,,,{N[3]}",  # registered
    f",003,佐藤 花子,,,,{N[10]}",  # registered
    f",003,佐藤 花子,1,佐藤 太郎,,{N[11]}",  # registered (a dependant)
    f",004,鈴木 次郎,,,,{N[12]}",  # replaces N[2]
    f"*,005,伊藤 五郎,,,,{N[13]}",  # skipped
]


async def fresh(db: AsyncSession, person: Person) -> Person:
    statement = select(Person).where(Person.tenant_id == person.tenant_id, Person.id == person.id)
    return (await db.execute(statement.execution_options(populate_existing=True))).scalar_one()


async def holds(db: AsyncSession, vault: Vault, person: Person, number: str) -> bool:
    field = NumberField.CORPORATE_NUMBER if person.payee_type is PayeeType.CORPORATION else NumberField.MY_NUMBER
    return await vault.same_number(db, person.tenant_id, person.id, field, number)


async def test_a_seed_file_registers_each_number_as_a_proxy_registration_with_one_entry_each(
    vault: Vault, db: AsyncSession, world: World
) -> None:
    people = await arrange(db, vault, world)
    principal = admin(world)
    tenant_id = principal.tenant_id
    logged_before = len(await entries(db, tenant_id))

    outcome = await commit_import(db, vault, principal, ACTOR, csv_file(SEED, GOOD_SEED), "seed", False)
    await vault.commit(db)

    assert (outcome.registered, outcome.replaced, outcome.people_added, outcome.report.counts.unchanged) == (3, 1, 0, 1)
    for person, number in (
        (people.kawai, N[1]),
        (people.yamada, N[3]),
        (people.sato, N[10]),
        (people.sato_child, N[11]),
        (people.suzuki, N[12]),
        (people.ito, N[9]),
    ):
        assert await holds(db, vault, person, number)
    assert not await holds(db, vault, people.suzuki, N[2])
    for person in (people.yamada, people.sato, people.sato_child, people.suzuki):
        assert (await fresh(db, person)).status is CollectionStatus.PROXY_REGISTERED
    logged = (await entries(db, tenant_id))[logged_before:]
    proxy = [e for e in logged if e.action == "代理登録"]
    assert sorted(e.subject_name for e in proxy) == ["佐藤 花子", "佐藤 花子 > 佐藤 太郎", "山田 一郎", "鈴木 次郎"]
    assert {e.function for e in proxy} == {"代理登録"}
    assert [(e.action, e.subject_name) for e in logged if e.action == "削除"] == [("削除", "鈴木 次郎")]
    (summary,) = [e for e in logged if e.action == "取込"]
    assert summary.function == "ファイル取込"
    assert summary.detail["registered"] == 3 and summary.detail["replaced"] == 1 and summary.detail["skipped"] == 1
    assert len(logged) == 4 + 1 + 1
    assert await counters_match(db, tenant_id)


async def test_the_full_layout_adds_departments_and_people_and_updates_the_stored_ones(
    vault: Vault, db: AsyncSession, world: World
) -> None:
    people = await arrange(db, vault, world)
    principal = admin(world)
    tenant_id = principal.tenant_id
    stranger = (people.stranger.tenant_id, people.stranger.id)
    lines = [
        full_row(role="従業員", employee_code="002", employee_name="山田 一郎", kana="ヤマダ カズオ", my_number=N[3]),
        full_row(
            role="扶養家族",
            employee_code="002",
            employee_name="山田 一郎",
            dependant_no="1",
            dependant_name="山田 花子",
            kana="ヤマダ ハナコ",
            relationship="配偶者",
            birth_date="1982/03/04",
            my_number=N[4],
        ),
        full_row(
            role="従業員",
            department_code="900",
            department_name="新部門",
            employee_code="010",
            employee_name="新井 一",
            kana="アライ ハジメ",
            my_number=N[6],
        ),
        full_row(
            role="扶養家族",
            employee_code="010",
            employee_name="新井 一",
            dependant_no="1",
            dependant_name="新井 花",
            relationship="子",
            my_number=N[7],
        ),
        full_row(role="従業員", department_code="101", employee_code="003", employee_name="佐藤 花子"),
        full_row(
            role="従業員", employee_code="B900", employee_name="山本 太郎", kana="ヤマモト タロウ", my_number=N[8]
        ),
        full_row(role="取引先", employee_name="株式会社 講師派遣", kana="コウシハケン", corporate_number=CORPORATE),
        full_row(role="取引先", employee_name="税理士 山田 一", kana="ヤマダ ハジメ", my_number=N[14]),
    ]
    data = csv_file(FULL, lines)
    report = await check_import(db, vault, principal, data, "full")
    assert not report.has_errors and report.has_warnings  # 002's フリガナ

    with pytest.raises(ImportRefused) as refused:
        await commit_import(db, vault, principal, ACTOR, data, "full", False)
    assert refused.value.message.startswith("警告があります。")
    await db.rollback()
    outcome = await commit_import(db, vault, principal, ACTOR, data, "full", True)
    await vault.commit(db)

    assert (outcome.registered, outcome.people_added, outcome.people_updated, outcome.departments_added) == (7, 5, 2, 1)
    assert (await fresh(db, people.yamada)).kana == "ヤマダ カズオ"
    department = (await db.execute(select(Department).where(Department.code == "900"))).scalar_one()
    assert department.name == "新部門" and department.tenant_id == tenant_id
    assert (await fresh(db, people.sato)).department_id is not None
    added = {
        p.name: p
        for p in (
            await db.execute(
                select(Person).where(
                    Person.tenant_id == tenant_id,
                    Person.name.in_(["山田 花子", "新井 一", "新井 花", "山本 太郎", "株式会社 講師派遣"]),
                )
            )
        ).scalars()
    }
    assert added["山田 花子"].employee_id == people.yamada.id and added["山田 花子"].kind is PersonKind.DEPENDANT
    assert added["新井 花"].employee_id == added["新井 一"].id
    assert added["新井 一"].department_id == department.id
    assert added["株式会社 講師派遣"].payee_type is PayeeType.CORPORATION
    assert await holds(db, vault, added["株式会社 講師派遣"], CORPORATE)
    assert await holds(db, vault, added["山本 太郎"], N[8])  # tenant B's 社員コード: a new employee of tenant A
    assert await holds(db, vault, people.payee, N[14])
    assert (
        await db.execute(select(Person.name).where(Person.tenant_id == stranger[0], Person.id == stranger[1]))
    ).all()
    logged = await entries(db, tenant_id)
    assert sum(1 for e in logged if e.action == "代理登録") == 7 + 3  # the arranged numbers were proxy ones too
    assert [e.subject_name for e in logged if e.function == "従業員情報の修正"] == ["山田 一郎", "佐藤 花子"]
    assert sum(1 for e in logged if e.function in ("従業員の追加", "扶養家族の追加", "取引先の追加")) == 5
    assert await counters_match(db, tenant_id)


async def test_a_file_with_errors_is_refused_and_nothing_is_written(
    vault: Vault, db: AsyncSession, world: World
) -> None:
    await arrange(db, vault, world)
    principal = admin(world)
    tenant_id = principal.tenant_id
    before = await snapshot(db, tenant_id)

    with pytest.raises(ImportRefused) as refused:
        await commit_import(db, vault, principal, ACTOR, csv_file(SEED, SEED_FILE), "seed", True)
    await db.rollback()

    assert refused.value.message.startswith("エラーがあるため取り込めません。")
    assert refused.value.report.counts.errors == 11
    assert await snapshot(db, tenant_id) == before


async def test_a_number_another_person_holds_is_stored_flagged_once_the_warning_is_accepted(
    vault: Vault, db: AsyncSession, world: World
) -> None:
    people = await arrange(db, vault, world)
    principal = admin(world)
    data = csv_file(SEED, [f",002,山田 一郎,,,,{N[9]}"])  # 005's

    with pytest.raises(ImportRefused):
        await commit_import(db, vault, principal, ACTOR, data, "seed", False)
    await db.rollback()
    outcome = await commit_import(db, vault, principal, ACTOR, data, "seed", True)
    await vault.commit(db)

    assert outcome.flagged == 1
    (case,) = (await db.execute(select(NumberDuplicate))).scalars()
    assert (case.person_id, case.other_person_id, case.status) == (
        people.yamada.id,
        people.ito.id,
        DuplicateStatus.OPEN,
    )
    assert await holds(db, vault, people.yamada, N[9]) and await holds(db, vault, people.ito, N[9])


@pytest.mark.parametrize("layout", ["seed", "full"])
async def test_a_failure_in_the_middle_of_a_commit_leaves_nothing_written(
    vault: Vault, db: AsyncSession, world: World, monkeypatch: pytest.MonkeyPatch, layout: str
) -> None:
    await arrange(db, vault, world)
    principal = admin(world)
    tenant_id = principal.tenant_id
    monkeypatch.setattr(importing, "BATCH_ROWS", 2)
    if layout == "seed":
        lines = GOOD_SEED
    else:
        lines = [
            full_row(
                role="従業員",
                department_code="9" + f"{k:02d}",
                department_name=f"部門{k}",
                employee_code=f"1{k:02d}",
                employee_name=f"新井 {k}",
                kana="アライ",
                my_number=N[20 + k],
            )
            for k in range(6)
        ]
    data = csv_file(SEED if layout == "seed" else FULL, lines)
    before = await snapshot(db, tenant_id)
    keys_before = len(await vault.keystore.page(None, 10_000))
    calls: list[int] = []
    apply = Applier.apply

    async def failing_on_the_third_batch(self: Applier, *args: Any) -> None:
        calls.append(1)
        if len(calls) == 3:
            raise RuntimeError("the disk is full")
        await apply(self, *args)

    monkeypatch.setattr(Applier, "apply", failing_on_the_third_batch)

    with pytest.raises(RuntimeError):
        await commit_import(db, vault, principal, ACTOR, data, layout, True)
    await db.rollback()
    await vault.wait_for_shredding()

    assert len(calls) == 3  # two batches were written before the failure
    assert await snapshot(db, tenant_id) == before
    assert len(await vault.keystore.page(None, 10_000)) == keys_before
    assert await counters_match(db, tenant_id)


async def test_the_numbers_never_reach_the_database_in_clear_nor_a_log_line(
    vault: Vault, db: AsyncSession, world: World, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    await arrange(db, vault, world)
    principal = admin(world)
    tenant_id = principal.tenant_id
    numbers = [N[3], N[10], N[11], N[12]]

    await check_import(db, vault, principal, csv_file(SEED, GOOD_SEED), "seed")
    await commit_import(db, vault, principal, ACTOR, csv_file(SEED, GOOD_SEED), "seed", False)
    await vault.commit(db)

    for number in numbers:
        assert number not in caplog.text
        assert number not in json.dumps(details(await entries(db, tenant_id)), ensure_ascii=False)
    if settings.is_sqlite:
        assert files_holding(Path(settings.data_dir), numbers) == []


async def test_a_job_is_told_its_progress_and_a_cancelled_commit_leaves_nothing_written(
    vault: Vault, db: AsyncSession, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    await arrange(db, vault, world)
    principal = admin(world)
    monkeypatch.setattr(importing, "BATCH_ROWS", 2)
    data = csv_file(SEED, GOOD_SEED)
    seen: list[tuple[int, int]] = []

    async def progress(done: int, total: int) -> None:
        seen.append((done, total))

    async def cancelled_after_two_batches(done: int, total: int) -> None:
        if done >= 4:
            raise JobCancelled()

    await check_import(db, vault, principal, data, "seed", progress)
    assert seen == [(2, 6), (4, 6), (6, 6), (6, 6)]
    before = await snapshot(db, principal.tenant_id)
    with pytest.raises(JobCancelled):
        await commit_import(db, vault, principal, ACTOR, data, "seed", False, cancelled_after_two_batches)
    await db.rollback()

    assert await snapshot(db, principal.tenant_id) == before
    assert await counters_match(db, principal.tenant_id)


async def test_a_workbook_that_states_no_size_reports_its_total_unknown_and_the_commit_takes_the_checks(
    vault: Vault, db: AsyncSession, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Field trial: a workbook without its size showed 100 % (「3,000 / 3,000 行」) for the whole run of its check
    and of its commit; the total stays unknown (0) until the end, and the commit is told the check's count."""
    await arrange(db, vault, world)
    principal = admin(world)
    monkeypatch.setattr(importing, "BATCH_ROWS", 2)
    rows = [next(csv.reader([line])) for line in GOOD_SEED]
    data = b"".join(write_xlsx(SEED.columns, rows))  # no row_count: the sheet states no size
    assert importing.estimated_rows(data) == 0
    seen: list[tuple[int, int]] = []

    async def progress(done: int, total: int) -> None:
        seen.append((done, total))

    await check_import(db, vault, principal, data, "seed", progress)
    assert seen == [(2, 0), (4, 0), (6, 0), (6, 6)]
    seen.clear()
    await commit_import(db, vault, principal, ACTOR, data, "seed", False, progress, expected_rows=6)
    await db.rollback()
    assert seen == [(2, 6), (4, 6), (6, 6), (6, 6)]


@pytest.mark.parametrize(
    "lines",
    [[], [f"*,002,山田 一郎,,,,{N[3]}", f"＊,003,佐藤 花子,,,,{N[10]}"]],
    ids=["header alone", "skipped rows only"],
)
async def test_a_file_with_no_row_to_import_is_refused_and_logs_nothing(
    vault: Vault, db: AsyncSession, world: World, lines: list[str]
) -> None:
    """Field trial: a file of its header alone was 'imported' and logged one 取込 entry for nothing; it is most
    likely the wrong file, and the report says so."""
    await arrange(db, vault, world)
    tenant_id, principal = world.tenant.id, admin(world)
    before = await snapshot(db, tenant_id)
    data = csv_file(SEED, lines)

    report = await check_import(db, vault, principal, data, "seed")
    assert report.rejected == NO_DATA_ROWS and report.has_errors
    with pytest.raises(ImportRefused):
        await commit_import(db, vault, principal, ACTOR, data, "seed", True)
    await db.rollback()

    assert await snapshot(db, tenant_id) == before
