"""削除予定日 (issue 11): proposed on every path that sets a 退職日, dependants follow, 退職の取消 clears it, changes
and 予定解除 with a reason are logged, the retention rule is the tenant's, and the CLI lists what is past due."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.events import Actor, AuditAction
from app.config import Settings
from app.tenancy import Tenant
from app.vault import Vault
from tenants.cli import run_deletions_due
from tenants.models import Person, PersonKind
from tenants.services.bulk import DepartmentRecord, PersonRecord, write_people
from tests.support.api import bearer, make_token
from tests.support.audit import entries
from tests.support.people import give_number, make_dependant, make_employee, valid_my_number
from tests.support.world import World, post_form, sign_in, step_up
from tests.test_cli import mnvault

RETIRED = dt.date(2024, 3, 31)
PROPOSED = dt.date(2032, 1, 1)  # 1 January 2025 + 7 years
ACTOR = Actor(user_id=None, login_id="admin", name="岡 昌平", role="管理者", organisation="アクメ商事株式会社")
EMPLOYEE_FORM = {
    "employee_code": "301",
    "name": "退職 太郎",
    "kana": "タイショク タロウ",
    "birth_date": "1980-05-10",
    "hire_date": "2010-04-01",
}


@pytest.fixture
async def vault(settings: Settings) -> AsyncIterator[Vault]:
    opened = Vault.from_settings(settings)
    yield opened
    await opened.close()


async def fresh(db: AsyncSession, person_id: uuid.UUID) -> Person:
    statement = select(Person).where(Person.id == person_id).execution_options(populate_existing=True)
    return (await db.execute(statement)).scalar_one()


async def by_name(db: AsyncSession, tenant_id: uuid.UUID, name: str) -> Person:
    statement = select(Person).where(Person.tenant_id == tenant_id, Person.name == name)
    return (await db.execute(statement.execution_options(populate_existing=True))).scalar_one()


async def family(db: AsyncSession, world: World, code: str = "301") -> tuple[Person, Person]:
    employee = await make_employee(db, world.tenant.id, code, "退職 太郎", kana="タイショク タロウ")
    child = await make_dependant(db, employee, "退職 花子")
    await db.commit()
    return employee, child


async def set_rule(db: AsyncSession, tenant_id: uuid.UUID, purposes: list[str] | None) -> None:
    tenant = (await db.execute(select(Tenant).where(Tenant.id == tenant_id))).scalar_one()
    tenant.retention_purposes = purposes
    await db.commit()


def status(response: Any) -> int:
    return int(response.status_code)


# Proposal on every path ---------------------------------------------------------------------------------------


async def test_retiring_proposes_the_date_and_the_dependant_follows_then_reinstating_clears_both(
    client: AsyncTestClient[Litestar], world: World, db: AsyncSession
) -> None:
    employee, child = await family(db, world)
    await sign_in(client, world.handler)
    response = await post_form(client, f"/admin/people/{employee.id}/retire", {"retirement_date": "令和6年3月31日"})
    assert status(response) == 302
    retired, follows = await fresh(db, employee.id), await fresh(db, child.id)
    assert (retired.deletion_due_on, retired.deletion_due_proposed) == (PROPOSED, True)
    # The dependant goes by the employee's date, copied onto its row (inherited, not a proposal of its own).
    assert (follows.deletion_due_on, follows.deletion_due_inherited) == (PROPOSED, True)
    [entry] = [e for e in await entries(db, world.tenant.id, AuditAction.UPDATE) if e.function == "退職処理"]
    assert entry.detail["deletion_due_on"] == "2032-01-01"

    response = await post_form(client, f"/admin/people/{employee.id}/reinstate")
    assert status(response) == 302
    back, child_back = await fresh(db, employee.id), await fresh(db, child.id)
    assert back.deletion_due_on is None and not back.deletion_due_proposed
    assert child_back.deletion_due_on is None and not child_back.deletion_due_inherited


async def test_the_employee_form_proposes_on_add_and_follows_an_edited_retirement_date(
    client: AsyncTestClient[Litestar], world: World, db: AsyncSession
) -> None:
    await sign_in(client, world.admin)
    response = await post_form(client, "/admin/people/new", {**EMPLOYEE_FORM, "retirement_date": "2024/03/31"})
    assert status(response) == 302, response.text[:1000]  # type: ignore[attr-defined]
    person = await by_name(db, world.tenant.id, "退職 太郎")
    assert person.deletion_due_on == PROPOSED
    child = await make_dependant(db, person, "退職 花子")
    await db.commit()
    response = await post_form(
        client, f"/admin/people/{person.id}/edit", {**EMPLOYEE_FORM, "retirement_date": "2025/01/15"}
    )
    assert status(response) == 302, response.text[:1000]  # type: ignore[attr-defined]
    assert (await fresh(db, person.id)).deletion_due_on == dt.date(2033, 1, 1)
    assert (await fresh(db, child.id)).deletion_due_on == dt.date(2033, 1, 1)


async def test_a_date_set_by_hand_is_kept_when_the_retirement_changes_or_is_cancelled(
    client: AsyncTestClient[Litestar], world: World, db: AsyncSession
) -> None:
    employee, _ = await family(db, world)
    await sign_in(client, world.admin)
    await post_form(client, f"/admin/people/{employee.id}/retire", {"retirement_date": "2024/03/31"})
    response = await post_form(
        client, f"/admin/deletions/{employee.id}/due", {"due_on": "2035/04/01", "reason": "訴訟のため延長"}
    )
    assert status(response) == 302
    await post_form(client, f"/admin/people/{employee.id}/reinstate")
    kept = await fresh(db, employee.id)
    assert (kept.deletion_due_on, kept.deletion_due_proposed) == (dt.date(2035, 4, 1), False)


async def test_the_tenants_rule_decides_the_proposal_and_a_new_dependant_follows(
    client: AsyncTestClient[Litestar], world: World, db: AsyncSession
) -> None:
    await set_rule(db, world.tenant.id, ["health_pension", "workers_compensation"])
    employee, _ = await family(db, world)
    await sign_in(client, world.admin)
    await post_form(client, f"/admin/people/{employee.id}/retire", {"retirement_date": "2024/03/31"})
    assert (await fresh(db, employee.id)).deletion_due_on == dt.date(2027, 4, 1)  # 労災 3 years beats 2
    response = await post_form(
        client,
        f"/admin/people/{employee.id}/dependants/new",
        {"name": "退職 次郎", "kana": "タイショク ジロウ", "relationship": "子", "birth_date": "2015/01/01"},
    )
    assert status(response) == 302, response.text[:1000]  # type: ignore[attr-defined]
    assert (await by_name(db, world.tenant.id, "退職 次郎")).deletion_due_on == dt.date(2027, 4, 1)


async def test_the_api_proposes_when_it_sets_a_retirement_date(
    app: Litestar, client: AsyncTestClient[Litestar], world: World, db: AsyncSession
) -> None:
    headers = bearer(await make_token(db, app.state["vault"], world.tenant, scopes=("people:read", "people:write")))
    body = {"kind": "employee", "employee_code": "401", "name": "API 一郎", "kana": "エーピーアイ イチロウ"}
    added = await client.post("/api/v1/people", json={**body, "retirement_date": "2024-03-31"}, headers=headers)
    assert added.status_code == 201, added.text
    assert (await by_name(db, world.tenant.id, "API 一郎")).deletion_due_on == PROPOSED
    other = await make_employee(db, world.tenant.id, "402", "API 二郎", kana="エーピーアイ ジロウ")
    await db.commit()
    patched = await client.patch(f"/api/v1/people/{other.id}", json={"retirement_date": "2024-12-31"}, headers=headers)
    assert patched.status_code == 200, patched.text
    assert (await fresh(db, other.id)).deletion_due_on == PROPOSED


async def test_the_bulk_path_proposes_for_retired_employees_and_their_dependants(
    world: World, db: AsyncSession, vault: Vault
) -> None:
    await set_rule(db, world.tenant.id, ["employment_insurance"])
    records = [
        PersonRecord(
            kind=PersonKind.EMPLOYEE,
            employee_code="501",
            name="一括 退職",
            kana="イッカツ",
            retirement_date="2024/03/31",
        ),
        PersonRecord(kind=PersonKind.DEPENDANT, employee_code="501", name="一括 家族", relationship="子"),
        PersonRecord(kind=PersonKind.EMPLOYEE, employee_code="502", name="一括 在籍", kana="イッカツ"),
    ]
    await write_people(
        db,
        vault,
        tenant_id=world.tenant.id,
        actor=ACTOR,
        departments=[DepartmentRecord(code="1", name="部")],
        people=records,
    )
    await db.commit()
    assert (await by_name(db, world.tenant.id, "一括 退職")).deletion_due_on == dt.date(2028, 4, 1)
    dependant = await by_name(db, world.tenant.id, "一括 家族")
    assert (dependant.deletion_due_on, dependant.deletion_due_inherited) == (dt.date(2028, 4, 1), True)
    assert (await by_name(db, world.tenant.id, "一括 在籍")).deletion_due_on is None


# Changing and cancelling, and the ladder ------------------------------------------------------------------------


async def test_a_change_and_a_cancellation_are_logged_with_the_dates_and_the_reason(
    client: AsyncTestClient[Litestar], world: World, db: AsyncSession
) -> None:
    employee, _ = await family(db, world)
    await sign_in(client, world.admin)
    await post_form(client, f"/admin/people/{employee.id}/retire", {"retirement_date": "2024/03/31"})
    page = await client.get(f"/admin/deletions/{employee.id}/due")
    assert page.status_code == 200 and "2032/01/01" in page.text and "予定解除" in page.text
    changed = await post_form(
        client, f"/admin/deletions/{employee.id}/due", {"due_on": "R15.4.1", "reason": "社内規程による"}
    )
    assert status(changed) == 302
    cancelled = await post_form(client, f"/admin/deletions/{employee.id}/due/cancel", {"reason": "再雇用の予定"})
    assert status(cancelled) == 302
    person = await fresh(db, employee.id)
    assert person.deletion_due_on is None and person.deletion_due_note == "再雇用の予定"
    logged = [e for e in await entries(db, world.tenant.id, AuditAction.UPDATE) if e.function.startswith("削除予定")]
    own = [e for e in logged if e.subject_person_id == employee.id]
    assert [(e.function, e.detail["old"], e.detail["new"], e.detail["reason"]) for e in own] == [
        ("削除予定日の変更", "2032-01-01", "2033-04-01", "社内規程による"),
        ("削除予定の解除", "2033-04-01", "", "再雇用の予定"),
    ]
    # The dependant going by the employee's date: an entry of its own for each change.
    followed = [e for e in logged if e.subject_person_id != employee.id]
    assert [(e.detail["event"], e.detail["old"], e.detail["new"]) for e in followed] == [
        ("deletion_due_followed", "", "2032-01-01"),
        ("deletion_due_followed", "2032-01-01", "2033-04-01"),
        ("deletion_due_followed", "2033-04-01", ""),
    ]


async def test_each_reason_field_of_the_due_date_page_has_its_own_label_and_id(
    client: AsyncTestClient[Litestar], world: World, db: AsyncSession
) -> None:
    """The change form and the 予定解除 form each have a 理由.

    Two inputs with one id sent 解除の理由's label (and its error) to the first."""
    employee, _ = await family(db, world)
    await sign_in(client, world.admin)
    await post_form(client, f"/admin/people/{employee.id}/retire", {"retirement_date": "2024/03/31"})
    page = await client.get(f"/admin/deletions/{employee.id}/due")
    ids = re.findall(r'\sid="([^"]+)"', page.text)
    assert len(ids) == len(set(ids))
    assert '<label for="f-cancel_reason">解除の理由' in page.text and 'id="f-cancel_reason" name="reason"' in page.text
    refused = await post_form(client, f"/admin/deletions/{employee.id}/due/cancel", {"reason": ""})
    assert refused.status_code == 400 and 'aria-describedby="e-cancel_reason"' in refused.text


