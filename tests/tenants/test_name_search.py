"""Name search by index: names typed with or without the space, in hiragana, katakana or half-width kana; 1–2
characters match the start of the name or フリガナ, 3+ anywhere; another tenant's people never appear; the trigram
index (pg_trgm / FTS5) follows every insert, rename and delete, and is what the searches read."""

from __future__ import annotations

import asyncio
import os
import re
import uuid
from dataclasses import dataclass
from pathlib import Path

from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import make_engine
from app.migrate import downgrade, upgrade
from app.tenancy import Tenant
from tenants.models import Person, PersonKind
from tenants.services._search import name_match_ids
from tests.conftest import BACKEND
from tests.support import databases
from tests.support.databases import as_table_owner
from tests.support.lists import fill_tenant, plans, recorded
from tests.support.people import make_dependant, make_employee, make_payee
from tests.support.world import World, sign_in

Client = AsyncTestClient[Litestar]
POSTGRES = BACKEND == "postgres"


@dataclass
class Names:
    yamada: Person
    yamamoto: Person
    sato: Person
    kawai: Person
    takara: Person
    child: Person


async def arrange(db: AsyncSession, world: World) -> Names:
    tenant_id = world.tenant.id
    yamada = await make_employee(db, tenant_id, "001", "山田 太郎", kana="ヤマダ タロウ")
    yamamoto = await make_employee(db, tenant_id, "002", "山本一郎", kana="ヤマモト イチロウ")
    sato = await make_employee(db, tenant_id, "003", "佐藤\u3000花子", kana="サトウ ハナコ")
    kawai = await make_employee(db, tenant_id, "004", "河合康則", kana="カワイ ヤスノリ")
    child = await make_dependant(db, kawai, "河合 みのり")
    takara = await make_payee(db, tenant_id, "株式会社タカラ企画")
    takara.kana = "カブシキガイシャタカラキカク"
    await make_employee(db, world.other_tenant.id, "001", "山田 太郎", kana="ヤマダ タロウ")
    await make_employee(db, world.other_tenant.id, "002", "河合 康則", kana="カワイ ヤスノリ")
    await db.commit()
    return Names(yamada, yamamoto, sato, kawai, takara, child)


async def found(db: AsyncSession, tenant_id: uuid.UUID, query: str) -> set[uuid.UUID]:
    return set(await name_match_ids(db, tenant_id, query, 100))


async def test_names_match_whatever_the_spaces_script_and_width(db: AsyncSession, world: World) -> None:
    n = await arrange(db, world)
    tenant_id = world.tenant.id
    cases = {
        # 3+ characters: anywhere in the name or the フリガナ
        "山田太郎": {n.yamada},
        "山田 太郎": {n.yamada},
        "山田\u3000太郎": {n.yamada},
        "やまだ たろう": {n.yamada},
        "ヤマダタロウ": {n.yamada},
        "ﾔﾏﾀﾞ ﾀﾛｳ": {n.yamada},
        "たろう": {n.yamada},  # the middle of the フリガナ
        "佐藤花子": {n.sato},  # stored with a full-width space
        "さとう　はなこ": {n.sato},
        "河合康": {n.kawai},
        "かわい": {n.kawai},
        "たから企画": {n.takara},  # kana and kanji mixed, hiragana typed
        "ヤスノリ": {n.kawai},
        # 1-2 characters: the start of the name or of the フリガナ only
        "山": {n.yamada, n.yamamoto},
        "山田": {n.yamada},
        "や": {n.yamada, n.yamamoto},
        "ヤマ": {n.yamada, n.yamamoto},
        "ｶﾜ": {n.kawai},
        "太郎": set(),
        "タロ": set(),
        "康則": set(),
        # nothing typed that could act as a pattern
        "%": set(),
        "_": set(),
        "山%": set(),
        '"山田"': set(),
    }
    for query, people in cases.items():
        assert await found(db, tenant_id, query) == {p.id for p in people}, query


async def test_another_tenants_people_never_appear(client: Client, db: AsyncSession, world: World) -> None:
    n = await arrange(db, world)
    for query in ("山田太郎", "やまだ", "山", "河合 康則", "カワイ"):
        assert (await found(db, world.tenant.id, query)) <= {n.yamada.id, n.yamamoto.id, n.kawai.id}
        theirs = await found(db, world.other_tenant.id, query)
        assert theirs and not theirs & {n.yamada.id, n.yamamoto.id, n.kawai.id}, query
    await sign_in(client, world.other_admin)
    for path in ("/admin/numbers?name=山田太郎", "/admin/people?q=山田太郎", "/admin/numbers?name=河合"):
        html = (await client.get(path)).text
        assert "山田 太郎" in html or "河合 康則" in html, path
        assert "山本一郎" not in html and "河合 みのり" not in html


async def test_the_pages_search_by_name_and_say_how(client: Client, db: AsyncSession, world: World) -> None:
    await arrange(db, world)
    await sign_in(client, world.admin)

    def names(html: str) -> set[str]:
        subjects = re.findall(r'class="subject">([^<\n]+)', html)
        people = re.findall(r'<a class="person" href="/admin/people/[0-9a-f-]+">([^<]+)</a>', html)
        return {m.strip() for m in subjects + people}

    numbers = (await client.get("/admin/numbers", params={"name": "かわい やすのり"})).text
    assert names(numbers) == {"河合康則", "河合康則 &gt; 河合 みのり"}  # with the employee, their dependants
    assert "1〜2文字は氏名・フリガナの先頭と一致" in numbers
    assert names((await client.get("/admin/numbers", params={"name": "や"})).text) == {"山田 太郎", "山本一郎"}
    people = (await client.get("/admin/people", params={"q": "ﾔﾏﾀﾞ"})).text
    assert names(people) == {"山田 太郎"} and "1〜2文字は氏名・フリガナの先頭と一致" in people
    payees = (await client.get("/admin/payees", params={"q": "たから"})).text
    assert "株式会社タカラ企画" in payees and "先頭と一致" in payees
    assert "株式会社タカラ企画" not in (await client.get("/admin/payees", params={"q": "タカ"})).text


