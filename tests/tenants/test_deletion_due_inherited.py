"""削除予定日 of a dependant going by its employee's (issue 11): the date it will be erased by is on its row, so the
deletion list shows it, the 削除予定日超過 filter, the home reminder, ``mnvault deletions due`` and the daily mail find
it; it follows the employee's date when that is proposed, changed or cancelled; a dependant's own date and its own
予定解除 stay; another tenant is never touched."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import AsyncIterator

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.audit.events import Actor
from app.audit.log import list_entries
from app.config import Settings
from app.db import make_engine
from app.mail import Mailer
from app.vault import Vault
from tenants.cli import run_deletions_due
from tenants.due_following import UnloggedDeletionDue
from tenants.models import Person, PersonKind, Relationship
from tenants.services import send_deletion_reminders
from tenants.services._deletion_due import log_followed_dates
from tenants.services.bulk import PersonRecord, write_people
from tests.support.people import give_number, make_dependant, make_employee, valid_my_number
from tests.support.world import World, post_form, sign_in
from tests.test_mail import Inbox, inbox, unix_lines

__all__ = ["inbox"]  # a fixture

PROPOSED = dt.date(2032, 1, 1)  # 退職日 2024/03/31: 1 January 2025 + 7 years
ACTOR = Actor(user_id=None, login_id="admin", name="岡 昌平", role="管理者", organisation="アクメ商事株式会社")


@pytest.fixture
async def vault(settings: Settings) -> AsyncIterator[Vault]:
    opened = Vault.from_settings(settings)
    yield opened
    await opened.close()


async def fresh(db: AsyncSession, person_id: uuid.UUID) -> Person:
    statement = select(Person).where(Person.id == person_id).execution_options(populate_existing=True)
    return (await db.execute(statement)).scalar_one()


def row_of(page: str, name: str) -> str:
    """The deletion list's row naming ``name`` (empty when the page has none)."""
    rows = [part.split("</tr>", 1)[0] for part in page.split("<tr>")[1:]]
    found = [row for row in rows if name in row]
    return found[0] if found else ""


async def family(db: AsyncSession, vault: Vault, world: World) -> tuple[Person, Person, Person]:
    """退職 太郎 (301) with two dependants holding numbers; nobody has a date yet."""
    employee = await make_employee(db, world.tenant.id, "301", "退職 太郎")
    child = await make_dependant(db, employee, "退職 花子")
    other = await make_dependant(db, employee, "退職 次郎")
    for index, person in enumerate((employee, child, other)):
        await give_number(db, vault, person, valid_my_number(70 + index))
    await db.commit()
    return employee, child, other


async def set_due(client: AsyncTestClient[Litestar], person: Person, day: str, reason: str = "確認のため") -> None:
    response = await post_form(client, f"/admin/deletions/{person.id}/due", {"due_on": day, "reason": reason})
    assert response.status_code == 302, response.text[:1000]


async def cancel_due(client: AsyncTestClient[Litestar], person: Person, reason: str = "保管の依頼") -> None:
    response = await post_form(client, f"/admin/deletions/{person.id}/due/cancel", {"reason": reason})
    assert response.status_code == 302, response.text[:1000]


async def test_a_dependant_going_by_its_employees_date_is_listed_filtered_and_reminded_with_it(
    client: AsyncTestClient[Litestar], world: World, db: AsyncSession, vault: Vault, settings: Settings
) -> None:
    employee, child, other = await family(db, vault, world)
    elsewhere = await make_employee(db, world.other_tenant.id, "301", "よその 太郎")
    elsewhere_child = await make_dependant(db, elsewhere, "よその 花子")
    await db.commit()
    await sign_in(client, world.admin)
    await set_due(client, other, "2099/01/01", "長期保管のため")  # a date of its own wins
    await set_due(client, employee, "2020/04/01", "保存期間経過")
    follows, own = await fresh(db, child.id), await fresh(db, other.id)
    assert (follows.deletion_due_on, follows.deletion_due_inherited) == (dt.date(2020, 4, 1), True)
    assert (own.deletion_due_on, own.deletion_due_inherited) == (dt.date(2099, 1, 1), False)

    listed = (await client.get("/admin/deletions")).text
    assert "2020/04/01" in row_of(listed, "退職 太郎 &gt; 退職 花子")
    assert "（従業員本人の予定日）" in row_of(listed, "退職 太郎 &gt; 退職 花子")
    assert "2099/01/01" in row_of(listed, "退職 太郎 &gt; 退職 次郎")
    past_due = (await client.get("/admin/deletions?filter=past_due")).text
    assert row_of(past_due, "退職 太郎 &gt; 退職 花子") and row_of(past_due, "退職 太郎")
    assert not row_of(past_due, "退職 次郎")
    home = (await client.get("/admin")).text
    reminder = home.split('class="panel past-due"', 1)[1].split("</section>", 1)[0]
    assert "退職 太郎 &gt; 退職 花子" in reminder and "退職 次郎" not in reminder
    lines = await run_deletions_due(settings, "acme")
    assert sorted(lines[1:]) == sorted(["301\t退職 太郎 > 退職 花子\t2020/04/01", "301\t退職 太郎\t2020/04/01"])
    due_page = (await client.get(f"/admin/deletions/{child.id}/due")).text
    assert "2020/04/01（従業員本人の削除予定日）" in due_page

    # The other tenant's people and pages are untouched.
    assert (await fresh(db, elsewhere_child.id)).deletion_due_on is None
    assert (await run_deletions_due(settings, "other")) == ["other: 削除予定日を過ぎたマイナンバーはありません。"]
    client.cookies.clear()
    await sign_in(client, world.other_admin)
    assert "退職 花子" not in (await client.get("/admin/deletions?filter=past_due")).text
    assert (await client.get(f"/admin/deletions/{child.id}/due")).status_code == 404