async def set_due_directly(db: AsyncSession, employee: Person, due: dt.date | None) -> None:
    """The employee's date as stored, with no log entry and no dependant following (a fixture, not a user's act)."""
    await db.execute(update(Person).where(Person.id == employee.id).values(deletion_due_on=due))
    await db.commit()
    await db.refresh(employee)


async def test_the_due_date_pages_walk_the_ladder(
    client: AsyncTestClient[Litestar], world: World, db: AsyncSession
) -> None:
    employee, _ = await family(db, world)
    theirs = await make_employee(db, world.other_tenant.id, "301", "よその 人")
    await db.commit()
    path = f"/admin/deletions/{employee.id}/due"
    anonymous = await client.get(path, follow_redirects=False)
    assert anonymous.status_code in (302, 303) and "/login" in anonymous.headers["location"]
    assert (await client.get("/admin/deletions", follow_redirects=False)).status_code in (302, 303)

    await set_due_directly(db, employee, dt.date(2031, 1, 1))
    for persona in (world.viewer, world.handler):  # seed 000: changing or cancelling the date is the admin's act
        await sign_in(client, persona)
        assert (await client.get("/admin/deletions")).status_code == 200
        assert (await client.get(path)).status_code == 403
        refused = await post_form(client, path, {"due_on": "2030/01/01", "reason": "閲覧者"})
        assert status(refused) == 403
        assert status(await post_form(client, f"{path}/cancel", {"reason": "担当者"})) == 403
        await client.post("/logout", follow_redirects=False)
    assert (await fresh(db, employee.id)).deletion_due_on == dt.date(2031, 1, 1)
    changes = await entries(db, world.tenant.id, AuditAction.UPDATE)
    assert [e for e in changes if e.function.startswith("削除予定")] == []
    await set_due_directly(db, employee, None)

    await sign_in(client, world.admin)
    for other in (f"/admin/deletions/{theirs.id}/due", "/admin/deletions/not-a-uuid/due"):
        assert (await client.get(other)).status_code == 404
    assert (
        status(await post_form(client, f"/admin/deletions/{theirs.id}/due", {"due_on": "2030/01/01", "reason": "x"}))
        == 404
    )
    assert status(await post_form(client, f"/admin/deletions/{theirs.id}/due/cancel", {"reason": "x"})) == 404
    no_csrf = await post_form(client, path, {"due_on": "2030/01/01", "reason": "理由"}, csrf=False)
    assert status(no_csrf) == 403
    bad_date = await post_form(client, path, {"due_on": "2030/02/30", "reason": "理由"})
    assert status(bad_date) == 400 and "存在しない日付" in bad_date.text  # type: ignore[attr-defined]
    kanji = await post_form(client, path, {"due_on": "2030/01/01", "reason": "番号一二三四五六七八九〇一八"})
    assert status(kanji) == 400 and "番号一二三四五六七八九〇一八" not in kanji.text  # type: ignore[attr-defined]
    ascii_digits = await post_form(client, f"{path}/cancel", {"reason": "番号 1234 5678 9018"})
    assert status(ascii_digits) == 400 and "1234 5678 9018" not in ascii_digits.text  # type: ignore[attr-defined]
    no_reason = await post_form(client, path, {"due_on": "2030/01/01", "reason": ""})
    assert status(no_reason) == 400 and "理由" in no_reason.text  # type: ignore[attr-defined]
    nothing_to_cancel = await post_form(client, f"{path}/cancel", {"reason": "取消"})
    assert status(nothing_to_cancel) == 400 and "削除予定日は設定されていません。" in nothing_to_cancel.text  # type: ignore[attr-defined]
    assert (await fresh(db, employee.id)).deletion_due_on is None
    assert (await fresh(db, theirs.id)).deletion_due_on is None
    ok = await post_form(client, path, {"due_on": "2030/01/01", "reason": "理由"})
    assert status(ok) == 302


