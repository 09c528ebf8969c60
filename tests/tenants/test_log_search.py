"""The 操作履歴 search (seed 003): each filter alone and combined, both orders, every page size; the pages cover
every matching entry exactly once both ways; the page and its ladder (anonymous, another company, roles, bad
input) on the screen."""

from __future__ import annotations

import base64
import datetime as dt
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

import app.audit.log as audit_log
from app.audit.events import Actor, AuditAction, AuditEvent, AuditResult, Subject
from app.audit.log import record_many
from app.audit.models import AuditEntry
from app.pager import PageRequest
from tenants.services._log_search import OPERATION_BY_LABEL, LogSearch, TooManyNames, iter_log, search_log
from tests.conftest import BACKEND
from tests.support.page_plans import plans_of, walk_pages
from tests.support.people import make_employee
from tests.support.world import World, sign_in

Client = AsyncTestClient[Litestar]
START = dt.datetime(2026, 4, 1, 0, 30, tzinfo=dt.UTC)  # 09:30 JST on 2026-04-01
ALICE = Actor(user_id=uuid.uuid4(), login_id="alice", name="有栖 花", role="管理者", organisation="acme", ip="10.0.0.7")
BOB = Actor(user_id=uuid.uuid4(), login_id="bob", name="坊 太", role="事務取扱担当者", organisation="acme")
ACTIONS = [
    AuditAction.VIEW,
    AuditAction.REGISTER,
    AuditAction.LOGIN,
    AuditAction.DELETE,
    AuditAction.SELF_CONFIRM,
    AuditAction.ADMIN_CONFIRM,
    AuditAction.CSV_EXPORT,
]


@dataclass
class Log:
    people: dict[str, Subject]
    gone: Subject  # an erased subject: its person row no longer exists


@pytest.fixture
async def log(db: AsyncSession, world: World, monkeypatch: pytest.MonkeyPatch) -> Log:
    """Four days of entries (12 a day) in acme and a few in the other company, every filter's values mixed."""
    people: dict[str, Subject] = {}
    staff = (
        ("E001", "山田 太郎", "ヤマダ タロウ", "D01"),
        ("E002", "山本 一郎", "ヤマモト イチロウ", "D02"),
        ("E003", "佐藤 花子", "サトウ ハナコ", "D01"),
    )
    for code, name, kana, department in staff:
        person = await make_employee(db, world.tenant.id, code, name, kana=kana)
        people[code] = Subject(person.id, name, department, f"部門{department}", code)
    other = await make_employee(db, world.other_tenant.id, "E001", "山田 太郎")
    await db.commit()
    gone = Subject(uuid.uuid4(), "消去 済子", "D02", "部門D02", "E999")
    subjects: list[Subject | None] = [*people.values(), gone, None]
    for day in range(4):
        moment = START + dt.timedelta(days=day)
        monkeypatch.setattr(audit_log, "utcnow", lambda moment=moment: moment)
        events = []
        for index in range(12):
            events.append(
                AuditEvent(
                    tenant_id=world.tenant.id,
                    action=ACTIONS[(index + day) % len(ACTIONS)],
                    actor=ALICE if index % 3 else BOB,
                    function=f"機能{index}",
                    subject=subjects[(index * 5 + day) % len(subjects)],
                    purpose="給与所得の源泉徴収票作成事務" if index % 2 else None,
                    result=[AuditResult.SUCCESS, AuditResult.SUCCESS, AuditResult.FAILURE, AuditResult.DENIED][
                        index % 4
                    ],
                )
            )
        other_subject = Subject(other.id, "山田 太郎", "D01", "部門D01", "E001")
        events.append(AuditEvent(world.other_tenant.id, AuditAction.VIEW, ALICE, "よそ", subject=other_subject))
        await record_many(db, events)
        await db.commit()
    monkeypatch.undo()
    return Log(people, gone)


