"""The invitation list read by index ranges: every state filter pages over exactly the employees
``invitation_state`` puts in it, forwards and back, numbered pages then cursors; counts; another tenant never shows;
the account state copied to the person follows every account write; bulk issuing runs in batches."""

from __future__ import annotations

import datetime as dt
import uuid
from urllib.parse import parse_qs, urlsplit

import pytest
from litestar.exceptions import NotFoundException
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.models import Account, Role
from app.auth.passwords import hasher_from_settings
from app.auth.principal import Principal
from app.config import Settings
from app.db import utcnow
from app.pager import page_links
from app.tenancy import Tenant
from app.text import today_in_japan
from selfservice import services
from selfservice.services import _invitation_list, _invitations
from tenants.account_listing import ACCOUNT_STATES, account_state
from tenants.models import Department, Person, PersonKind, Relationship
from tests.conftest import BACKEND
from tests.support.page_plans import plans_of, principal_of
from tests.support.world import World

NOW = utcnow()
# How each employee's account (and 退職日) is arranged, cycled over the company.
KINDS = (
    *("none", "invited", "expired", "active", "retired"),
    *("retired_with_account", "disabled", "leaving", "active", "none"),
)


@pytest.fixture
async def company(db: AsyncSession, world: World) -> dict[str, Department]:
    """70 employees over two departments in every invitation state, some with dependants, two without a code;
    the other company has employees with the same codes. The company pays for 200 self-registration ids."""
    tenant = await db.get(Tenant, world.tenant.id)
    assert tenant is not None
    tenant.self_registration_packs = 30  # 50 + 5 × 30 (billing.contract: issuing beyond the packs is refused)
    sales = Department(tenant_id=world.tenant.id, code="S", name="営業部")
    general = Department(tenant_id=world.tenant.id, code="G", name="総務部")
    db.add_all([sales, general])
    await db.flush()
    for index in range(70):
        code = None if index in (13, 41) else f"E{index:03d}"
        person = Person(
            tenant_id=world.tenant.id,
            kind=PersonKind.EMPLOYEE,
            employee_code=code,
            name=f"社員 {index:03d}",
            department_id=(sales if index % 3 else general).id,
        )
        db.add(person)
        await db.flush()
        _arrange(db, person, KINDS[index % len(KINDS)])
        if index % 4 == 0:
            db.add(
                Person(
                    tenant_id=world.tenant.id,
                    kind=PersonKind.DEPENDANT,
                    employee_id=person.id,
                    name=f"家族 {index:03d}",
                    relationship=Relationship.CHILD,
                )
            )
    for index in range(5):
        db.add(
            Person(
                tenant_id=world.other_tenant.id, kind=PersonKind.EMPLOYEE, employee_code=f"E{index:03d}", name="よそ"
            )
        )
    await db.commit()
    return {"sales": sales, "general": general}


def _arrange(db: AsyncSession, person: Person, kind: str) -> None:
    def account(**values: object) -> None:
        db.add(
            Account(
                tenant_id=person.tenant_id,
                login_id=f"emp-{person.id.hex[-8:]}",
                name=person.name,
                role=Role.EMPLOYEE,
                person_id=person.id,
                **values,
            )
        )

    if kind == "invited":
        account(must_change_password=True, password_expires_at=NOW + dt.timedelta(days=5))
    elif kind == "expired":
        account(must_change_password=True, password_expires_at=NOW - dt.timedelta(days=1))
    elif kind == "active":
        account(must_change_password=False)
    elif kind == "retired":
        person.retirement_date = today_in_japan() - dt.timedelta(days=30)
    elif kind == "retired_with_account":
        person.retirement_date = today_in_japan()
        account(must_change_password=False, disabled_at=NOW - dt.timedelta(hours=1))
    elif kind == "disabled":
        account(must_change_password=False, disabled_at=NOW - dt.timedelta(days=2))
    elif kind == "leaving":  # a 退職日 ahead: access ends that day, in use until then
        person.retirement_date = today_in_japan() + dt.timedelta(days=10)
        account(must_change_password=False, disabled_at=NOW + dt.timedelta(days=10))