# The retention setting ------------------------------------------------------------------------------------------


async def test_the_admin_chooses_the_retention_purposes_after_step_up(
    client: AsyncTestClient[Litestar], world: World, db: AsyncSession
) -> None:
    await sign_in(client, world.handler)
    assert status(await post_form(client, "/admin/settings/retention/", {"retention_purpose": "health_pension"})) == 403
    await client.post("/logout", follow_redirects=False)
    await sign_in(client, world.admin)
    await step_up(client, world.admin)
    page = await client.get("/admin/settings")
    assert page.status_code == 200 and 'value="withholding" checked' in page.text
    none = await post_form(client, "/admin/settings/retention/", {})
    assert status(none) == 400 and "保存期間の対象を1つ以上選んでください。" in none.text  # type: ignore[attr-defined]
    saved = await client.post(
        "/admin/settings/retention/",
        data={
            "retention_purpose": ["health_pension", "employment_insurance"],
            "_csrf_token": client.cookies["mnv_csrf"],
        },
        follow_redirects=False,
    )
    assert saved.status_code == 302
    tenant = (
        await db.execute(select(Tenant).where(Tenant.id == world.tenant.id).execution_options(populate_existing=True))
    ).scalar_one()
    assert tenant.retention_purposes == ["employment_insurance", "health_pension"]
    changes = await entries(db, world.tenant.id, AuditAction.SETTINGS_CHANGE)
    [entry] = [e for e in changes if e.function == "保存期間の設定"]
    assert entry.detail["new"] == ["employment_insurance", "health_pension"]