async def test_the_index_follows_inserts_renames_and_deletes(db: AsyncSession, world: World) -> None:
    n = await arrange(db, world)
    tenant_id = world.tenant.id
    n.yamada.name, n.yamada.kana = "鈴木 次郎", "スズキ ジロウ"
    await db.commit()
    assert await found(db, tenant_id, "山田太郎") == set()
    assert await found(db, tenant_id, "すずき じろう") == {n.yamada.id}
    assert await found(db, tenant_id, "ジロウ") == {n.yamada.id}
    assert await found(db, tenant_id, "すず") == {n.yamada.id}
    await db.delete(n.child)
    await db.commit()
    assert await found(db, tenant_id, "河合 みのり") == set()
    late = await make_employee(db, tenant_id, "009", "新人 渚", kana="シンジン ナギサ")
    await db.commit()
    assert await found(db, tenant_id, "なぎさ") == {late.id}


async def test_name_searches_read_the_name_indexes(db: AsyncSession, world: World) -> None:
    await fill_tenant(db, world.tenant.id, 300)
    await fill_tenant(db, world.other_tenant.id, 300, seed=2)
    if POSTGRES:
        # Rows inserted since the index was built wait in GIN's pending list until (auto)vacuum merges them.
        await db.commit()
        await as_table_owner(db, "SELECT gin_clean_pending_list('ix_people_search_trgm'::regclass)")
        await db.execute(text("SET enable_seqscan = off"))
    for query, indexes in (
        ("やまだ たろう", ["ix_people_search_trgm"] if POSTGRES else ["VIRTUAL TABLE INDEX"]),
        ("山田", ["ix_people_search_name", "ix_people_search_kana"] if POSTGRES else ["ix_people_search_kana"]),
        ("や", ["ix_people_search_name", "ix_people_search_kana"] if POSTGRES else ["ix_people_search_kana"]),
    ):
        async with recorded(db) as statements:
            await name_match_ids(db, world.tenant.id, query, 1001)
        (_sql, plan), *_ = await plans(db, statements.statements) or [("", "")]
        assert "Seq Scan on people" not in plan and not re.search(r"^\s*SCAN people\b", plan, re.MULTILINE), plan
        for index in indexes:
            assert index in plan, (query, plan)


async def test_the_search_objects_are_in_place_at_the_head_revision(db: AsyncSession) -> None:
    if POSTGRES:
        trigrams = (await db.execute(text("SELECT show_trgm('山田太郎')"))).scalar_one()
        assert trigrams  # the database classifies kanji and kana as letters: a Japanese name has trigrams
        indexes = set((await db.execute(text("SELECT indexname FROM pg_indexes WHERE tablename = 'people'"))).scalars())
        assert {"ix_people_search_trgm", "ix_people_search_name", "ix_people_search_kana"} <= indexes
        return
    triggers = set((await db.execute(text("SELECT name FROM sqlite_master WHERE type = 'trigger'"))).scalars())
    assert {"people_search_ai", "people_search_au", "people_search_ad"} <= triggers  # lost if people is rebuilt
    assert {"people_search_fts_ai", "people_search_fts_au", "people_search_fts_ad"} <= triggers
    await db.execute(text("INSERT INTO people_search_fts (people_search_fts) VALUES ('integrity-check')"))


async def _add_person(url: str) -> None:
    engine = make_engine(url, pool_size=1)
    async with AsyncSession(engine) as session:
        tenant = Tenant(code="mig", name="移行テスト")
        session.add(tenant)
        await session.flush()
        session.add(Person(tenant_id=tenant.id, kind=PersonKind.EMPLOYEE, name="河合　康則", kana="カワイ ヤスノリ"))
        await session.commit()
    await engine.dispose()


async def _search(url: str, query: str) -> tuple[list[str], int]:
    engine = make_engine(url, pool_size=1)
    async with AsyncSession(engine) as session:
        kana_keys = list((await session.execute(text("SELECT kana_key FROM people"))).scalars())
        tenant_id = (await session.execute(text("SELECT id FROM tenants WHERE code = 'mig'"))).scalar_one()
        hits = await name_match_ids(session, uuid.UUID(str(tenant_id)), query, 10)
    await engine.dispose()
    return kana_keys, len(hits)


def test_the_migration_indexes_the_people_already_there(tmp_path: Path) -> None:
    names: list[str] = []
    if POSTGRES:
        admin = os.environ.get("MNV_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")
        names = list(asyncio.run(databases.create_postgres_databases(admin)))
        url = databases.with_database(admin, names[0])
    else:
        url = f"sqlite+aiosqlite:///{tmp_path / 'search.db'}"
    try:
        upgrade(url)
        asyncio.run(_add_person(url))
        downgrade(url, "0011")  # the search objects go, the person stays
        upgrade(url)
        assert asyncio.run(_search(url, "かわい やすのり")) == (["カワイヤスノリ"], 1)
        assert asyncio.run(_search(url, "かわ")) == (["カワイヤスノリ"], 1)
    finally:
        if names:
            asyncio.run(databases.drop_postgres_databases(admin, tuple(names)))
