"""The admin home: collection progress per department as a server-drawn SVG chart, and what needs attention."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import Settings
from app.vault import Vault
from app.vault.numbers import mask_my_number
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