# The home reminder and the command line ---------------------------------------------------------------------------


async def past_due_family(db: AsyncSession, vault: Vault, world: World) -> tuple[Person, Person]:
    employee, child = await family(db, world)
    await give_number(db, vault, employee, valid_my_number(7))
    await give_number(db, vault, child, valid_my_number(8))
    for person in (employee, child):
        person.retirement_date = dt.date(2010, 3, 31)
        person.deletion_due_on = dt.date(2018, 1, 1)
        person.deletion_due_proposed = True
    future = await make_employee(db, world.tenant.id, "302", "まだ 先")
    await give_number(db, vault, future, valid_my_number(9))
    future.deletion_due_on = dt.date(2099, 1, 1)
    await db.commit()
    return employee, child


async def test_the_home_shows_numbers_past_their_due_date_without_the_numbers(
    client: AsyncTestClient[Litestar], world: World, db: AsyncSession, vault: Vault
) -> None:
    await past_due_family(db, vault, world)
    await sign_in(client, world.viewer)
    home = await client.get("/admin")
    assert home.status_code == 200
    reminder = home.text.split('class="panel past-due"', 1)[1].split("</section>", 1)[0]
    assert "削除予定日を過ぎたマイナンバー" in reminder and "退職 太郎 &gt; 退職 花子" in reminder
    assert "2018/01/01" in reminder and "まだ 先" not in reminder
    assert "/admin/deletions?filter=past_due" in reminder
    assert valid_my_number(7) not in home.text


