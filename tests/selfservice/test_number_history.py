"""番号の取扱い履歴 (/me/history): an employee sees the operations on their own and their dependants' numbers only."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.events import Actor, AuditAction, AuditEvent, AuditResult, Subject
from app.audit.log import record_many
from app.audit.models import AuditEntry
from app.auth.models import Role
from app.config import Settings
from app.pager import PageRequest
from app.vault import Vault
from selfservice.services import number_history
from tenants.models import Person
from tests.selfservice.test_employee_flow import Me, linked_employee
from tests.support.people import make_dependant, make_employee
from tests.support.principals import principal_of
from tests.support.world import World, make_persona, sign_in

STAFF = Actor(
    user_id=uuid.uuid4(),
    login_id="okasho",
    name="岡 昌平",
    role="管理者",
    organisation="アクメ商事株式会社",
    ip="203.0.113.77",
    user_agent="SecretBrowser/1.0",
)
PARTNER = Actor(
    user_id=uuid.uuid4(), login_id="sr01", name="社労 士郎", role="事務取扱担当者", organisation="さくら社労士事務所"
)


def event(
    person: Person,
    action: AuditAction,
    function: str,
    *,
    actor: Actor = STAFF,
    purpose: str | None = None,
    result: AuditResult = AuditResult.SUCCESS,
) -> AuditEvent:
    subject = Subject(person.id, person.name, "d1", "総務課", person.employee_code or "")
    return AuditEvent(
        tenant_id=person.tenant_id,
        action=action,
        actor=actor,
        function=function,
        subject=subject,
        purpose=purpose,
        result=result,
    )


async def log_count(db: AsyncSession) -> int:
    return int((await db.execute(select(func.count()).select_from(AuditEntry))).scalar_one())


def cards(html: str) -> list[str]:
    return re.findall(r'<li class="card history-entry">(.*?)</li>', html, re.S)


@pytest.fixture
async def vault(settings: Settings) -> AsyncIterator[Vault]:
    """The vault for arranging, with its own connections."""
    arranging = Vault.from_settings(settings)
    yield arranging
    await arranging.close()


@pytest.fixture
async def family(db: AsyncSession, settings: Settings, vault: Vault, world: World) -> tuple[Me, Person, Me, Person]:
    """Me (山田 太郎) with a dependant, another employee with the same family name with a dependant."""
    me = await linked_employee(db, settings, vault, world, "1001", "山田 太郎")
    child = await make_dependant(db, me.person, "山田 一郎")
    other = await linked_employee(db, settings, vault, world, "1002", "山田 花子")
    other_child = await make_dependant(db, other.person, "山田 次郎")
    await db.commit()
    return me, child, other, other_child


class TestNumberHistory:
    async def test_it_shows_operations_on_own_and_dependants_numbers_only(
        self, client: AsyncTestClient[Litestar], db: AsyncSession, world: World, family: tuple[Me, Person, Me, Person]
    ) -> None:
        me, child, other, other_child = family
        await record_many(
            db,
            [
                event(me.person, AuditAction.PROXY_REGISTER, "代理登録"),
                event(child, AuditAction.REVEAL, "番号表示", purpose="源泉徴収"),
                event(me.person, AuditAction.CSV_EXPORT, "給与ソフト用CSV出力", actor=PARTNER, purpose="雇用保険"),
                event(other.person, AuditAction.PRINT, "他人の印刷"),
                event(other_child, AuditAction.DELETE, "他人の家族の削除"),
                event(me.person, AuditAction.LOGIN, "ログインは番号の操作ではない"),
                event(me.person, AuditAction.REVEAL, "失敗した表示", result=AuditResult.DENIED),
            ],
        )
        await db.commit()
        await sign_in(client, me.persona)

        page = await client.get("/me/history")

        assert page.status_code == 200
        shown = cards(page.text)
        assert len(shown) == 4
        assert "失敗した表示" in shown[0] and "拒否" in shown[0]  # newest first
        assert "給与ソフト用CSV出力" in shown[1] and "雇用保険" in shown[1]
        assert "社労 士郎" in shown[1] and "さくら社労士事務所" in shown[1]
        assert "番号表示" in shown[2] and "山田 一郎" in shown[2] and "源泉徴収" in shown[2]
        assert "代理登録" in shown[3] and "岡 昌平（管理者）" in shown[3]
        for absent in (
            "他人の印刷",
            "他人の家族の削除",
            "山田 花子",
            "山田 次郎",
            "ログインは",
            "203.0.113.77",
            "SecretBrowser",
        ):
            assert absent not in page.text
        assert "アクメ商事株式会社" not in "".join(shown)  # the company itself is not repeated on every line

    async def test_the_employee_own_actions_read_as_yourself(
        self, client: AsyncTestClient[Litestar], db: AsyncSession, family: tuple[Me, Person, Me, Person]
    ) -> None:
        me, *_ = family
        own = Actor(me.persona.account.id, me.persona.account.login_id, "山田 太郎", "従業員", "アクメ商事株式会社")
        await record_many(
            db,
            [
                event(me.person, AuditAction.REGISTER, "じぶんで登録", actor=own),
                event(me.person, AuditAction.DELETE, "削除", actor=Actor.system("purge")),
            ],
        )
        await db.commit()
        await sign_in(client, me.persona)

        shown = cards((await client.get("/me/history")).text)

        assert "システム" in shown[0] and "削除" in shown[0]
        assert "ご本人" in shown[1] and "じぶんで登録" in shown[1]

    async def test_another_employee_sees_only_their_own(
        self, client: AsyncTestClient[Litestar], db: AsyncSession, family: tuple[Me, Person, Me, Person]
    ) -> None:
        me, child, other, _ = family
        await record_many(
            db, [event(me.person, AuditAction.REVEAL, "太郎の表示"), event(child, AuditAction.PRINT, "一郎の印刷")]
        )
        await db.commit()
        await sign_in(client, other.persona)

        page = await client.get("/me/history")

        assert page.status_code == 200 and cards(page.text) == []
        assert "太郎の表示" not in page.text and "一郎の印刷" not in page.text and "まだ記録はありません" in page.text

    async def test_another_tenant_employee_sees_nothing_of_this_one(
        self,
        client: AsyncTestClient[Litestar],
        db: AsyncSession,
        settings: Settings,
        vault: Vault,
        world: World,
        family: tuple[Me, Person, Me, Person],
    ) -> None:
        me, *_ = family
        stranger = await make_employee(db, world.other_tenant.id, "1001", "山田 太郎")
        persona = await make_persona(db, settings, vault, world.other_tenant, "e1001", Role.EMPLOYEE)
        persona.account.person_id = stranger.id
        stranger.notice_acknowledged_at = me.person.notice_acknowledged_at
        await record_many(db, [event(me.person, AuditAction.REVEAL, "アクメでの表示")])
        await db.commit()
        await sign_in(client, persona)

        page = await client.get("/me/history")

        assert page.status_code == 200 and cards(page.text) == []
        assert "アクメでの表示" not in page.text

    async def test_reading_it_writes_no_entry(
        self, client: AsyncTestClient[Litestar], db: AsyncSession, family: tuple[Me, Person, Me, Person]
    ) -> None:
        me, *_ = family
        await record_many(db, [event(me.person, AuditAction.REVEAL, "表示")])
        await db.commit()
        await sign_in(client, me.persona)
        before = await log_count(db)

        for _ in range(3):
            assert (await client.get("/me/history")).status_code == 200

        assert await log_count(db) == before

    async def test_it_pages_newest_first_without_gaps_or_repeats(
        self, client: AsyncTestClient[Litestar], db: AsyncSession, family: tuple[Me, Person, Me, Person]
    ) -> None:
        me, child, other, _ = family
        events = []
        for n in range(45):
            events.append(event(me.person if n % 2 else child, AuditAction.REVEAL, f"操作{n:03d}"))
            events.append(event(other.person, AuditAction.REVEAL, f"他人{n:03d}"))
        await record_many(db, events)
        await db.commit()
        await sign_in(client, me.persona)

        seen: list[str] = []
        path: str | None = "/me/history"
        pages = 0
        while path is not None:
            page = await client.get(path)
            assert page.status_code == 200
            shown = cards(page.text)
            assert len(shown) <= 20
            seen += [re.search(r"操作\d{3}", card).group(0) for card in shown]  # type: ignore[union-attr]
            assert "他人" not in page.text
            found = re.search(r'<a[^>]*href="([^"]+)"[^>]*rel="next"|<a[^>]*rel="next"[^>]*href="([^"]+)"', page.text)
            path = None if found is None else (found.group(1) or found.group(2)).replace("&amp;", "&")
            pages += 1
            assert pages < 10

        assert pages == 3
        assert seen == [f"操作{n:03d}" for n in reversed(range(45))]

    async def test_it_fits_a_phone(
        self, client: AsyncTestClient[Litestar], db: AsyncSession, family: tuple[Me, Person, Me, Person]
    ) -> None:
        me, *_ = family
        await record_many(db, [event(me.person, AuditAction.REVEAL, "表示", purpose="源泉徴収")])
        await db.commit()
        await sign_in(client, me.persona)

        page = (await client.get("/me/history")).text
        home = (await client.get("/me")).text

        assert 'class="phone"' in page and 'name="viewport"' in page
        assert "<table" not in page  # cards, not a wide table
        assert "個人情報保護法" in page
        assert 'href="/me/history"' in home
        css = (await client.get("/static/app.css")).text
        assert ".history-facts" in css

    async def test_the_ladder(self, client: AsyncTestClient[Litestar], world: World) -> None:
        anonymous = await client.get("/me/history", follow_redirects=False)
        assert anonymous.status_code in (302, 303, 401)
        await sign_in(client, world.admin)
        assert (await client.get("/me/history")).status_code == 403


class TestHistoryPaging:
    async def test_cursors_walk_past_the_numbered_pages_both_ways(
        self, db: AsyncSession, family: tuple[Me, Person, Me, Person]
    ) -> None:
        me, child, other, _ = family
        events = []
        for n in range(70):
            events.append(event(child if n % 3 else me.person, AuditAction.REVEAL, f"操作{n:03d}"))
            events.append(event(other.person, AuditAction.REVEAL, "他人"))
        await record_many(db, events)
        await db.commit()
        principal = principal_of(me.persona, person_id=me.person.id)

        seen: list[str] = []
        first_cursors: list[str] = []
        request = PageRequest()
        while True:
            found = await number_history(db, principal, me.person, request, per_page=3)
            seen += [row.function for row in found.rows]
            first_cursors.append(found.window.first_cursor)
            if not found.window.has_next:
                break
            request = PageRequest(after=found.window.last_cursor)
        back = await number_history(db, principal, me.person, PageRequest(before=first_cursors[-1]), per_page=3)

        assert seen == [f"操作{n:03d}" for n in reversed(range(70))]
        assert [row.function for row in back.rows] == seen[len(seen) - 1 - 3 : len(seen) - 1]

    async def test_a_malformed_cursor_reads_as_the_first_page(
        self, client: AsyncTestClient[Litestar], db: AsyncSession, family: tuple[Me, Person, Me, Person]
    ) -> None:
        me, *_ = family
        await record_many(db, [event(me.person, AuditAction.REVEAL, "表示")])
        await db.commit()
        await sign_in(client, me.persona)

        page = await client.get("/me/history", params={"after": "not-a-cursor", "before": "!!"})

        assert page.status_code == 200 and len(cards(page.text)) == 1
