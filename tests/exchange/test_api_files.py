"""Files through the API: ``GET /api/v1/exports/numbers`` (the page's file, one CSV出力 entry per person, 422 for
what cp932 cannot hold) and ``POST /api/v1/imports`` (check as JSON, commit in one transaction or 422 with the
report and nothing written)."""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import Settings
from app.vault import Vault
from exchange.layouts import SEED
from tests.exchange import export_support as ex
from tests.exchange.importing import N, arrange, counters_match, csv_file, files_holding, snapshot
from tests.exchange.test_api_auth import assert_problem
from tests.exchange.test_import_pages import GOOD
from tests.support.api import bearer, make_token
from tests.support.audit import entries
from tests.support.world import World, sign_in, step_up

Client = AsyncTestClient[Litestar]
EXPORT = "/api/v1/exports/numbers"
IMPORT = "/api/v1/imports"


@pytest.fixture
async def vault(settings: Settings) -> AsyncIterator[Vault]:
    opened = Vault.from_settings(settings)
    yield opened
    await opened.close()


async def token(
    app: Litestar, db: AsyncSession, world: World, *scopes: str, name: str = "給与ソフト"
) -> dict[str, str]:
    return bearer(await make_token(db, app.state["vault"], world.tenant, scopes=scopes, name=name))


def without_stamp(name: str) -> str:
    return re.sub(r"_\d{8}-\d{4}", "", name)


