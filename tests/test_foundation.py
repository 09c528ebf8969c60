"""The foundation: pages, health, headers, errors, settings, migrations and the tenant-table rule."""

from __future__ import annotations

import asyncio
import logging
import re
from pathlib import Path

import pytest
from litestar import Litestar, get
from litestar.testing import AsyncTestClient
from sqlalchemy import ForeignKeyConstraint, inspect
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import Settings, SettingsError, load_settings
from app.db import Base, make_engine
from app.main import TEMPLATES_DIR, create_app
from app.migrate import downgrade, upgrade
from app.schema import include_object, load_models
from tests.conftest import BACKEND
from tests.support import databases


async def test_the_top_page_is_japanese_and_links_to_sign_in(client: AsyncTestClient[Litestar]) -> None:
    response = await client.get("/")
    assert response.status_code == 200
    assert '<html lang="ja">' in response.text
    assert "マイナンバー" in response.text
    assert 'href="/login"' in response.text
    assert 'href="/static/app.css"' in response.text


async def test_the_stylesheet_is_served_locally(client: AsyncTestClient[Litestar]) -> None:
    response = await client.get("/static/app.css")
    assert response.status_code == 200
    assert "text/css" in response.headers["content-type"]
    assert "@media" in response.text


async def test_health_is_ok_when_the_database_answers(client: AsyncTestClient[Litestar]) -> None:
    response = await client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_health_is_503_when_the_database_is_gone(settings: Settings) -> None:
    gone = load_settings(
        {},
        data_dir=settings.data_dir,
        database_url="postgresql+asyncpg://postgres@127.0.0.1:1/none",
        keystore_url=settings.keystore_url,
        master_key=settings.master_key,
    )
    async with AsyncTestClient(app=create_app(gone)) as client:
        response = await client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["status"] != "ok"


async def test_every_response_carries_the_security_headers(client: AsyncTestClient[Litestar]) -> None:
    response = await client.get("/")
    csp = response.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in csp
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.headers["cache-control"] == "no-store"
    assert "strict-transport-security" not in response.headers  # plain HTTP here


async def test_hsts_is_sent_when_served_over_tls(settings: Settings) -> None:
    tls = load_settings(
        {},
        data_dir=settings.data_dir,
        database_url=settings.database_url,
        keystore_url=settings.keystore_url,
        master_key=settings.master_key,
        base_url="https://mnv.example.jp",
    )
    async with AsyncTestClient(app=create_app(tls)) as client:
        response = await client.get("/")
    assert "max-age=" in response.headers["strict-transport-security"]


async def test_pages_are_compressed_when_the_client_accepts_gzip(client: AsyncTestClient[Litestar]) -> None:
    response = await client.get("/static/app.css", headers={"accept-encoding": "gzip"})
    assert response.headers.get("content-encoding") == "gzip"


async def test_an_unknown_page_gives_a_japanese_404(client: AsyncTestClient[Litestar]) -> None:
    response = await client.get("/no-such-page", headers={"accept": "text/html"})
    assert response.status_code == 404
    assert "ページが見つかりません" in response.text
    assert "text/html" in response.headers["content-type"]


async def test_an_unknown_api_route_gives_a_problem_404(client: AsyncTestClient[Litestar]) -> None:
    response = await client.get("/api/v1/nothing")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["status"] == 404 and response.json()["title"] == "見つかりません"


async def test_a_server_error_shows_an_error_id_and_no_trace(app: Litestar, caplog: pytest.LogCaptureFixture) -> None:
    @get("/boom", sync_to_thread=False)
    def boom() -> str:
        raise RuntimeError("internal detail that must not be shown")

    app.register(boom)
    with caplog.at_level(logging.ERROR):
        async with AsyncTestClient(app=app) as client:
            response = await client.get("/boom", headers={"accept": "text/html"})
    assert response.status_code == 500
    assert "システムエラー" in response.text
    assert "internal detail" not in response.text and "Traceback" not in response.text
    error_id = re.search(r"<code>([0-9a-f]+)</code>", response.text)
    assert error_id is not None
    assert any(getattr(r, "error_id", None) == error_id.group(1) for r in caplog.records)