async def all_entries(db: AsyncSession, tenant_id: uuid.UUID) -> list[AuditEntry]:
    found = await db.execute(select(AuditEntry).where(AuditEntry.tenant_id == tenant_id).order_by(AuditEntry.seq))
    return list(found.scalars())


def jst_day(day: int) -> dt.datetime:
    return dt.datetime(2026, 4, 1 + day, tzinfo=dt.timezone(dt.timedelta(hours=9)))


SEARCHES: dict[str, tuple[LogSearch, Callable[[AuditEntry], bool]]] = {
    "全て": (LogSearch(), lambda e: True),
    "期間": (
        LogSearch(since=jst_day(1), until=jst_day(3)),
        lambda e: START + dt.timedelta(days=1) <= e.occurred_at < START + dt.timedelta(days=3),
    ),
    "開始日のみ": (LogSearch(since=jst_day(2)), lambda e: e.occurred_at >= START + dt.timedelta(days=2)),
    "部門": (LogSearch(department_code="D01"), lambda e: e.subject_department_code == "D01"),
    "社員コード": (LogSearch(employee_code="E002"), lambda e: e.subject_employee_code == "E002"),
    "社員コード（消去済み）": (LogSearch(employee_code="E999"), lambda e: e.subject_employee_code == "E999"),
    "操作した人": (LogSearch(actor_login_id="bob"), lambda e: e.actor_login_id == "bob"),
    "操作": (LogSearch(operation=OPERATION_BY_LABEL["削除"]), lambda e: e.action is AuditAction.DELETE),
    "番号確認（本人と管理者）": (
        LogSearch(operation=OPERATION_BY_LABEL["番号確認"]),
        lambda e: e.action in (AuditAction.SELF_CONFIRM, AuditAction.ADMIN_CONFIRM),
    ),
    "結果": (LogSearch(result=AuditResult.FAILURE), lambda e: e.result is AuditResult.FAILURE),
    "操作と結果": (
        LogSearch(operation=OPERATION_BY_LABEL["閲覧"], result=AuditResult.SUCCESS),
        lambda e: e.action is AuditAction.VIEW and e.result is AuditResult.SUCCESS,
    ),
    "部門と操作した人と期間": (
        LogSearch(department_code="D01", actor_login_id="alice", since=jst_day(1)),
        lambda e: (
            e.subject_department_code == "D01"
            and e.actor_login_id == "alice"
            and e.occurred_at >= START + dt.timedelta(days=1)
        ),
    ),
    "社員コードと結果": (
        LogSearch(employee_code="E001", result=AuditResult.SUCCESS),
        lambda e: e.subject_employee_code == "E001" and e.result is AuditResult.SUCCESS,
    ),
    "該当なし": (LogSearch(department_code="D99"), lambda e: False),
    "期間の外": (LogSearch(since=jst_day(10)), lambda e: False),
}


@pytest.mark.parametrize("label", list(SEARCHES))
@pytest.mark.parametrize("oldest_first", [False, True])
async def test_each_filter_pages_every_entry_once_both_ways(
    db: AsyncSession, world: World, log: Log, label: str, oldest_first: bool
) -> None:
    base, matches = SEARCHES[label]
    search = LogSearch(**{**{f: getattr(base, f) for f in base.__dataclass_fields__}, "oldest_first": oldest_first})
    wanted = [e.seq for e in await all_entries(db, world.tenant.id) if matches(e)]
    if not oldest_first:
        wanted.reverse()

    async def read(request: PageRequest) -> Any:
        return await search_log(db, world.tenant.id, search, request, per_page=4)

    forwards = await walk_pages(read, PageRequest(), "next")
    assert [row.seq for page in forwards for row in page.entries] == wanted
    backwards = await walk_pages(read, PageRequest(page=100_000), "prev")
    assert [row.seq for page in reversed(backwards) for row in page.entries] == wanted
    assert all(row.tenant_id == world.tenant.id for page in forwards for row in page.entries)
    assert forwards[0].total.value == len(wanted)
    streamed = [row.seq async for batch in iter_log(db, world.tenant.id, search, batch=5) for row in batch]
    assert streamed == wanted


