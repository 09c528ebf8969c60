"""``mnvault check counts``: the counters against a full recount, differences in Japanese, repaired, exit status."""

from __future__ import annotations

from sqlalchemy import Uuid, bindparam, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import Settings
from tenants.cli import run_check_counts
from tenants.listing import NO_DEPARTMENT, recount, stored_counts
from tenants.models import CollectionStatus, PeopleCount, PersonKind
from tests.support.people import make_department, make_dependant, make_employee
from tests.support.world import World
from tests.test_cli import mnvault


async def arrange_wrong_counts(db: AsyncSession, world: World) -> None:
    """acme: 営業 (S01) with an employee and a child; its employees' counter says 6 instead of 1."""
    sales = await make_department(db, world.tenant.id, "S01", "営業")
    employee = await make_employee(db, world.tenant.id, "E100", "山田 太郎", department=sales)
    await make_dependant(db, employee, "山田 花子")
    await make_employee(db, world.other_tenant.id, "001", "よその人")
    await db.commit()
    await db.execute(
        update(PeopleCount)
        .where(
            PeopleCount.tenant_id == world.tenant.id,
            PeopleCount.department_id == sales.id,
            PeopleCount.kind == PersonKind.EMPLOYEE,
        )
        .values(count=6)
    )
    await db.commit()


async def test_it_reports_differences_and_repairs_them(db: AsyncSession, world: World, settings: Settings) -> None:
    await arrange_wrong_counts(db, world)

    dry = await run_check_counts(settings, "acme", repair=False)
    assert (dry.checked, dry.differed) == (1, 1)
    assert dry.lines[0] == "NG  acme（アクメ商事株式会社）: 件数が数え直した結果と 1 か所で食い違っています"
    assert dry.lines[1] == "    部門 S01 営業 / 従業員 / 未登録: 記録 6人 → 数え直し 1人"
    assert "    --dry-run のため修復していません。" in dry.lines
    assert await stored_counts(db, world.tenant.id) != await recount(db, world.tenant.id)

    repaired = await run_check_counts(settings, "acme")
    assert repaired.differed == 1 and "    数え直した件数に修復しました。" in repaired.lines
    assert await stored_counts(db, world.tenant.id) == await recount(db, world.tenant.id)

    again = await run_check_counts(settings, str(world.tenant.id))
    assert again.differed == 0
    assert again.lines == [
        "OK  acme（アクメ商事株式会社）: 件数は数え直した結果と一致しています",
        "1 テナントの件数はすべて一致しています。",
    ]


async def test_a_missing_counter_row_and_a_stray_one_are_both_reported(
    db: AsyncSession, world: World, settings: Settings
) -> None:
    await arrange_wrong_counts(db, world)
    await db.execute(
        update(PeopleCount)
        .where(PeopleCount.tenant_id == world.tenant.id, PeopleCount.kind == PersonKind.DEPENDANT)
        .values(status=CollectionStatus.DECLINED)
    )
    await db.commit()
    outcome = await run_check_counts(settings, None, repair=True)
    assert outcome.checked == 3 and outcome.differed == 1  # operator, acme, other: only acme differs
    assert "    部門 S01 営業 / 扶養家族 / 提供拒否: 記録 1人 → 数え直し 0人" in outcome.lines
    assert "    部門 S01 営業 / 扶養家族 / 未登録: 記録 0人 → 数え直し 1人" in outcome.lines
    assert outcome.lines[-1] == "3 テナント中 1 テナントで食い違いがあり、修復しました。"
    assert await stored_counts(db, world.tenant.id) == await recount(db, world.tenant.id)


async def test_the_command_exits_1_when_it_repaired_0_when_all_matched_2_when_it_could_not_run(
    db: AsyncSession, world: World, settings: Settings
) -> None:
    await arrange_wrong_counts(db, world)

    dry = mnvault(settings, "check", "counts", "--tenant", "acme", "--dry-run")
    assert dry.returncode == 1, dry.stderr
    assert "記録 6人 → 数え直し 1人" in dry.stdout and "修復していません" in dry.stdout

    repair = mnvault(settings, "check", "counts", "--tenant", "acme")
    assert repair.returncode == 1, repair.stderr
    assert "修復しました" in repair.stdout

    clean = mnvault(settings, "check", "counts", "--all")
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert "OK  acme（アクメ商事株式会社）" in clean.stdout and "OK  other" in clean.stdout

    unknown = mnvault(settings, "check", "counts", "--tenant", "nope")
    assert unknown.returncode == 2
    assert unknown.stderr.strip() == "エラー: テナント nope が見つかりません（コードか ID を指定してください）"

    neither = mnvault(settings, "check", "counts")
    assert neither.returncode == 2 and "--tenant CODE か --all" in neither.stderr


async def test_a_counter_row_of_a_status_no_version_knows_is_reported_and_deleted(
    db: AsyncSession, world: World, settings: Settings
) -> None:
    """Field trial: a row with status 'bogus' made the home page and `check counts` fail with a traceback (exit 1,
    nothing repaired). The check names it and deletes it; --dry-run leaves it."""
    await make_employee(db, world.tenant.id, "E001", "山田 太郎")
    await db.commit()
    bogus = text(
        "INSERT INTO people_counts (tenant_id, department_id, kind, status, count)"
        " VALUES (:t, :d, 'employee', 'bogus', 2)"
    ).bindparams(bindparam("t", type_=Uuid), bindparam("d", type_=Uuid))
    await db.execute(bogus, {"t": world.tenant.id, "d": NO_DEPARTMENT})
    await db.commit()

    looked = await run_check_counts(settings, world.tenant.code, repair=False)
    assert looked.differed == 1 and any("読めない件数の記録が 1 行" in line for line in looked.lines)
    repaired = await run_check_counts(settings, world.tenant.code, repair=True)
    assert repaired.differed == 1
    again = await run_check_counts(settings, world.tenant.code, repair=True)
    assert again.differed == 0
    assert await stored_counts(db, world.tenant.id) == await recount(db, world.tenant.id)
