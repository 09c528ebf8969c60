"""The retention run and the employee's 番号の取扱い履歴 read through indexes, not through whole tables: the run
happens every few minutes (MNV_MAINTENANCE_SECONDS) over every tenant, the page on every visit."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import insert, text
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.events import Actor, AuditAction, AuditEvent, Subject
from app.audit.log import record_many
from app.audit.models import AuditEntry
from app.auth.models import Account, Role
from app.auth.principal import Principal
from app.db import new_id, refresh_statistics, utcnow
from app.pager import PageRequest
from app.retention import remove_expired_one_time_passwords
from app.tenancy import TenantKind
from selfservice.services import number_history
from tenants.models import PayeeLink, PersonKind
from tenants.retention import remove_finished_payee_links
from tests.support.people import make_dependant, make_employee, make_payee
from tests.support.plans import captured, plan_of, sent_to
from tests.support.world import World

NOW = utcnow()
ROWS = 1500


async def forget_statistics(db: AsyncSession) -> None:
    if db.get_bind().dialect.name != "sqlite":
        # PostgreSQL keeps whatever autovacuum last saw (the test database outlives tests, so that may be a table of
        # two rows, where a scan is the right plan); only the analyzed case says something there.
        pytest.skip("PostgreSQL cannot forget a table's statistics")
    await db.execute(text("DROP TABLE IF EXISTS sqlite_stat1"))
    await db.commit()


async def analyze(db: AsyncSession) -> None:
    await refresh_statistics(db, ["accounts", "payee_links", "audit_entries"])
    await db.commit()


def no_full_scan(plan: str, table: str) -> bool:
    return f"SCAN {table}" not in plan and f"Seq Scan on {table}" not in plan


@pytest.fixture
async def crowd(db: AsyncSession, world: World) -> None:
    """Many live accounts and payee links (none expired), as in a large tenant."""
    tenant_id = world.tenant.id
    await db.execute(
        insert(Account),
        [
            {
                "tenant_id": tenant_id,
                "id": new_id(),
                "login_id": f"u{n:05d}",
                "name": "社員",
                "role": Role.EMPLOYEE,
                "password_hash": "x",
                "must_change_password": False,
            }
            for n in range(ROWS)
        ],
    )
    payee = await make_payee(db, tenant_id, "取引先")
    await db.execute(
        insert(PayeeLink),
        [
            {
                "tenant_id": tenant_id,
                "id": new_id(),
                "person_id": payee.id,
                "token_hash": uuid.uuid4().hex,
                "expires_at": NOW + dt.timedelta(days=10),
            }
            for _ in range(ROWS)
        ],
    )
    await db.commit()


@pytest.mark.parametrize("statistics", [forget_statistics, analyze], ids=["no statistics", "analyzed"])
async def test_expired_one_time_passwords_are_found_by_their_index(
    db: AsyncSession, world: World, crowd: None, statistics: object
) -> None:
    await statistics(db)  # type: ignore[operator]

    with captured(db) as sent:
        assert await remove_expired_one_time_passwords(db, NOW, 100) == {}
    plan = await plan_of(db, sent_to(sent, "accounts"))

    assert "ix_accounts_one_time_password_expires_at" in plan and no_full_scan(plan, "accounts"), plan


@pytest.mark.parametrize("statistics", [forget_statistics, analyze], ids=["no statistics", "analyzed"])
async def test_finished_payee_links_are_found_by_their_index(
    db: AsyncSession, world: World, crowd: None, statistics: object
) -> None:
    await statistics(db)  # type: ignore[operator]

    with captured(db) as sent:
        assert await remove_finished_payee_links(db, NOW, 100) == {}
    plan = await plan_of(db, sent_to(sent, "payee_links"))

    assert "ix_payee_links_expires_at" in plan and no_full_scan(plan, "payee_links"), plan


@pytest.fixture
async def subject_seq_index(db: AsyncSession) -> AsyncIterator[None]:
    """The (tenant_id, subject_person_id, seq) index migration 0020 adds (issue 11), made here while this branch
    lacks it (and dropped after: the PostgreSQL test database outlives the test), so the test checks the page's
    query shape against the index it is shaped for."""
    wanted = ["tenant_id", "subject_person_id", "seq"]
    if any([c.name for c in index.columns] == wanted for index in AuditEntry.__table__.indexes):
        yield
        return
    await db.execute(text(f"CREATE INDEX ix_test_subject_seq ON audit_entries ({', '.join(wanted)})"))
    await db.commit()
    try:
        yield
    finally:
        await db.rollback()
        await db.execute(text("DROP INDEX IF EXISTS ix_test_subject_seq"))
        await db.commit()


async def test_the_history_page_reads_one_index_range_per_person(
    db: AsyncSession, world: World, subject_seq_index: None
) -> None:
    employee = await make_employee(db, world.tenant.id, "1001", "山田 太郎")
    child = await make_dependant(db, employee, "山田 一郎")
    stranger = await make_employee(db, world.tenant.id, "1002", "他人")
    actor = Actor(user_id=None, login_id="x", name="担当", role="管理者", organisation="")
    events = [
        AuditEvent(world.tenant.id, AuditAction.REVEAL, actor, "表示", Subject(person.id, person.name))
        for n in range(ROWS)
        for person in ([stranger] if n % 10 else [employee, child, stranger])
    ]
    await record_many(db, events)
    await db.commit()
    await analyze(db)
    principal = Principal(
        account_id=world.employee.account.id,
        tenant_id=world.tenant.id,
        tenant_code=world.tenant.code,
        tenant_name=world.tenant.name,
        tenant_kind=TenantKind.COMPANY,
        login_id="emp001",
        name="山田 太郎",
        role=Role.EMPLOYEE,
        totp_enabled=False,
        person_id=employee.id,
        stepup_fresh=False,
    )
    assert employee.kind is PersonKind.EMPLOYEE

    with captured(db) as sent:
        page = await number_history(db, principal, employee, PageRequest())
    ranges = [s for s in sent if "subject_person_id" in s.sql and "UNION ALL" in s.sql]
    assert len(ranges) == 1, [s.sql for s in sent]
    plan = await plan_of(db, ranges[0])

    assert len(page.rows) == 20 and {row.subject for row in page.rows} == {"山田 太郎", "山田 一郎"}
    # One index range per person, each read newest first and cut at the page's limit (the merge sorts only those).
    assert no_full_scan(plan, "audit_entries"), plan
    if db.get_bind().dialect.name == "sqlite":
        assert plan.count("subject_person_id=?)") == 2, plan
    else:
        assert plan.count("subject_person_id = ") == 2, plan