async def test_the_subject_name_matches_part_of_a_name(db: AsyncSession, world: World, log: Log) -> None:
    entries = await all_entries(db, world.tenant.id)
    yamada = log.people["E001"].person_id
    page = await search_log(db, world.tenant.id, LogSearch(subject_name="山田"), PageRequest(), per_page=100)
    assert [row.seq for row in page.entries] == [e.seq for e in reversed(entries) if e.subject_person_id == yamada]
    both = await search_log(db, world.tenant.id, LogSearch(subject_name="やま"), PageRequest(), per_page=100)
    ids = {log.people["E001"].person_id, log.people["E002"].person_id}
    assert {row.subject_person_id for row in both.entries} == ids
    assert len(both.entries) == len([e for e in entries if e.subject_person_id in ids])
    nobody = await search_log(db, world.tenant.id, LogSearch(subject_name="存在しない人"), PageRequest())
    assert nobody.entries == [] and not nobody.total


async def test_a_name_matching_too_many_people_is_refused(
    db: AsyncSession, world: World, log: Log, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tenants.services._log_search as log_search

    monkeypatch.setattr(log_search, "NAME_MATCH_LIMIT", 1)
    with pytest.raises(TooManyNames):
        await search_log(db, world.tenant.id, LogSearch(subject_name="山"), PageRequest())
    # With a 社員コード the name is tested on that employee's entries (field trial: a full name shared by 101
    # people was refused even with the 社員コード typed beside it).
    for name, code, found in (("山", "E001", True), ("やまだ", "E001", True), ("山本", "E001", False)):
        page = await search_log(db, world.tenant.id, LogSearch(subject_name=name, employee_code=code), PageRequest())
        assert bool(page.entries) is found, name
        assert all(entry.subject_employee_code == code for entry in page.entries)


@pytest.mark.parametrize("per_page", [20, 50, 100])
async def test_page_sizes(db: AsyncSession, world: World, log: Log, per_page: int) -> None:
    page = await search_log(db, world.tenant.id, LogSearch(), PageRequest(), per_page=per_page)
    assert len(page.entries) == min(per_page, 48)
    assert page.window.has_next is (per_page < 48)


# The page --------------------------------------------------------------------------------------------------------


async def test_the_page_searches_and_shows_the_columns(client: Client, world: World, log: Log) -> None:
    await sign_in(client, world.handler)
    page = await client.get("/admin/log", params={"employee_code": "E002", "per_page": "20"})
    assert page.status_code == 200
    for header in (
        "操作日時",
        "部門コード",
        "部門",
        "社員コード",
        "対象者",
        "操作",
        "機能名",
        "ユーザID",
        "ユーザ名",
        "利用目的",
        "結果",
    ):
        assert header in page.text
    assert "山本 一郎" in page.text and "山田 太郎" not in page.text
    assert "<details>" in page.text and "10.0.0.7" in page.text  # IP folded into the detail row
    assert "該当 <strong>" in page.text
    assert "でダウンロード" not in page.text  # handlers read the log; only admins take it out


async def test_the_page_filters_by_name_period_and_operation(client: Client, world: World, log: Log) -> None:
    await sign_in(client, world.viewer)
    page = await client.get("/admin/log", params={"name": "さとう", "since": "令和8年4月2日", "order": "old"})
    assert page.status_code == 200
    assert "佐藤 花子" in page.text and "山本 一郎" not in page.text
    assert 'value="2026-04-02"' in page.text and 'value="old" selected' in page.text
    deletions = await client.get("/admin/log", params={"operation": "削除"})
    assert deletions.text.count("<td>削除</td>") >= 1 and "<td>閲覧</td>" not in deletions.text


async def test_bad_filters_get_japanese_errors_and_unknown_choices_are_ignored(
    client: Client, world: World, log: Log
) -> None:
    await sign_in(client, world.admin)
    bad = await client.get("/admin/log", params={"since": "きのう", "until": "2026-13-45"})
    assert bad.status_code == 400
    assert "期間の開始日は 2026-04-01 や 令和8年4月1日 のように日付で入力してください。" in bad.text
    assert "期間の終了日は" in bad.text
    backwards = await client.get("/admin/log", params={"since": "2026-04-03", "until": "2026-04-01"})
    assert backwards.status_code == 400 and "開始日は終了日と同じか前の日付にしてください" in backwards.text
    number = await client.get("/admin/log", params={"name": "1234 5678 9012"})
    assert number.status_code == 400 and "12桁の数字" in number.text and "1234 5678 9012" not in number.text
    for key in ("name", "employee_code", "actor", "department"):  # kanji numerals are digits too (tester's defect)
        kanji = await client.get("/admin/log", params={key: "一二三四 五六七八 九〇一八"})
        assert kanji.status_code == 400 and "12桁の数字" in kanji.text and "一二三四 五六七八" not in kanji.text, key
    odd = await client.get("/admin/log", params={"operation": "爆破", "result": "?", "per_page": "7", "order": "x"})
    assert odd.status_code == 200 and odd.text.count("<details>") >= 48  # ignored: everything (+ sign-ins)
    assert '<option value="50" selected>' in odd.text


@pytest.mark.parametrize(
    "values",
    [
        [["i", 99999999999999999999999]],  # past 64 bits (field trial: a 500 from SQLite's driver)
        [["i", -(2**63) - 1]],
        [["s", "abc"]],  # text where the sequence number goes (a 500 from asyncpg)
        [["u", "0" * 32]],
        [["d", "2026-04-01"]],
        [["n"]],
    ],
)
async def test_a_cursor_that_is_not_ours_shows_a_page_never_an_error(
    client: Client, world: World, log: Log, values: list[Any]
) -> None:
    await sign_in(client, world.admin)
    cursor = base64.urlsafe_b64encode(json.dumps(values).encode()).decode().rstrip("=")
    for key in ("after", "before"):
        page = await client.get("/admin/log", params={key: cursor, "page": "12"})
        assert page.status_code == 200, (key, page.text[:300])
        assert "<details>" in page.text


async def test_another_company_sees_none_of_this_log(client: Client, world: World, log: Log) -> None:
    await sign_in(client, world.other_admin)
    page = await client.get("/admin/log", params={"employee_code": "E002"})
    assert page.status_code == 200 and "山本 一郎" not in page.text and "該当する記録はありません" in page.text
    mine = await client.get("/admin/log")
    assert "よそ" in mine.text and "機能1<" not in mine.text


async def test_anonymous_employees_and_the_operator_cannot_read_the_log(client: Client, world: World) -> None:
    anonymous = await client.get("/admin/log", follow_redirects=False)
    assert anonymous.status_code in (302, 303, 401)
    await sign_in(client, world.employee)
    assert (await client.get("/admin/log")).status_code == 403


@pytest.mark.skipif(BACKEND != "sqlite", reason="EXPLAIN QUERY PLAN is SQLite's")
@pytest.mark.parametrize("label", list(SEARCHES))
async def test_every_search_reads_index_ranges(db: AsyncSession, world: World, log: Log, label: str) -> None:
    search = SEARCHES[label][0]
    first, plans = await plans_of(db, lambda: search_log(db, world.tenant.id, search, PageRequest(), per_page=4))
    cursor = PageRequest(page=2, after=first.window.last_cursor or "x")
    _, more = await plans_of(db, lambda: search_log(db, world.tenant.id, search, cursor, per_page=4))
    for plan in plans + more:
        assert not plan.full_scans({"audit_entries"}), plan.sql + "\n" + plan.text
        assert not plan.table_sorts({"audit_entries"}), plan.sql + "\n" + plan.text