async def test_the_daily_mail_names_a_dependant_going_by_its_employees_date(
    db: AsyncSession, vault: Vault, world: World, settings: Settings, inbox: tuple[Inbox, int]
) -> None:
    handler, port = inbox
    world.admin.account.email = "admin@acme.example.jp"
    db.add(world.admin.account)
    employee, _, _ = await family(db, vault, world)
    employee.deletion_due_on = dt.date(2026, 1, 1)  # any ORM write of the employee's date carries it over
    await db.commit()
    engine = make_engine(settings.effective_database_url, pool_size=2)
    try:
        mailer = Mailer(Settings(smtp_host="127.0.0.1", smtp_port=port, smtp_from="mnvault@example.jp"))
        sessions = async_sessionmaker(engine, expire_on_commit=False)
        assert await send_deletion_reminders(sessions, mailer, "https://mnv.example.jp", today=dt.date(2026, 12, 1))
    finally:
        await engine.dispose()
    message = handler.message()
    assert "（3件）" in message["Subject"]
    body = unix_lines(message.get_content())
    assert "301 退職 太郎 > 退職 花子（削除予定日 2026/01/01）" in body
    assert "301 退職 太郎 > 退職 次郎（削除予定日 2026/01/01）" in body


async def test_the_inherited_date_follows_the_employees_proposal_change_and_cancellation(
    client: AsyncTestClient[Litestar], world: World, db: AsyncSession, vault: Vault
) -> None:
    employee, child, other = await family(db, vault, world)
    await sign_in(client, world.admin)
    retired = await post_form(client, f"/admin/people/{employee.id}/retire", {"retirement_date": "2024/03/31"})
    assert retired.status_code == 302
    assert (await fresh(db, child.id)).deletion_due_on == PROPOSED
    await cancel_due(client, other, "本人から保管の依頼")  # its own 予定解除 holds from now on

    # 退職の取消 and a new 退職日: the proposal comes and goes; the cancelled dependant stays without a date.
    assert (await post_form(client, f"/admin/people/{employee.id}/reinstate")).status_code == 302
    assert (await fresh(db, child.id)).deletion_due_on is None
    assert (
        await post_form(client, f"/admin/people/{employee.id}/retire", {"retirement_date": "2024/03/31"})
    ).status_code == 302
    assert (await fresh(db, child.id)).deletion_due_on == PROPOSED
    cancelled = await fresh(db, other.id)
    assert (cancelled.deletion_due_on, cancelled.deletion_due_note) == (None, "本人から保管の依頼")

    # The employee's date changed by hand: the dependant going by it changes too.
    await set_due(client, employee, "2031/06/30")
    assert (await fresh(db, child.id)).deletion_due_on == dt.date(2031, 6, 30)
    assert (await fresh(db, other.id)).deletion_due_on is None

    # The employee's plan cancelled: the inherited date goes; the dependant's own 予定解除 keeps its reason.
    await cancel_due(client, employee)
    cleared = await fresh(db, child.id)
    assert (cleared.deletion_due_on, cleared.deletion_due_inherited) == (None, False)
    assert "退職 花子" not in (await client.get("/admin/deletions?filter=past_due")).text
    assert (await fresh(db, other.id)).deletion_due_note == "本人から保管の依頼"

    # A date of the dependant's own is kept whatever the employee's does next.
    await set_due(client, child, "2040/01/01", "別途保管")
    await set_due(client, employee, "2020/01/01")
    kept = await fresh(db, child.id)
    assert (kept.deletion_due_on, kept.deletion_due_inherited) == (dt.date(2040, 1, 1), False)


