"""An office with more clients than any fixed bound (issue 14: no limit on clients per office): its client lists page
by name with a search, and every picker (file exchange, notices, documents) reaches the last client by its code."""

from __future__ import annotations

import re
import uuid
from html import unescape

from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import Settings
from app.db import new_id, utcnow
from app.tenancy import Tenant, TenantKind
from partners.models import LinkPower, LinkSide, LinkStatus, PartnerDocument, PartnerDocumentClient, PartnerLink
from partners.services import UNKNOWN_CLIENT_CODE
from tests.partners.exchange_support import pdf, send
from tests.partners.test_documents import publish
from tests.support.partners import Office, make_link, make_office
from tests.support.world import World, sign_in

MANY = 620


def _code(n: int) -> str:
    return f"kmn{n:04d}"


def _name(n: int) -> str:
    return f"顧問先{n:04d}株式会社"


async def _many_clients(db: AsyncSession, office: Office, count: int = MANY) -> dict[int, uuid.UUID]:
    """``count`` client companies linked ACTIVE with the office, written in two bulk inserts."""
    now = utcnow()
    ids = {n: new_id() for n in range(1, count + 1)}
    await db.execute(
        insert(Tenant),
        [{"id": ids[n], "code": _code(n), "name": _name(n), "kind": TenantKind.COMPANY} for n in ids],
    )
    await db.execute(
        insert(PartnerLink),
        [
            {
                "tenant_id": ids[n],
                "partner_id": office.tenant.id,
                "status": LinkStatus.ACTIVE,
                "power": LinkPower.FILES,
                "requested_by_side": LinkSide.CLIENT,
                "requested_by": office.tenant.id,
                "requested_by_name": "テスト",
                "consented_by": office.tenant.id,
                "consented_by_name": "テスト",
                "consented_at": now,
                "activated_at": now,
            }
            for n in ids
        ],
    )
    await db.commit()
    return ids


def _next(text: str) -> str | None:
    found = re.search(r'<a class="button" href="([^"]+)" rel="next">', text)
    return unescape(found.group(1)) if found else None


def _codes_on(text: str) -> list[str]:
    return re.findall(r"kmn\d{4}", text)


async def _walk(client: AsyncTestClient[Litestar], path: str) -> list[str]:
    """Every client code shown, following 次へ from the first page to the last."""
    seen: list[str] = []
    url: str | None = path
    for _ in range(MANY):
        assert url is not None
        page = await client.get(url)
        assert page.status_code == 200
        seen.extend(code for code in _codes_on(page.text) if code not in seen)
        url = _next(page.text)
        if url is None:
            return seen
    raise AssertionError("the pager never ended")


async def test_an_office_pages_through_all_its_clients_by_name_and_finds_any_by_name_or_code(
    app: Litestar, client: AsyncTestClient[Litestar], world: World, db: AsyncSession, settings: Settings
) -> None:
    office = await make_office(db, settings, app.state["vault"])
    await _many_clients(db, office)
    await sign_in(client, office.staff)
    first = await client.get("/partner/clients")
    assert first.status_code == 200 and len(set(_codes_on(first.text))) == 50
    assert _code(1) in first.text and _code(51) not in first.text
    assert await _walk(client, "/partner/clients") == [_code(n) for n in range(1, MANY + 1)]
    home = await _walk(client, "/partner")
    assert home[-1] == _code(MANY) and len(home) == MANY
    # Search: a part of the name, the start of the code; the status filter.
    by_name = await client.get("/partner/clients", params={"q": "顧問先0600"})
    assert _codes_on(by_name.text) == [_code(600)] and _next(by_name.text) is None
    by_code = await client.get("/partner/clients", params={"q": "KMN060"})
    assert set(_codes_on(by_code.text)) == {_code(n) for n in range(600, 610)}
    assert set(_codes_on((await client.get("/partner", params={"q": _code(600)})).text)) == {_code(600)}
    assert _codes_on((await client.get("/partner/clients", params={"q": "mn0600"})).text) == []  # a prefix only
    ended = await client.get("/partner/clients", params={"status": "ended"})
    assert ended.status_code == 200 and _codes_on(ended.text) == [] and "該当する顧問先はありません" in ended.text