class TestExport:
    async def test_each_encoding_is_the_pages_file_with_one_entry_per_person_under_the_tokens_name(
        self, app: Litestar, client: Client, vault: Vault, db: AsyncSession, world: World
    ) -> None:
        office = await ex.arrange(db, vault, world)
        headers = await token(app, db, world, "numbers:read", name="給与ソフト連携")
        await sign_in(client, world.admin)
        await step_up(client, world.admin)
        for encoding in ("utf-8-sig", "xlsx", "cp932"):
            replace = encoding == "cp932"
            query = {"purpose": ex.PURPOSE, "encoding": encoding, "layout": "full", "replace": str(replace).lower()}
            before = len(await ex.exports_logged(db, world))
            answer = await client.get(EXPORT, params=query, headers={**headers, "accept-encoding": "gzip"})
            assert answer.status_code == 200, answer.text
            assert "content-encoding" not in answer.headers and answer.headers["cache-control"] == "no-store"
            page = await ex.download(client, ex.params(layout="full", encoding=encoding, replace=replace))
            assert page.status_code == 200
            if encoding != "xlsx":  # a workbook carries its creation time
                assert answer.content == page.content
            assert ex.read_rows(answer.content, encoding) == ex.read_rows(page.content, encoding)
            logged = await ex.exports_logged(db, world)
            people = len(ex.read_rows(answer.content, encoding)) - 1
            api_entries = logged[before : before + people]
            assert len(logged) == before + 2 * people  # one per person for each download
            assert {entry.actor_name for entry in api_entries} == {"給与ソフト連携"}
        assert office.numbers["kawai"] in answer.content.decode("cp932")

    async def test_cp932_with_a_character_it_cannot_hold_is_a_422_listing_it_unless_replaced(
        self, app: Litestar, client: Client, vault: Vault, db: AsyncSession, world: World
    ) -> None:
        office = await ex.arrange(db, vault, world)
        headers = await token(app, db, world, "numbers:read")
        refused = await client.get(EXPORT, params={"purpose": ex.PURPOSE}, headers=headers)
        body = assert_problem(refused, 422)
        assert body["type"] == "urn:mnvault:problem:unencodable"
        characters = body["characters"]
        assert isinstance(characters, list)
        assert {"person_id": str(office["yoshida"].id), "character": "𠮷", "action": "refused"}.items() <= characters[
            0
        ].items()
        # The variation selector cp932 drops is listed too (field trial: left out of the list, and a file of only
        # such names came back 200 with the selectors silently gone).
        selector = {"person_id": str(office["katsuragi"].id), "code_points": "U+845B U+E0100", "action": "dropped"}
        assert any(selector.items() <= character.items() for character in characters), characters
        assert body["total"] == len(characters) == 2
        for number in office.all_numbers:
            assert number not in refused.text
        assert await ex.exports_logged(db, world) == []
        replaced = await client.get(EXPORT, params={"purpose": ex.PURPOSE, "replace": "true"}, headers=headers)
        assert replaced.status_code == 200
        assert "〓田 太郎" in replaced.content.decode("cp932")

    async def test_a_withholding_file_with_dependants_beyond_the_slots_is_a_422_listing_them_unless_omitted(
        self, app: Litestar, client: Client, vault: Vault, db: AsyncSession, world: World
    ) -> None:
        """Field trial: the API's 源泉徴収票 file left out the fifth child under 16 without a word (the page lists
        such dependants before its download)."""
        await ex.arrange(db, vault, world)
        await ex.add_family(db, vault, world, children=5)
        headers = await token(app, db, world, "numbers:read")
        query = {"purpose": ex.PURPOSE, "layout": "withholding", "encoding": "utf-8-sig", "year": "2025"}

        refused = await client.get(EXPORT, params=query, headers=headers)

        body = assert_problem(refused, 422)
        assert body["type"] == "urn:mnvault:problem:unplaced-dependants" and body["total"] == 1
        assert body["dependants"] == [
            {"employee_code": "500", "employee_name": "大家 族男", "name": "大家 子5", "relationship": "子"}
        ]
        assert await ex.exports_logged(db, world) == []
        written = await client.get(EXPORT, params={**query, "omit_unplaced": "true"}, headers=headers)
        assert written.status_code == 200, written.text
        [row] = [row for row in ex.read_rows(written.content, "utf-8-sig") if row[1] == "500"]
        assert "大家 子4" in row and "大家 子5" not in row

    async def test_purpose_scope_and_tenant_are_enforced(
        self, app: Litestar, client: Client, vault: Vault, db: AsyncSession, world: World
    ) -> None:
        office = await ex.arrange(db, vault, world)
        headers = await token(app, db, world, "numbers:read")
        missing = assert_problem(await client.get(EXPORT, params={"encoding": "utf-8-sig"}, headers=headers), 400)
        assert "purpose" in str(missing["errors"])
        wrong = await client.get(EXPORT, params={"encoding": "utf-8-sig", "purpose": "営業活動"}, headers=headers)
        assert_problem(wrong, 422)
        people_only = await token(app, db, world, "people:read", "people:write", "numbers:write", name="人のみ")
        assert_problem(await client.get(EXPORT, params={"purpose": ex.PURPOSE}, headers=people_only), 403)
        other = bearer(await make_token(db, app.state["vault"], world.other_tenant))
        department = str(office.departments["101"].id)
        foreign = await client.get(EXPORT, params={"purpose": ex.PURPOSE, "department": department}, headers=other)
        assert_problem(foreign, 404)
        assert await ex.exports_logged(db, world) == []


async def send(client: Client, headers: dict[str, str], data: bytes, **query: str) -> object:
    return await client.post(
        IMPORT, params={"layout": "seed", **query}, files={"file": ("numbers.csv", data, "text/csv")}, headers=headers
    )