async def test_an_empty_home_has_no_reminder(client: AsyncTestClient[Litestar], world: World) -> None:
    await sign_in(client, world.admin)
    assert "削除予定日を過ぎたマイナンバー" not in (await client.get("/admin")).text


async def test_the_command_lists_who_is_past_due_and_never_a_number(
    world: World, db: AsyncSession, vault: Vault, settings: Settings
) -> None:
    await past_due_family(db, vault, world)
    lines = await run_deletions_due(settings, "acme")
    assert lines[0] == "社員コード\t対象者\t削除予定日"
    assert sorted(lines[1:]) == sorted(["301\t退職 太郎 > 退職 花子\t2018/01/01", "301\t退職 太郎\t2018/01/01"])
    assert (await run_deletions_due(settings, "other")) == ["other: 削除予定日を過ぎたマイナンバーはありません。"]
    done = mnvault(settings, "deletions", "due", "--tenant", "acme")
    assert done.returncode == 0, done.stderr
    assert "退職 太郎" in done.stdout and "まだ 先" not in done.stdout and valid_my_number(7) not in done.stdout
    unknown = mnvault(settings, "deletions", "due", "--tenant", "nope")
    assert unknown.returncode == 1 and "nope" in unknown.stderr


async def test_a_payees_end_of_business_proposes_the_date_and_clearing_it_removes_the_proposal(
    client: AsyncTestClient[Litestar], world: World, db: AsyncSession
) -> None:
    await sign_in(client, world.handler)
    payee = {"payee_type": "individual", "name": "講師 一郎", "kana": "コウシ イチロウ", "end_date": "2024/03/31"}
    response = await post_form(client, "/admin/payees/new", payee)
    assert status(response) == 302, response.text[:1000]  # type: ignore[attr-defined]
    person = await by_name(db, world.tenant.id, "講師 一郎")
    assert (person.retirement_date, person.deletion_due_on) == (RETIRED, PROPOSED)
    edit = await client.get(f"/admin/payees/{person.id}/edit")
    assert 'value="2024/03/31"' in edit.text and "取引終了日" in edit.text
    bad = await post_form(client, f"/admin/payees/{person.id}/edit", {**payee, "end_date": "2024/13/01"})
    assert status(bad) == 400 and "取引終了日" in bad.text  # type: ignore[attr-defined]
    cleared = await post_form(client, f"/admin/payees/{person.id}/edit", {**payee, "end_date": ""})
    assert status(cleared) == 302
    assert (await fresh(db, person.id)).deletion_due_on is None


async def test_an_erased_number_shows_as_erased_and_its_due_date_cannot_change(
    client: AsyncTestClient[Litestar], world: World, db: AsyncSession
) -> None:
    from tenants.models import CollectionStatus

    employee, _ = await family(db, world)
    await sign_in(client, world.admin)
    await post_form(client, f"/admin/people/{employee.id}/retire", {"retirement_date": "2016/03/31"})
    person = await fresh(db, employee.id)
    person.status = CollectionStatus.ERASED  # as the erasure leaves it (its 削除予定日 stays as history)
    await db.commit()
    listing = await client.get("/admin/deletions?filter=all")
    body = listing.text.split("<tbody>", 1)[1]  # the page's head holds asset hashes, which may contain "301"
    row = next(line for line in body.split("<tr") if "退職 太郎" in line and "301" in line)
    assert "削除済" in row and "予定解除・変更" not in row
    page = await client.get(f"/admin/deletions/{employee.id}/due")
    assert "削除済みです" in page.text and "変更する" not in page.text
    changed = await post_form(client, f"/admin/deletions/{employee.id}/due", {"due_on": "R15.4.1", "reason": "誤り"})
    cancelled = await post_form(client, f"/admin/deletions/{employee.id}/due/cancel", {"reason": "誤り"})
    assert status(changed) == 400 and status(cancelled) == 400
    assert (await fresh(db, employee.id)).deletion_due_on == dt.date(2024, 1, 1)
