"""Retention jobs (``mnvault purge`` and the periodic maintenance): only expired things go, each removal is logged
per tenant and kind, a second run removes nothing, and My Numbers are never touched."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
import uuid
from collections.abc import AsyncIterator

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.audit.events import AuditAction
from app.audit.models import AuditEntry
from app.audit.verify import verify_chain
from app.auth.models import Account, Role
from app.config import Settings
from app.db import make_engine, utcnow
from app.kvstore import KeyValueItem
from app.main import load_retention_kinds
from app.retention import (
    ONE_TIME_PASSWORD_GRACE,
    RETENTION_FUNCTION,
    RetentionReport,
    register_retention,
    retention_kinds,
    run_retention,
    unregister_retention,
)
from app.vault import Vault
from app.vault.cli import run_purge
from app.vault.models import VaultNumber
from tenants.models import PayeeLink, Person
from tenants.retention import PAYEE_LINK_GRACE
from tests.support.people import give_number, make_employee, make_payee, valid_my_number
from tests.support.world import World, make_persona, sign_in

NOW = utcnow()


@pytest.fixture
async def vault(settings: Settings) -> AsyncIterator[Vault]:
    arranging = Vault.from_settings(settings)
    yield arranging
    await arranging.close()


@pytest.fixture
async def sessions(settings: Settings) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = make_engine(settings.effective_database_url, pool_size=2)
    yield async_sessionmaker(engine, expire_on_commit=False)
    await engine.dispose()


def link(person: Person, *, expires: dt.timedelta, used: dt.timedelta | None = None) -> PayeeLink:
    """A link expiring ``expires`` from NOW (negative: in the past), used ``used`` ago when given."""
    return PayeeLink(
        tenant_id=person.tenant_id,
        person_id=person.id,
        token_hash=hashlib.sha256(secrets.token_bytes(16)).hexdigest(),
        expires_at=NOW + expires,
        used_at=None if used is None else NOW - used,
    )


def store_item(namespace: str, key: str, *, expires: dt.timedelta) -> KeyValueItem:
    return KeyValueItem(key=key, namespace=namespace, value=b"x", expires_at=NOW + expires)


async def invited(
    db: AsyncSession, settings: Settings, vault: Vault, world: World, login: str, expires: dt.timedelta
) -> Account:
    persona = await make_persona(db, settings, vault, world.tenant, login, Role.EMPLOYEE)
    persona.account.must_change_password = True
    persona.account.password_expires_at = NOW + expires
    return persona.account


async def retention_entries(db: AsyncSession) -> list[AuditEntry]:
    statement = (
        select(AuditEntry)
        .where(AuditEntry.action == AuditAction.MAINTENANCE, AuditEntry.function == RETENTION_FUNCTION)
        .order_by(AuditEntry.tenant_id, AuditEntry.seq)
        .execution_options(populate_existing=True)
    )
    return list((await db.execute(statement)).scalars())


async def numbers_snapshot(db: AsyncSession) -> list[tuple[object, ...]]:
    rows = await db.execute(select(VaultNumber).order_by(VaultNumber.id).execution_options(populate_existing=True))
    return [(n.id, n.subject_id, n.ciphertext, n.nonce, n.blind_index, n.masked, n.erased_at) for n in rows.scalars()]


@pytest.fixture
async def arranged(db: AsyncSession, settings: Settings, vault: Vault, world: World) -> dict[str, object]:
    """Expired and live items in both tenants, and people with numbers."""
    load_retention_kinds()
    employee = await make_employee(db, world.tenant.id, "1001", "山田 太郎")
    await give_number(db, vault, employee, valid_my_number(1))
    payee = await make_payee(db, world.tenant.id, "税理士 一郎")
    await give_number(db, vault, payee, valid_my_number(2))
    other_payee = await make_payee(db, world.other_tenant.id, "講師 花子")
    links = {
        "long_expired": link(payee, expires=-(PAYEE_LINK_GRACE + dt.timedelta(days=1))),
        "used_long_ago": link(
            payee, expires=-(PAYEE_LINK_GRACE + dt.timedelta(days=1)), used=PAYEE_LINK_GRACE + dt.timedelta(days=10)
        ),
        "used_recently": link(payee, expires=-dt.timedelta(days=20), used=dt.timedelta(days=30)),
        "recently_expired": link(payee, expires=-dt.timedelta(days=5)),
        "live": link(payee, expires=dt.timedelta(days=10)),
        "other_long_expired": link(other_payee, expires=-(PAYEE_LINK_GRACE + dt.timedelta(days=3))),
    }
    db.add_all(links.values())
    accounts = {
        "otp_long_expired": await invited(
            db, settings, vault, world, "e1", -(ONE_TIME_PASSWORD_GRACE + dt.timedelta(days=1))
        ),
        "otp_just_expired": await invited(db, settings, vault, world, "e2", -dt.timedelta(days=1)),
        "otp_live": await invited(db, settings, vault, world, "e3", dt.timedelta(days=7)),
    }
    upload_key = f"{world.other_tenant.id}:{uuid.uuid4()}"
    db.add_all(
        [
            store_item("sessions", "a" * 64, expires=-dt.timedelta(minutes=1)),
            store_item("sessions", "b" * 64, expires=-dt.timedelta(days=2)),
            store_item("sessions", "c" * 64, expires=dt.timedelta(hours=8)),
            store_item("imports", upload_key, expires=-dt.timedelta(minutes=5)),
            store_item("imports", f"{world.tenant.id}:{uuid.uuid4()}", expires=dt.timedelta(hours=1)),
        ]
    )
    await db.commit()
    return {"links": links, "accounts": accounts, "employee": employee, "payee": payee}


async def link_ids(db: AsyncSession) -> set[uuid.UUID]:
    return set((await db.execute(select(PayeeLink.id))).scalars())


class TestRetention:
    async def test_it_removes_only_expired_things(
        self, db: AsyncSession, sessions: async_sessionmaker[AsyncSession], arranged: dict[str, object]
    ) -> None:
        links: dict[str, PayeeLink] = arranged["links"]  # type: ignore[assignment]
        accounts: dict[str, Account] = arranged["accounts"]  # type: ignore[assignment]

        report = await run_retention(sessions, NOW, trigger="test")

        assert report.failed == []
        assert report.removed["取引先用リンク"] == 3
        assert report.removed["ログインセッション"] == 2
        assert report.removed["取込待ちのファイル"] == 1
        assert report.removed["招待の初期パスワード"] == 1
        assert await link_ids(db) == {links["recently_expired"].id, links["used_recently"].id, links["live"].id}
        hashes = {
            name: (await db.execute(select(Account.password_hash).where(Account.id == a.id))).scalar_one()
            for name, a in accounts.items()
        }
        assert hashes["otp_long_expired"] is None
        assert hashes["otp_just_expired"] is not None and hashes["otp_live"] is not None
        expiry = (
            await db.execute(select(Account.password_expires_at).where(Account.id == accounts["otp_long_expired"].id))
        ).scalar_one()
        assert expiry is not None  # the invitation list still says 期限切れ
        left = (await db.execute(select(KeyValueItem.namespace, KeyValueItem.key).order_by(KeyValueItem.key))).all()
        assert [(ns, key[:1]) for ns, key in left if ns == "sessions"] == [("sessions", "c")]
        assert len([1 for ns, _ in left if ns == "imports"]) == 1

    async def test_each_removal_is_logged_per_tenant_and_kind(
        self, db: AsyncSession, sessions: async_sessionmaker[AsyncSession], world: World, arranged: dict[str, object]
    ) -> None:
        await run_retention(sessions, NOW, trigger="test")

        logged = {(e.tenant_id, e.detail["kind"]): e.detail["count"] for e in await retention_entries(db)}

        assert logged == {
            (world.tenant.id, "payee_links"): 2,
            (world.other_tenant.id, "payee_links"): 1,
            (world.tenant.id, "one_time_passwords"): 1,
            (world.other_tenant.id, "import_uploads"): 1,
            (world.operator.tenant.id, "sessions"): 2,
        }
        for entry in await retention_entries(db):
            assert entry.actor_name == "システム" and entry.subject_person_id is None
        for tenant in (world.tenant, world.other_tenant, world.operator.tenant):
            assert (await verify_chain(db, tenant.id)).ok

    async def test_it_is_idempotent(
        self, db: AsyncSession, sessions: async_sessionmaker[AsyncSession], arranged: dict[str, object]
    ) -> None:
        await run_retention(sessions, NOW, trigger="test")
        logged = len(await retention_entries(db))
        survivors = await link_ids(db)

        again = await run_retention(sessions, NOW, trigger="test")

        assert set(again.removed.values()) == {0}
        assert len(await retention_entries(db)) == logged  # nothing removed, no entry
        assert await link_ids(db) == survivors

    async def test_it_never_touches_my_numbers(
        self,
        db: AsyncSession,
        sessions: async_sessionmaker[AsyncSession],
        vault: Vault,
        world: World,
        arranged: dict[str, object],
    ) -> None:
        before = await numbers_snapshot(db)
        employee: Person = arranged["employee"]  # type: ignore[assignment]
        payee: Person = arranged["payee"]  # type: ignore[assignment]

        await run_retention(sessions, NOW + dt.timedelta(days=3650), trigger="test")  # ten years on: all expired

        assert len(before) == 2
        assert await numbers_snapshot(db) == before
        info = await vault.number_info(db, world.tenant.id, [employee.id, payee.id])
        assert info[employee.id].masked.endswith(valid_my_number(1)[-2:])
        assert info[payee.id].masked.endswith(valid_my_number(2)[-2:])
        assert await link_ids(db) == set()

    async def test_a_failing_kind_is_rolled_back_and_the_others_run(
        self, db: AsyncSession, sessions: async_sessionmaker[AsyncSession], arranged: dict[str, object]
    ) -> None:
        async def broken(session: AsyncSession, now: dt.datetime, limit: int) -> dict[uuid.UUID | None, int]:
            await session.execute(PayeeLink.__table__.delete())
            raise RuntimeError("boom")

        register_retention("broken", broken, label="壊れた種類")
        try:
            report = await run_retention(sessions, NOW, trigger="test")
        finally:
            unregister_retention("broken")

        assert report.failed == ["壊れた種類"]
        assert report.removed["取引先用リンク"] == 3
        assert len(await link_ids(db)) == 3  # the broken kind's delete was rolled back

    async def test_mnvault_purge_runs_them_and_prints_counts(
        self, db: AsyncSession, settings: Settings, arranged: dict[str, object]
    ) -> None:
        lines = await run_purge(settings)

        assert "保存期間を過ぎた取引先用リンクを削除しました: 3 件" in lines
        assert "保存期間を過ぎたログインセッションを削除しました: 2 件" in lines
        assert len(await link_ids(db)) == 3
        assert isinstance(RetentionReport().lines(), list)


class TestRealSessions:
    async def test_a_session_lives_until_its_expiry_and_is_removed_after(
        self,
        client: AsyncTestClient[Litestar],
        db: AsyncSession,
        settings: Settings,
        sessions: async_sessionmaker[AsyncSession],
        world: World,
    ) -> None:
        only_sessions = [kind for kind in retention_kinds() if kind.name == "sessions"]
        await sign_in(client, world.viewer)
        assert (await client.get("/admin/log")).status_code == 200

        now = await run_retention(sessions, utcnow(), kinds=only_sessions)
        assert now.removed == {"ログインセッション": 0}
        assert (await client.get("/admin/log")).status_code == 200  # still signed in

        later = utcnow() + dt.timedelta(hours=settings.session_absolute_hours, minutes=1)
        after = await run_retention(sessions, later, kinds=only_sessions)

        assert after.removed["ログインセッション"] >= 1
        stored = select(KeyValueItem.id).where(KeyValueItem.namespace == "sessions")
        assert (await db.execute(stored)).first() is None
        assert (await client.get("/admin/log", follow_redirects=False)).status_code in (302, 303, 401)