async def test_the_openapi_schema_is_published(client: AsyncTestClient[Litestar]) -> None:
    response = await client.get("/schema/openapi.json")
    assert response.status_code == 200
    assert response.json()["info"]["title"] == "MyNumber Vault API"


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("MNV_PORT", "eighty"),
        ("MNV_PORT", "70000"),
        ("MNV_STORE", "memcached"),
        ("MNV_DATABASE_URL", "mysql://root@localhost/x"),
        ("MNV_SESSION_IDLE_MINUTES", "-5"),
        ("MNV_LOG_LEVEL", "LOUD"),
        ("MNV_BASE_URL", "ftp://example"),
    ],
)
def test_settings_reject_bad_values_naming_the_variable(variable: str, value: str) -> None:
    with pytest.raises(SettingsError) as excinfo:
        load_settings({variable: value})
    assert variable in str(excinfo.value)


def test_settings_require_a_redis_url_for_the_redis_store() -> None:
    with pytest.raises(SettingsError, match="MNV_REDIS_URL"):
        load_settings({"MNV_STORE": "redis"})


def test_settings_have_embedded_defaults() -> None:
    settings = load_settings({})
    assert settings.effective_database_url == "sqlite+aiosqlite:///var/mnvault.db"
    assert settings.effective_keystore_url == "sqlite+aiosqlite:///var/keystore.db"
    assert str(settings.effective_master_key_file) == "var/master.key"
    assert (settings.host, settings.port, settings.store) == ("127.0.0.1", 8000, "database")


def test_settings_read_typed_values() -> None:
    settings = load_settings({"MNV_PORT": "9000", "MNV_DEBUG": "true", "MNV_DATA_DIR": "/srv/mnv"})
    assert settings.port == 9000 and settings.debug is True
    assert settings.effective_database_url == "sqlite+aiosqlite:////srv/mnv/mnvault.db"


def test_tenant_tables_lead_with_tenant_id_and_reference_tenants_compositely() -> None:
    load_models()
    tenant_tables = {t.name for t in Base.metadata.sorted_tables if "tenant_id" in t.c}
    problems: list[str] = []
    for table in Base.metadata.sorted_tables:
        if table.name not in tenant_tables:
            continue
        pk = [c.name for c in table.primary_key.columns]
        if pk[0] != "tenant_id" or len(pk) < 2:
            problems.append(f"{table.name}: primary key {pk} must be (tenant_id, ...)")
        for constraint in table.constraints:
            if isinstance(constraint, ForeignKeyConstraint) and constraint.referred_table.name in tenant_tables:
                if constraint.column_keys[0] != "tenant_id":
                    problems.append(f"{table.name}: foreign key {constraint.column_keys} must lead with tenant_id")
        for index in table.indexes:
            if index.unique and next(iter(index.columns)).name != "tenant_id":
                problems.append(f"{table.name}: unique index {index.name} must lead with tenant_id")
        for constraint in table.constraints:
            if constraint.__class__.__name__ == "UniqueConstraint":
                if next(iter(constraint.columns)).name != "tenant_id":  # type: ignore[attr-defined]
                    problems.append(f"{table.name}: unique constraint {constraint.name} must lead with tenant_id")
    assert problems == []


def test_the_schema_built_by_migrations_matches_the_models(settings: Settings) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    async def diff() -> list[object]:
        engine = make_engine(settings.effective_database_url, pool_size=1)
        async with engine.connect() as connection:

            def compare(sync_connection: object) -> list[object]:
                # What the migrations' own environment skips (kv_store, the dialect-only name-search objects).
                context = MigrationContext.configure(
                    sync_connection,  # type: ignore[arg-type]
                    opts={"include_object": include_object},
                )
                return list(compare_metadata(context, load_models()))  # type: ignore[arg-type]

            result = await connection.run_sync(compare)
        await engine.dispose()
        return result

    assert asyncio.run(diff()) == []


def test_the_migrations_form_one_line() -> None:
    from alembic.script import ScriptDirectory

    from app.migrate import alembic_config

    assert len(ScriptDirectory.from_config(alembic_config("sqlite://")).get_heads()) == 1