async def test_every_picker_reaches_the_600th_client_by_its_code_and_another_offices_client_is_refused(
    app: Litestar, client: AsyncTestClient[Litestar], world: World, db: AsyncSession, settings: Settings
) -> None:
    office = await make_office(db, settings, app.state["vault"])
    ids = await _many_clients(db, office)
    await app.state["vault"].create_tenant_keys(db, ids[600])
    await db.commit()
    other_office = await make_office(db, settings, app.state["vault"], code="sr-other", name="別の事務所")
    await make_link(db, world.tenant, other_office.tenant, LinkPower.NUMBERS)  # not a client of ``office``
    await sign_in(client, office.staff)

    # ファイル交換: send to the 600th client chosen by its code, then filter the list by that code.
    to = await client.get("/partner/files/send", params={"client_code": "ＫＭＮ0600"}, follow_redirects=False)
    assert to.status_code in (302, 303) and to.headers["location"] == f"/partner/clients/{ids[600]}/files/new"
    sent = await send(client, f"/partner/clients/{ids[600]}/files", [("賃金台帳.pdf", pdf("台帳"))])
    assert sent.status_code == 302  # type: ignore[attr-defined]
    listed = await client.get("/partner/files", params={"client_code": _code(600)})
    assert listed.status_code == 200 and "賃金台帳.pdf" in listed.text and f'value="{_code(600)}"' in listed.text
    elsewhere = await client.get("/partner/files", params={"client_code": _code(599)})
    assert elsewhere.status_code == 200 and "賃金台帳.pdf" not in elsewhere.text
    # 連絡管理: every date needs a client; chosen by code it is accepted.
    notices = await client.get("/partner/notices", params={"client_code": _code(600), "period": "all"})
    assert notices.status_code == 200 and f'value="{_code(600)}"' in notices.text

    # Another office's client, or a code nobody has: the same Japanese message, no rows.
    for code in (world.tenant.code, "no-such-client"):
        refused = await client.get("/partner/files", params={"client_code": code})
        assert refused.status_code == 400 and UNKNOWN_CLIENT_CODE in refused.text
        assert "賃金台帳.pdf" not in refused.text and world.tenant.name not in refused.text
        refused = await client.get("/partner/files/send", params={"client_code": code}, follow_redirects=False)
        assert refused.status_code == 400 and UNKNOWN_CLIENT_CODE in refused.text
        refused = await client.get("/partner/notices", params={"client_code": code, "period": "all"})
        assert refused.status_code == 400 and UNKNOWN_CLIENT_CODE in refused.text
        assert world.tenant.name not in refused.text

    # 定型文書: chosen by codes (beyond the checkboxes), one a line or comma-separated.
    await sign_in(client, office.admin)
    form = await client.get("/partner/documents")
    assert "事業者コードで選ぶ" in form.text and _code(600) not in form.text
    refused_doc = await publish(client, audience="chosen", client_codes=f"{_code(600)}\n{world.tenant.code}")
    assert refused_doc.status_code == 400 and f"連携中の顧問先ではありません: {world.tenant.code}" in refused_doc.text
    assert (await db.execute(select(PartnerDocument))).first() is None
    published = await publish(
        client, audience="chosen", client_ids=[str(ids[1])], client_codes=f"{_code(600)}、 {_code(601)}\n"
    )
    assert published.status_code == 302, published.text[:800]
    (document,) = (await db.execute(select(PartnerDocument))).scalars()
    chosen = set((await db.execute(select(PartnerDocumentClient.client_id))).scalars())
    assert chosen == {ids[1], ids[600], ids[601]}
    edit = await client.get(f"/partner/documents/{document.id}")
    assert edit.status_code == 200 and f"{_code(600)}\n{_code(601)}</textarea>" in edit.text