class TestImport:
    async def test_a_check_answers_the_report_and_a_commit_applies_it_under_the_tokens_name(
        self,
        app: Litestar,
        client: Client,
        vault: Vault,
        db: AsyncSession,
        world: World,
        settings: Settings,
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        caplog.set_level(logging.DEBUG)
        await arrange(db, vault, world)
        tenant_id = world.tenant.id
        headers = await token(app, db, world, "numbers:write", "people:write", name="給与ソフト連携")
        before = await snapshot(db, tenant_id)

        checked = await send(client, headers, csv_file(SEED, GOOD, "cp932"))
        assert checked.status_code == 200, checked.text  # type: ignore[attr-defined]
        report = checked.json()  # type: ignore[attr-defined]
        assert (report["committed"], report["committable"]) == (False, True)
        assert (report["counts"]["to_register"], report["counts"]["to_replace"]) == (2, 1)
        assert report["lines"] == [] and report["omitted_lines"] == 0
        assert await snapshot(db, tenant_id) == before

        done = await send(client, headers, csv_file(SEED, GOOD, "cp932"), commit="true")
        assert done.status_code == 200, done.text  # type: ignore[attr-defined]
        assert done.json()["committed"] and done.json()["written"]["registered"] == 2  # type: ignore[attr-defined]
        after = await snapshot(db, tenant_id)
        assert after.numbers == before.numbers + 3
        assert await counters_match(db, tenant_id)
        logged = await entries(db, tenant_id)
        assert {e.actor_name for e in logged[-4:]} == {"給与ソフト連携"}
        numbers = [N[3], N[10], N[12]]
        for number in numbers:
            assert number not in caplog.text and number not in done.text  # type: ignore[attr-defined]
        if settings.is_sqlite:
            assert files_holding(Path(settings.data_dir), numbers) == []

    async def test_a_commit_with_an_error_is_a_422_with_the_report_and_writes_nothing(
        self, app: Litestar, client: Client, vault: Vault, db: AsyncSession, world: World
    ) -> None:
        await arrange(db, vault, world)
        tenant_id = world.tenant.id
        headers = await token(app, db, world, "numbers:write", "people:write")
        before = await snapshot(db, tenant_id)
        broken = [*GOOD, ",999,知らない 人,,,," + N[20]]
        refused = assert_problem(await send(client, headers, csv_file(SEED, broken), commit="true"), 422)
        assert refused["type"] == "urn:mnvault:problem:import-refused"
        report = refused["report"]
        assert isinstance(report, dict) and report["counts"]["errors"] >= 1 and report["lines"][0]["line"] == 5
        assert N[20] not in str(refused)
        # A file the import cannot read at all: the detail is why (field trial: 「エラーがあるため」 with 0 errors).
        header_only = assert_problem(await send(client, headers, csv_file(SEED, []), commit="true"), 422)
        assert str(header_only["detail"]).startswith("見出しの行のほかに取り込む行がありません")
        assert await snapshot(db, tenant_id) == before

    async def test_scopes_decide_check_and_commit(
        self, app: Litestar, client: Client, vault: Vault, db: AsyncSession, world: World
    ) -> None:
        await arrange(db, vault, world)
        numbers_only = await token(app, db, world, "numbers:write")
        assert (await send(client, numbers_only, csv_file(SEED, GOOD))).status_code == 200  # type: ignore[attr-defined]
        refused = assert_problem(await send(client, numbers_only, csv_file(SEED, GOOD), commit="true"), 403)
        assert refused["required_scope"] == "people:write"
        reader = await token(app, db, world, "people:read", "numbers:read", name="読むだけ")
        assert_problem(await send(client, reader, csv_file(SEED, GOOD)), 403)
        empty = await send(client, numbers_only, b"")
        assert empty.status_code == 400  # type: ignore[attr-defined]

    async def test_another_tenants_people_are_unknown_to_an_import(
        self, app: Litestar, client: Client, vault: Vault, db: AsyncSession, world: World
    ) -> None:
        arranged = await arrange(db, vault, world)
        other = bearer(await make_token(db, app.state["vault"], world.other_tenant))
        before = await snapshot(db, world.tenant.id)
        answer = await send(client, other, csv_file(SEED, GOOD), commit="true")
        assert answer.status_code == 422  # type: ignore[attr-defined]
        assert await snapshot(db, world.tenant.id) == before
        assert arranged.stranger.employee_code == "B900"