def test_migrations_go_down_to_empty_and_back_up(tmp_path: Path) -> None:
    if BACKEND == "postgres":
        import os

        admin = os.environ.get("MNV_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")
        names = asyncio.run(databases.create_postgres_databases(admin))
        url = databases.with_database(admin, names[0])
    else:
        names = ()
        url = f"sqlite+aiosqlite:///{tmp_path / 'updown.db'}"
    try:
        upgrade(url)
        assert "tenants" in asyncio.run(_table_names(url))
        downgrade(url, "base")
        assert asyncio.run(_table_names(url)) <= {"alembic_version"}
        upgrade(url)
        assert "tenants" in asyncio.run(_table_names(url))
    finally:
        if names:
            asyncio.run(databases.drop_postgres_databases(admin, names))


async def _table_names(url: str) -> set[str]:
    engine = make_engine(url, pool_size=1)
    async with engine.connect() as connection:
        names = await connection.run_sync(lambda c: set(inspect(c).get_table_names()))
    await engine.dispose()
    return names


def test_templates_contain_no_inline_script_or_handler() -> None:
    offenders = []
    for path in Path(TEMPLATES_DIR).rglob("*.html"):
        source = path.read_text(encoding="utf-8")
        if re.search(r"<script(?![^>]*\bsrc=)[^>]*>", source) or re.search(r"\son[a-z]+\s*=", source):
            offenders.append(str(path))
    assert offenders == []


async def test_database_errors_never_carry_the_values_being_written(tmp_path: Path) -> None:
    from sqlalchemy import text
    from sqlalchemy.exc import IntegrityError

    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'e.db'}")
    try:
        async with engine.begin() as connection:
            await connection.execute(text("CREATE TABLE t (v TEXT UNIQUE)"))
            await connection.execute(text("INSERT INTO t VALUES (:v)"), {"v": "123456789018"})
        with pytest.raises(IntegrityError) as excinfo:
            async with engine.begin() as connection:
                await connection.execute(text("INSERT INTO t VALUES (:v)"), {"v": "123456789018"})
    finally:
        await engine.dispose()
    assert "123456789018" not in str(excinfo.value)


@pytest.mark.skipif(BACKEND != "sqlite", reason="the search triggers are SQLite's (PostgreSQL indexes the column)")
def test_the_name_search_triggers_survive_every_later_migration(tmp_path: Path) -> None:
    """A batch rebuild of ``people`` in a later revision would silently drop them (and the search would go stale)."""
    import sqlite3

    path = tmp_path / "head.db"
    upgrade(f"sqlite+aiosqlite:///{path}")
    with sqlite3.connect(path) as connection:
        triggers = {row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")}
    assert {"people_search_ai", "people_search_au", "people_search_ad"} <= triggers


def test_uuid_from_hex_reads_what_uuid_reads() -> None:
    import uuid

    from app.db import uuid_from_hex

    for value in (
        uuid.uuid4(),
        uuid.UUID(int=0),
        uuid.UUID(int=2**128 - 1),
        uuid.UUID("0193a5b2-7c1e-7d3f-8a2b-1c2d3e4f5a6b"),
    ):
        for text in (value.hex, value.hex.upper(), str(value)):
            read = uuid_from_hex(text)
            assert read == value and hash(read) == hash(value) and str(read) == str(value)
            assert isinstance(read, uuid.UUID) and read.version == value.version
    assert uuid_from_hex(None) is None
    for bad in ("", "zz" * 16, "あ" * 32, "0" * 31, "g" + "0" * 31):
        with pytest.raises(ValueError):
            uuid_from_hex(bad)


async def test_sqlite_reads_ids_and_blobs_through_the_fast_forms(tmp_path: Path) -> None:
    """The SQLite engine's own forms of Uuid and LargeBinary: the same DDL and values, read and written back."""
    import uuid

    from sqlalchemy import Column, LargeBinary, MetaData, Table, Uuid, insert, select

    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 't.db'}")
    table = Table("t", MetaData(), Column("id", Uuid(), primary_key=True), Column("blob", LargeBinary()))
    ids = [uuid.uuid4() for _ in range(3)]
    try:
        async with engine.begin() as connection:
            await connection.run_sync(table.metadata.create_all)
            await connection.execute(insert(table), [{"id": i, "blob": i.bytes} for i in ids])
            rows = (await connection.execute(select(table).order_by(table.c.id))).all()
            stored = (await connection.exec_driver_sql("SELECT id, typeof(blob) FROM t ORDER BY id")).all()
    finally:
        await engine.dispose()
    assert [(row.id, row.blob) for row in rows] == [(i, i.bytes) for i in sorted(ids)]
    assert stored == [(i.hex, "blob") for i in sorted(ids)]  # CHAR(32) hex and a BLOB, as before
    assert type(table.c.id.type.dialect_impl(engine.dialect)).__name__ == "_SQLiteUuid"