async def expected(db: AsyncSession, tenant_id: uuid.UUID, filters: services.InvitationFilter) -> list[uuid.UUID]:
    """The filter's employees by the Python rule, in list order (社員コード, missing ones first, then id)."""
    people = (
        (await db.execute(select(Person).where(Person.tenant_id == tenant_id, Person.kind == PersonKind.EMPLOYEE)))
        .scalars()
        .all()
    )
    accounts = {
        a.person_id: a
        for a in (
            await db.execute(select(Account).where(Account.tenant_id == tenant_id, Account.role == Role.EMPLOYEE))
        )
        .scalars()
        .all()
    }
    now = utcnow()
    chosen = [
        p
        for p in people
        if services.invitation_state(p, accounts.get(p.id), now) in filters.states
        and (not filters.department_id or str(p.department_id) == filters.department_id)
    ]
    return [p.id for p in sorted(chosen, key=lambda p: (p.employee_code or "", p.id))]


def follow(link_url: str, filters: services.InvitationFilter) -> services.InvitationFilter:
    query = {key: values[0] for key, values in parse_qs(urlsplit(link_url).query).items()}
    return services.InvitationFilter(
        department_id=filters.department_id,
        state=filters.state,
        page=int(query.get("page", "1")),
        after=query.get("after", ""),
        before=query.get("before", ""),
    )


async def walk(
    db: AsyncSession, principal: Principal, filters: services.InvitationFilter, rel: str
) -> list[services.InvitationPage]:
    """Every page from ``filters`` on, following the pager's 次へ (``next``) or 前へ (``prev``) links."""
    pages = []
    while True:
        page = await services.invitation_page(db, principal, filters)
        pages.append(page)
        links = page_links(
            page.window, page.total, lambda params: "/?" + "&".join(f"{k}={v}" for k, v in params.items())
        )
        step = [link for link in links if link.rel == rel]
        if not step:
            return pages
        filters = follow(step[0].url or "", filters)
        assert len(pages) < 100


FILTERS = [(department, state) for department in ("", "sales", "general") for state in services.STATE_FILTERS]


@pytest.mark.parametrize(("department", "state"), FILTERS)
async def test_every_filter_pages_over_exactly_its_employees_both_ways(
    db: AsyncSession,
    world: World,
    company: dict[str, Department],
    monkeypatch: pytest.MonkeyPatch,
    department: str,
    state: str,
) -> None:
    monkeypatch.setattr(_invitation_list, "INVITATIONS_PER_PAGE", 3)  # up to 24 pages: numbered ones, then cursors
    principal = principal_of(world.admin)
    filters = services.InvitationFilter(department_id=str(company[department].id) if department else "", state=state)
    wanted = await expected(db, world.tenant.id, filters)
    assert wanted, "every filter has someone in it"
    forwards = await walk(db, principal, filters, "next")
    seen = [row.person.id for page in forwards for row in page.rows]
    assert seen == wanted
    assert all(str(page.total) == str(len(wanted)) for page in forwards)
    assert all(row.state in filters.states for page in forwards for row in page.rows)
    back = await walk(db, principal, follow("/?page=999", filters), "prev")
    assert [row.person.id for page in reversed(back) for row in page.rows] == wanted
    pending = await expected(
        db, world.tenant.id, services.InvitationFilter(department_id=filters.department_id, state="pending")
    )
    in_bulk = [i for i in wanted if i in set(pending)]
    assert str(forwards[0].bulk_matching) == str(len(in_bulk))


async def test_a_page_number_beyond_the_end_shows_the_last_page(
    db: AsyncSession, world: World, company: dict[str, Department], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_invitation_list, "INVITATIONS_PER_PAGE", 3)
    principal = principal_of(world.admin)
    wanted = await expected(db, world.tenant.id, services.InvitationFilter())
    page = await services.invitation_page(db, principal, services.InvitationFilter(page=999))
    assert [row.person.id for row in page.rows] == wanted[-3:]
    assert page.window.has_previous and not page.window.has_next


async def test_another_companys_department_or_people_never_show(
    db: AsyncSession, world: World, company: dict[str, Department]
) -> None:
    principal = principal_of(world.admin)
    foreign = Department(tenant_id=world.other_tenant.id, code="S", name="よその営業部")
    db.add(foreign)
    await db.commit()
    page = await services.invitation_page(db, principal, services.InvitationFilter(department_id=str(foreign.id)))
    assert page.rows == [] and str(page.total) == "0"
    everyone = await services.invitation_page(db, principal, services.InvitationFilter())
    assert {row.person.tenant_id for row in everyone.rows} == {world.tenant.id}
    other_person = (await db.execute(select(Person).where(Person.tenant_id == world.other_tenant.id))).scalars().first()
    assert other_person is not None
    with pytest.raises(NotFoundException):
        await services.issue_invitations(db, None, None, principal, [str(other_person.id)])  # type: ignore[arg-type]


