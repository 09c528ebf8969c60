"""The admin home: collection progress per department as a server-drawn SVG chart, and what needs attention."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import AsyncIterator
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import event, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import Settings
from app.vault import Vault
from app.vault.numbers import mask_my_number
from tenants import services
from tenants.listing import repair_counts
from tenants.models import CollectionStatus, Department, PayeeLink, PeopleCount, Person, PersonKind
from tenants.services import _records
from tests.support.cards import hides
from tests.support.people import (
    ACTOR,
    give_number,
    make_department,
    make_dependant,
    make_employee,
    make_payee,
    valid_my_number,
)
from tests.support.principals import principal_of
from tests.support.world import World, sign_in

Client = AsyncTestClient[Litestar]


async def arrange(db: AsyncSession, vault: Vault, world: World) -> dict[str, str]:
    """総務課: 3 of 4 registered (one confirmed); 営業部: 0 of 2, one declined; a payee without a number."""
    tenant_id = world.tenant.id
    general = await make_department(db, tenant_id, "102", "総務課")
    sales = await make_department(db, tenant_id, "201", "東京営業部")
    await make_department(db, tenant_id, "301", "新設部門")
    takayama = await make_employee(db, tenant_id, "101", "高山史", department=general)
    suzuki = await make_employee(db, tenant_id, "103", "鈴木奈々子", department=general)
    child = await make_dependant(db, suzuki, "鈴木一花")
    await make_dependant(db, suzuki, "鈴木二葉")
    saito = await make_employee(db, tenant_id, "202", "斉藤健太", department=sales)
    await make_employee(db, tenant_id, "203", "北大阪太郎", department=sales)
    await make_payee(db, tenant_id, "税理士 田中")
    numbers = {"takayama": valid_my_number(1), "suzuki": valid_my_number(2), "child": valid_my_number(3)}
    await give_number(db, vault, takayama, numbers["takayama"])
    await give_number(db, vault, suzuki, numbers["suzuki"])
    await give_number(db, vault, child, numbers["child"])
    await _records.confirm_by_admin(db, actor=ACTOR, person=takayama)
    await _records.decline(db, actor=ACTOR, person=saito, reason="番号を会社に預けたくない", function="じぶんで登録")
    await _records.request_correction(
        db, actor=ACTOR, person=takayama, account_id=world.employee.account.id, reason="mistake", note=""
    )
    await db.commit()
    return numbers


@pytest.fixture
async def vault(settings: Settings) -> AsyncIterator[Vault]:
    """A vault for arranging, with its own key-store connections (the app's live on the test client's loop)."""
    arranging = Vault.from_settings(settings)
    yield arranging
    await arranging.close()


def chart_of(html: str) -> str:
    match = re.search(r"<svg class=\"progress-chart wide\".*?</svg>", html, re.S)
    assert match, "no progress chart"
    return match.group(0)


async def test_the_home_draws_progress_per_department_as_an_svg_chart(
    client: Client, world: World, db: AsyncSession, vault: Vault
) -> None:
    await arrange(db, vault, world)
    await sign_in(client, world.admin)
    response = await client.get("/admin")
    assert response.status_code == 200
    chart = chart_of(response.text)
    assert 'role="img"' in chart and "<title" in chart
    for label in ("全体", "102 総務課", "201 東京営業部", "301 新設部門", "取引先"):
        assert f">{label}</text>" in chart
    assert "3/4人 75%" in chart  # 総務課: 高山, 鈴木 and one child of 4
    assert "0/2人 0%" in chart  # 東京営業部
    assert "0/0人 0%" in chart  # a department without people
    assert "3/7人 43%" in chart  # everyone, the payee included
    assert chart.count('class="declined"') == 2  # 東京営業部 and everyone
    assert "<script" not in response.text
    assert "全体 <strong>43%</strong>" in response.text


async def test_registered_bars_are_as_long_as_their_share(
    client: Client, world: World, db: AsyncSession, vault: Vault
) -> None:
    await arrange(db, vault, world)
    await sign_in(client, world.admin)
    chart = chart_of((await client.get("/admin")).text)
    assert chart.count('class="track"') == 5
    widths = [float(w) for w in re.findall(r'width="([\d.]+)" height="\d+" rx="3" class="registered"', chart)]
    assert widths == [round(330 * 3 / 7, 1), 330 * 0.75]


async def test_the_home_lists_what_needs_attention(
    client: Client, world: World, db: AsyncSession, vault: Vault
) -> None:
    numbers = await arrange(db, vault, world)
    await sign_in(client, world.handler)
    html = (await client.get("/admin")).text
    attention = html.split("<h2>要対応</h2>", 1)[1]
    unconfirmed = attention.split("管理者確認待ち", 1)[1].split("</section>", 1)[0]
    assert "2件" in unconfirmed and "鈴木奈々子" in unconfirmed and "鈴木奈々子 &gt; 鈴木一花" in unconfirmed
    assert "/admin/numbers?status=unconfirmed" in unconfirmed and "/confirm" in unconfirmed
    declined = attention.split("提供拒否", 1)[1].split("</section>", 1)[0]
    assert "斉藤健太" in declined and "番号を会社に預けたくない" in declined
    corrections = attention.split("修正依頼", 1)[1].split("</section>", 1)[0]
    assert "高山史" in corrections and "入力誤り" in corrections and 'href="/admin/corrections"' in corrections
    for number in numbers.values():
        assert hides(html, number) and mask_my_number(number) not in html


async def test_a_viewer_sees_the_progress_without_links_to_act(
    client: Client, world: World, db: AsyncSession, vault: Vault
) -> None:
    await arrange(db, vault, world)
    await sign_in(client, world.viewer)
    response = await client.get("/admin")
    assert response.status_code == 200
    assert "201 東京営業部" in response.text
    assert "/confirm" not in response.text and 'href="/admin/corrections"' not in response.text


async def test_another_companys_people_are_not_counted(
    client: Client, world: World, db: AsyncSession, vault: Vault
) -> None:
    await arrange(db, vault, world)
    stranger = await make_employee(db, world.other_tenant.id, "001", "よその人")
    await give_number(db, vault, stranger, valid_my_number(9))
    await db.commit()
    await sign_in(client, world.other_admin)
    html = (await client.get("/admin")).text
    assert "1/1人 100%" in chart_of(html)
    assert "総務課" not in html and "斉藤健太" not in html and "高山史" not in html


async def test_an_empty_company_sees_zero_progress(client: Client, world: World) -> None:
    await sign_in(client, world.admin)
    response = await client.get("/admin")
    assert response.status_code == 200
    assert "0/0人 0%" in chart_of(response.text)
    assert "確認待ちの番号はありません" in response.text


# From the counters, a few rows from bounded index reads ----------------------------------------------------------


async def test_the_progress_and_the_chips_are_read_from_the_counters(
    client: Client, world: World, db: AsyncSession, vault: Vault
) -> None:
    await arrange(db, vault, world)
    general = (await db.execute(select(Department).where(Department.code == "102"))).scalar_one()
    # Counters that disagree with the people show as they are: nothing on the page counts people.
    await db.execute(
        update(PeopleCount)
        .where(
            PeopleCount.tenant_id == world.tenant.id,
            PeopleCount.department_id == general.id,
            PeopleCount.kind == PersonKind.EMPLOYEE,
            PeopleCount.status == CollectionStatus.PROXY_REGISTERED,
        )
        .values(count=PeopleCount.count + 100)
    )
    await db.commit()
    await sign_in(client, world.admin)
    html = (await client.get("/admin")).text
    assert "103/104人 99%" in chart_of(html)
    assert re.search(r"代理登録済</span> <span class=\"count\">102<", html)
    await repair_counts(db, world.tenant.id)
    await db.commit()
    html = (await client.get("/admin")).text
    assert "3/4人 75%" in chart_of(html) and re.search(r"代理登録済</span> <span class=\"count\">2<", html)


async def test_employees_without_a_department_and_payees_have_their_own_bars(
    client: Client, world: World, db: AsyncSession, vault: Vault
) -> None:
    loose = await make_employee(db, world.tenant.id, "900", "所属 なし")
    await make_dependant(db, loose, "所属 なしの子")
    await give_number(db, vault, loose, valid_my_number(11))
    await make_payee(db, world.tenant.id, "講師 佐藤")
    await db.commit()
    await sign_in(client, world.admin)
    chart = chart_of((await client.get("/admin")).text)
    assert ">部門未設定</text>" in chart and "1/2人 50%" in chart
    assert ">取引先</text>" in chart and "0/1人 0%" in chart
    assert "1/3人 33%" in chart


def _person(world: World, name: str, **values: object) -> Person:
    return Person(tenant_id=world.tenant.id, kind=PersonKind.EMPLOYEE, name=name, **values)


async def test_the_attention_lists_show_the_latest_few_and_count_them_all(db: AsyncSession, world: World) -> None:
    start = dt.datetime(2026, 4, 1, tzinfo=dt.UTC)
    statuses = [CollectionStatus.REGISTERED, CollectionStatus.PROXY_REGISTERED, CollectionStatus.SELF_CONFIRMED]
    for i in range(7):
        at = start + dt.timedelta(hours=i)
        db.add(_person(world, f"未確認 {i}", status=statuses[i % 3], registered_at=at))
        db.add(_person(world, f"拒否 {i}", status=CollectionStatus.DECLINED, declined_at=at))
    db.add(
        _person(world, "確認済", status=CollectionStatus.ADMIN_CONFIRMED, registered_at=start + dt.timedelta(days=1))
    )
    await db.commit()
    attention = await services.needs_attention(db, principal_of(world.admin), limit=3)
    assert [row.person.name for row in attention.unconfirmed] == ["未確認 6", "未確認 5", "未確認 4"]
    assert attention.unconfirmed_total == 7
    assert [row.person.name for row in attention.declined] == ["拒否 6", "拒否 5", "拒否 4"]
    assert attention.declined_total == 7


async def test_an_identity_change_is_listed_until_an_admin_confirms_again(
    client: Client, world: World, db: AsyncSession, vault: Vault
) -> None:
    person = await make_employee(db, world.tenant.id, "301", "佐藤 一郎")
    await give_number(db, vault, person, valid_my_number(12))
    await _records.confirm_by_admin(db, actor=ACTOR, person=person)
    await db.commit()
    _records.note_identity_change(person, name="鈴木 一郎", kana="", birth_date=person.birth_date)
    person.name = "鈴木 一郎"
    await db.commit()
    await sign_in(client, world.handler)
    html = (await client.get("/admin")).text
    assert "本人情報の変更" in html and "1件" in html.split("本人情報の変更", 1)[1].split("</h3>", 1)[0]
    assert f'href="/admin/numbers/{person.id}/confirm">鈴木 一郎' in html

    await _records.confirm_by_admin(db, actor=ACTOR, person=person)
    await db.commit()
    assert person.identity_changed_at is None
    assert "本人情報の変更" not in (await client.get("/admin")).text


async def test_locked_payee_links_are_listed_until_replaced(db: AsyncSession, world: World) -> None:
    payee = await make_payee(db, world.tenant.id, "講師 田中")
    now = dt.datetime.now(dt.UTC)
    link = PayeeLink(
        tenant_id=world.tenant.id, person_id=payee.id, token_hash="a" * 64, expires_at=now, failures=5, locked_at=now
    )
    db.add(link)
    await db.commit()
    attention = await services.needs_attention(db, principal_of(world.admin))
    assert [row.person.name for row in attention.locked_links] == ["講師 田中"] and attention.locked_links_total == 1
    link.revoked_at = now  # a new link was issued
    await db.commit()
    attention = await services.needs_attention(db, principal_of(world.admin))
    assert attention.locked_links == () and attention.locked_links_total == 0


async def _plans(db: AsyncSession, statements: list[tuple[str, Any]]) -> list[str]:
    """The query plan of each statement, one string each (PostgreSQL: with sequential scans discouraged, so a
    sequential scan in the plan means no index could serve the query)."""
    connection = await db.connection()
    postgres = connection.dialect.name == "postgresql"
    if postgres:
        await connection.exec_driver_sql("SET LOCAL enable_seqscan = off")
    plans = []
    for statement, parameters in statements:
        prefix = "EXPLAIN " if postgres else "EXPLAIN QUERY PLAN "
        rows = (await connection.exec_driver_sql(prefix + statement, parameters)).all()
        plans.append("\n".join(str(row[-1]) for row in rows))
    await db.rollback()
    return plans


async def test_the_home_reads_no_table_of_the_tenant_whole(
    db: AsyncSession, world: World, vault: Vault, settings: Settings
) -> None:
    await arrange(db, vault, world)
    statements: list[tuple[str, Any]] = []

    def capture(_conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, _many: bool) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            statements.append((statement, parameters))

    engine = db.bind.sync_engine  # type: ignore[union-attr]
    principal = principal_of(world.admin)
    event.listen(engine, "before_cursor_execute", capture)
    try:
        await services.collection_progress(db, principal)
        await services.status_counts(db, principal)
        await services.needs_attention(db, principal)
        await services.operator_acts(db, principal)
    finally:
        event.remove(engine, "before_cursor_execute", capture)
    await db.rollback()
    tables = ("people", "audit_entries", "payee_links", "correction_requests", "number_duplicates", "departments")
    whole = re.compile(rf"(^|\n)\s*(SCAN|Seq Scan on) ({'|'.join(tables)})\b")
    plans = await _plans(db, statements)
    assert len(plans) >= 10
    assert [plan for plan in plans if whole.search(plan)] == []