async def test_a_seek_over_columns_sees_what_the_session_has_not_flushed(db: AsyncSession) -> None:
    """``seek`` runs a columns-only statement on the session's connection: pending changes are flushed first, as
    the session's own autoflush would (an added department is in the next page read in the same session)."""
    from sqlalchemy import select

    from app.paging import SortColumn, rows_executor, seek
    from app.tenancy import Tenant, TenantKind, TenantStatus
    from tenants.models import Department

    tenant = Tenant(code="seekflush", name="シーク株式会社", kind=TenantKind.COMPANY, status=TenantStatus.ACTIVE)
    db.add(tenant)
    await db.flush()
    db.add(Department(tenant_id=tenant.id, code="001", name="総務部"))  # pending, not flushed
    columns = select(Department.code, Department.name).where(Department.tenant_id == tenant.id)
    rows = await seek(db, columns, [SortColumn(Department.code, "code")], None, 10)
    assert [(row.code, row.name) for row in rows] == [("001", "総務部")]
    assert not isinstance(await rows_executor(db, select(Department)), type(await db.connection()))
    await db.rollback()


async def test_release_connection_ends_a_transaction_that_only_read(db: AsyncSession) -> None:
    """A read-only transaction gives its connection back (what was read stays usable); one that wrote, or has
    changes waiting, keeps it (its writes commit or roll back together)."""
    from sqlalchemy import select

    from app.db import release_connection
    from app.tenancy import Tenant, TenantKind, TenantStatus

    tenant = Tenant(code="release", name="リリース株式会社", kind=TenantKind.COMPANY, status=TenantStatus.ACTIVE)
    db.add(tenant)
    assert not await release_connection(db)  # waiting for a flush
    await db.flush()
    assert not await release_connection(db)  # flushed, not committed
    assert db.in_transaction()
    await db.commit()
    found = (await db.execute(select(Tenant).where(Tenant.code == "release"))).scalar_one()
    assert db.in_transaction()
    assert await release_connection(db)
    assert not db.in_transaction() and found.name == "リリース株式会社"
    assert not await release_connection(db)  # nothing in progress
    found.name = "変更後株式会社"
    assert not await release_connection(db)  # a change not flushed yet
    await db.rollback()
    await db.execute(select(Tenant.id).where(Tenant.code == "release"))
    await (await db.connection()).exec_driver_sql("UPDATE tenants SET name = name WHERE code = 'release'")
    assert not await release_connection(db)  # a write below the ORM (insert_many, exec_driver_sql) counts too
    await db.rollback()
    await db.execute(select(Tenant).where(Tenant.code == "release").with_for_update())
    locks = db.get_bind().dialect.name == "postgresql"  # SQLite renders no FOR UPDATE (its writer lock is whole)
    assert await release_connection(db) is not locks  # a row lock lasts to the end of its transaction
    await db.rollback()


def test_a_served_process_tunes_its_garbage_collector(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    """``app.asgi`` (the servers' entry point) freezes the start-up objects and raises the thresholds once the app
    has started; ``create_app`` itself does not (the tests build hundreds of apps)."""
    import gc

    from app import asgi

    monkeypatch.setattr(asgi, "load_settings", lambda: settings)
    assert asgi.tune_garbage_collection in asgi.application().on_startup
    assert asgi.tune_garbage_collection not in create_app(settings).on_startup
    before = gc.get_threshold()
    try:
        asgi.tune_garbage_collection()
        assert gc.get_threshold() == asgi.GC_THRESHOLDS and gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)