async def test_the_account_state_on_the_person_follows_every_account_write(
    db: AsyncSession, world: World, company: dict[str, Department]
) -> None:
    people = (
        (
            await db.execute(
                select(Person).where(Person.tenant_id == world.tenant.id, Person.kind == PersonKind.EMPLOYEE)
            )
        )
        .scalars()
        .all()
    )
    accounts = {
        a.person_id: a
        for a in (await db.execute(select(Account).where(Account.tenant_id == world.tenant.id))).scalars()
    }
    for person in people:
        assert person.account_state == account_state(accounts.get(person.id)), person.name
    person = next(p for p in people if p.id in accounts and accounts[p.id].disabled_at is None)
    account = accounts[person.id]
    account.must_change_password = True
    await db.commit()
    assert await _stored_state(db, person) == 1
    account.must_change_password = False
    await db.commit()
    assert await _stored_state(db, person) == 2
    account.disabled_at = utcnow()
    await db.commit()
    assert await _stored_state(db, person) == 3
    await db.delete(account)
    await db.commit()
    assert await _stored_state(db, person) == 0
    assert set(ACCOUNT_STATES) == {0, 1, 2, 3}


async def _stored_state(db: AsyncSession, person: Person) -> int:
    statement = select(Person.account_state).where(Person.tenant_id == person.tenant_id, Person.id == person.id)
    return int((await db.execute(statement)).scalar_one())


async def test_issuing_across_the_filter_runs_in_batches_and_takes_each_pending_one_once(
    db: AsyncSession, world: World, settings: Settings, company: dict[str, Department], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_invitations, "ISSUE_BATCH", 4)
    principal = principal_of(world.admin)
    filters = services.InvitationFilter(department_id=str(company["sales"].id))
    pending = await expected(
        db, world.tenant.id, services.InvitationFilter(department_id=filters.department_id, state="pending")
    )
    reads: list[int] = []
    original = _invitation_list.seek_union

    async def counted(*args: object, **kwargs: object) -> object:
        reads.append(1)
        return await original(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(_invitation_list, "seek_union", counted)
    hasher = hasher_from_settings(settings)
    issued = await services.issue_for_scope(db, settings, hasher, principal, "filter", [], filters)
    await db.commit()
    assert sorted(item.person.id for item in issued) == sorted(pending)
    assert len(reads) == len(pending) // 4 + 1  # one keyset read per batch of 4
    assert (
        await expected(
            db, world.tenant.id, services.InvitationFilter(department_id=filters.department_id, state="pending")
        )
        == []
    )
    login_ids = [item.account.login_id for item in issued]
    assert len(set(login_ids)) == len(login_ids)


@pytest.mark.skipif(BACKEND != "sqlite", reason="EXPLAIN QUERY PLAN is SQLite's")
@pytest.mark.parametrize(("department", "state"), FILTERS)
async def test_a_page_reads_index_ranges_without_a_table_scan_or_sort(
    db: AsyncSession, world: World, company: dict[str, Department], department: str, state: str
) -> None:
    principal = principal_of(world.admin)
    filters = services.InvitationFilter(department_id=str(company[department].id) if department else "", state=state)
    page, plans = await plans_of(db, lambda: services.invitation_page(db, principal, filters))
    assert page.rows
    after = services.InvitationFilter(
        department_id=filters.department_id, state=state, page=2, after=page.window.last_cursor
    )
    _, more = await plans_of(db, lambda: services.invitation_page(db, principal, after))
    for plan in plans + more:
        tables = {"people", "accounts", "departments", "people_counts"}
        assert not plan.full_scans(tables), plan.sql + "\n" + plan.text
        # people_counts holds a few rows per department and state: the counters are read whole on purpose.
        assert not plan.tenant_wide(tables - {"people_counts"}), plan.sql + "\n" + plan.text
        # The one sort allowed on table rows: employees whose 退職日 lies ahead (a small set), per account state.
        assert not plan.table_sorts(tables, lambda line: "retirement_date>?" in line), plan.sql + "\n" + plan.text
    walked = state in ("", "inactive")  # every employee in 社員コード order; a state picks its account-state ranges
    index = {
        (True, False): "ix_people_list_code_",
        (True, True): "ix_people_list_department_",
        (False, False): "ix_people_invitations (",
        (False, True): "ix_people_invitations_department",
    }[walked, bool(department)]
    assert any(index in plan.text for plan in plans), "\n\n".join(plan.text for plan in plans)