async def test_a_dependant_added_later_takes_the_employees_date_on_every_path(
    client: AsyncTestClient[Litestar], world: World, db: AsyncSession, vault: Vault
) -> None:
    employee, _, _ = await family(db, vault, world)
    await sign_in(client, world.admin)
    await set_due(client, employee, "2030/01/01", "保存期間経過")  # by hand, no 退職日
    response = await post_form(
        client,
        f"/admin/people/{employee.id}/dependants/new",
        {"name": "退職 三郎", "kana": "タイショク サブロウ", "relationship": "子", "birth_date": "2015/01/01"},
    )
    assert response.status_code == 302, response.text[:1000]
    await write_people(
        db,
        vault,
        tenant_id=world.tenant.id,
        actor=ACTOR,
        departments=[],
        people=[PersonRecord(kind=PersonKind.DEPENDANT, employee_code="301", name="退職 四郎", relationship="子")],
    )
    await db.commit()
    for name in ("退職 三郎", "退職 四郎"):
        statement = select(Person).where(Person.tenant_id == world.tenant.id, Person.name == name)
        person = (await db.execute(statement.execution_options(populate_existing=True))).scalar_one()
        assert (person.deletion_due_on, person.deletion_due_inherited) == (dt.date(2030, 1, 1), True), name


async def test_a_dependant_added_in_the_same_flush_as_its_dated_employee_takes_the_date(
    db: AsyncSession, world: World
) -> None:
    employee = Person(
        id=uuid.uuid4(),
        tenant_id=world.tenant.id,
        kind=PersonKind.EMPLOYEE,
        employee_code="E701",
        name="山田 太郎",
        deletion_due_on=dt.date(2030, 1, 1),
    )
    child = Person(
        tenant_id=world.tenant.id,
        kind=PersonKind.DEPENDANT,
        employee_id=employee.id,
        name="山田 花子",
        relationship=Relationship.CHILD,
    )
    db.add_all([child, employee])  # the dependant first: one INSERT still holds both rows
    await db.commit()
    stored = await fresh(db, child.id)
    assert (stored.deletion_due_on, stored.deletion_due_inherited) == (dt.date(2030, 1, 1), True)


async def followed_entries(db: AsyncSession, tenant_id: uuid.UUID, person: Person) -> list[tuple[str, str, str]]:
    """(old, new, actor) of the person's 削除予定日の変更 entries written because its employee's date changed."""
    entries = reversed(await list_entries(db, tenant_id, person_id=person.id, limit=100))
    return [
        (e.detail["old"], e.detail["new"], e.actor_login_id)
        for e in entries
        if e.function == "削除予定日の変更" and e.detail.get("event") == "deletion_due_followed"
    ]


async def test_every_dependant_whose_date_follows_its_employee_gets_its_own_log_entry(
    client: AsyncTestClient[Litestar], world: World, db: AsyncSession, vault: Vault
) -> None:
    employee, child, other = await family(db, vault, world)
    await sign_in(client, world.admin)
    login = world.admin.account.login_id
    assert (
        await post_form(client, f"/admin/people/{employee.id}/retire", {"retirement_date": "2024/03/31"})
    ).status_code == 302
    await cancel_due(client, other, "本人から保管の依頼")  # from now on it no longer follows
    await set_due(client, employee, "2031/06/30")
    assert (await post_form(client, f"/admin/people/{employee.id}/reinstate")).status_code == 302
    assert await followed_entries(db, world.tenant.id, child) == [
        ("", PROPOSED.isoformat(), login),  # 退職処理 proposed the employee's date
        (PROPOSED.isoformat(), "2031-06-30", login),  # changed by hand
    ]  # 退職の取消 leaves a date set by hand (and the dependant with it)
    assert await followed_entries(db, world.tenant.id, other) == [("", PROPOSED.isoformat(), login)]
    await cancel_due(client, employee)
    assert (await followed_entries(db, world.tenant.id, child))[-1] == ("2031-06-30", "", login)
    assert len(await followed_entries(db, world.tenant.id, other)) == 1
    # Named as the log names a dependant: under its employee's 社員コード.
    entries = await list_entries(db, world.tenant.id, person_id=child.id)
    entry = next(e for e in entries if e.detail.get("event") == "deletion_due_followed")
    assert (entry.subject_employee_code, entry.detail["employee_code"]) == ("301", "301")


async def test_a_commit_with_a_followed_date_left_unlogged_fails(db: AsyncSession, vault: Vault, world: World) -> None:
    employee, child, _other = await family(db, vault, world)
    employee_id, child_id, tenant_id = employee.id, child.id, world.tenant.id
    employee.deletion_due_on = dt.date(2030, 1, 1)  # not through the services, which log the dependants
    await db.flush()
    with pytest.raises(UnloggedDeletionDue):
        await db.commit()
    await db.rollback()
    assert (await fresh(db, child_id)).deletion_due_on is None
    employee = await fresh(db, employee_id)
    employee.deletion_due_on = dt.date(2030, 1, 1)
    await log_followed_dates(db, ACTOR)
    await db.commit()
    child = await fresh(db, child_id)
    assert child.deletion_due_on == dt.date(2030, 1, 1)
    assert await followed_entries(db, tenant_id, child) == [("", "2030-01-01", "admin")]
