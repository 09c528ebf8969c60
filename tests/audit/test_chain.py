"""The MAC chain: verify passes on an honest log and names the first bad entry after tampering with raw SQL.

The forgeries here use the real chain key (an attacker who somehow has it): even then the chain's structure
shows every edit. Attackers without the key are in test_insider.py.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable

import pytest
from sqlalchemy import insert, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit import verify as verify_module
from app.audit.chain import entry_hash
from app.audit.keys import key_source
from app.audit.log import ENTRIES, record, record_many, verify_all, verify_chain
from tests.audit.conftest import add_tenant, make_event, tamper

Tamper = Callable[[AsyncSession], Awaitable[None]]


async def keyed_hash(session: AsyncSession, row: dict[str, object]) -> str:
    """The MAC the log itself would compute for ``row`` (with the real key)."""
    key = await key_source(session).chain_key(int(str(row["key_version"])), uuid.UUID(str(row["tenant_id"])))
    return entry_hash(row, key)


async def edit_a_row(session: AsyncSession) -> None:
    await tamper(session, "UPDATE audit_entries SET purpose = '雇用保険' WHERE seq = 3")


async def edit_a_row_and_its_hash(session: AsyncSession) -> None:
    row = dict((await session.execute(select(ENTRIES).where(ENTRIES.c.seq == 3))).one()._mapping)
    row["actor_name"] = "別人"
    forged = await keyed_hash(session, row)
    await tamper(session, f"UPDATE audit_entries SET actor_name = '別人', hash = '{forged}' WHERE seq = 3")


async def edit_the_detail(session: AsyncSession) -> None:
    await tamper(session, r"""UPDATE audit_entries SET detail = '{"field"\:"my_number","n"\:99}' WHERE seq = 4""")


async def delete_a_row(session: AsyncSession) -> None:
    await tamper(session, "DELETE FROM audit_entries WHERE seq = 3")


async def delete_the_first_row(session: AsyncSession) -> None:
    await tamper(session, "DELETE FROM audit_entries WHERE seq = 1")


async def delete_the_last_row(session: AsyncSession) -> None:
    await tamper(session, "DELETE FROM audit_entries WHERE seq = 6")


async def delete_a_row_and_close_the_gap(session: AsyncSession) -> None:
    await tamper(
        session,
        "DELETE FROM audit_entries WHERE seq = 3",
        "UPDATE audit_entries SET seq = -seq + 1 WHERE seq > 3",
        "UPDATE audit_entries SET seq = -seq WHERE seq < 0",
        "UPDATE audit_chain_heads SET last_seq = 5",
    )


async def insert_a_row_in_the_middle(session: AsyncSession) -> None:
    """A forged entry with a correct hash after entry 3; later entries are renumbered and the head moved on."""
    row = dict((await session.execute(select(ENTRIES).where(ENTRIES.c.seq == 3))).one()._mapping)
    row.update(seq=4, purpose="偽の利用目的", prev_hash=row["hash"])
    row["hash"] = await keyed_hash(session, row)
    await tamper(
        session,
        "UPDATE audit_entries SET seq = -seq - 1 WHERE seq > 3",
        "UPDATE audit_entries SET seq = -seq WHERE seq < 0",
        "UPDATE audit_chain_heads SET last_seq = last_seq + 1",
    )
    await session.execute(insert(ENTRIES).values(row))
    await session.commit()


async def append_a_row_behind_the_head(session: AsyncSession) -> None:
    row = dict((await session.execute(select(ENTRIES).where(ENTRIES.c.seq == 6))).one()._mapping)
    row.update(seq=7, prev_hash=row["hash"])
    row["hash"] = await keyed_hash(session, row)
    await session.execute(insert(ENTRIES).values(row))
    await session.commit()


async def swap_two_rows(session: AsyncSession) -> None:
    await tamper(
        session,
        "UPDATE audit_entries SET seq = -1 WHERE seq = 2",
        "UPDATE audit_entries SET seq = 2 WHERE seq = 3",
        "UPDATE audit_entries SET seq = 3 WHERE seq = -1",
    )


async def move_the_head(session: AsyncSession) -> None:
    await tamper(session, "UPDATE audit_chain_heads SET last_hash = '" + "f" * 64 + "'")


async def delete_the_head(session: AsyncSession) -> None:
    await tamper(session, "DELETE FROM audit_chain_heads")


@pytest.mark.parametrize(
    ("attack", "first_bad_seq"),
    [
        (edit_a_row, 3),
        (edit_a_row_and_its_hash, 4),
        (edit_the_detail, 4),
        (delete_a_row, 3),
        (delete_the_first_row, 1),
        (delete_the_last_row, 6),
        (delete_a_row_and_close_the_gap, 3),
        (insert_a_row_in_the_middle, 5),
        (append_a_row_behind_the_head, 7),
        (swap_two_rows, 2),
        (move_the_head, 6),
        (delete_the_head, 1),
    ],
)
async def test_verify_names_the_first_bad_entry_after_tampering(
    db: AsyncSession, tenant_id: uuid.UUID, attack: Tamper, first_bad_seq: int
) -> None:
    await record_many(db, [make_event(tenant_id, n) for n in range(1, 4)])
    for n in range(4, 7):
        await record(db, make_event(tenant_id, n))
    await db.commit()
    assert (await verify_chain(db, tenant_id)).ok
    await attack(db)
    report = await verify_chain(db, tenant_id)
    assert (report.ok, report.first_bad_seq) == (False, first_bad_seq), report.reason
    assert report.reason


async def test_an_honest_log_verifies(db: AsyncSession, tenant_id: uuid.UUID) -> None:
    for n in range(5):
        await record(db, make_event(tenant_id, n))
        await db.commit()
    report = await verify_chain(db, tenant_id)
    assert (report.tenant_id, report.ok, report.entries, report.first_bad_seq) == (tenant_id, True, 5, None)


async def test_a_tenant_without_entries_verifies_empty(db: AsyncSession, tenant_id: uuid.UUID) -> None:
    report = await verify_chain(db, tenant_id)
    assert (report.ok, report.entries) == (True, 0)
    assert await verify_all(db) == []


async def test_tampering_with_one_tenant_leaves_the_others_verified(db: AsyncSession, tenant_id: uuid.UUID) -> None:
    other = await add_tenant(db, "other")
    await record_many(db, [make_event(t, n) for n in range(4) for t in (tenant_id, other)])
    await db.commit()
    hex_id = (await db.execute(text("SELECT tenant_id FROM audit_entries WHERE seq = 2 LIMIT 1"))).scalar()
    victim = tenant_id if uuid.UUID(str(hex_id)) == tenant_id else other
    await tamper(db, f"UPDATE audit_entries SET function = 'x' WHERE seq = 2 AND tenant_id = '{hex_id}'")
    reports = {r.tenant_id: r for r in await verify_all(db)}
    assert [t for t, r in reports.items() if not r.ok] == [victim]
    assert reports[victim].first_bad_seq == 2 and reports[victim].entries == 4


class TestVerifyingInPages:
    """The chain is read in keyset pages; a break on either side of a page boundary is named all the same."""

    @pytest.fixture(autouse=True)
    def small_pages(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setattr(verify_module, "VERIFY_PAGE", 4)
        monkeypatch.setattr(verify_module, "PROGRESS_EVERY", 10)

    async def chain_of(self, db: AsyncSession, tenant_id: uuid.UUID, entries: int) -> None:
        await record_many(db, [make_event(tenant_id, n) for n in range(entries)])
        await db.commit()

    async def test_an_honest_chain_of_many_pages_verifies_and_reports_progress(
        self, db: AsyncSession, tenant_id: uuid.UUID
    ) -> None:
        await self.chain_of(db, tenant_id, 25)
        seen: list[tuple[uuid.UUID, int]] = []

        report = await verify_chain(db, tenant_id, progress=lambda t, n: seen.append((t, n)))

        assert (report.ok, report.entries) == (True, 25)
        assert seen == [(tenant_id, 12), (tenant_id, 20)]  # after the page that crossed 10, then 20

    @pytest.mark.parametrize("seq", [4, 5, 8, 9, 13])
    async def test_an_edit_next_to_a_page_boundary_is_named(
        self, db: AsyncSession, tenant_id: uuid.UUID, seq: int
    ) -> None:
        await self.chain_of(db, tenant_id, 14)
        await tamper(db, f"UPDATE audit_entries SET purpose = '雇用保険' WHERE seq = {seq}")

        report = await verify_chain(db, tenant_id)

        assert (report.ok, report.first_bad_seq, report.entries) == (False, seq, 14)

    async def test_a_row_missing_at_a_page_boundary_is_named(self, db: AsyncSession, tenant_id: uuid.UUID) -> None:
        await self.chain_of(db, tenant_id, 14)
        await tamper(db, "DELETE FROM audit_entries WHERE seq = 9")

        report = await verify_chain(db, tenant_id)

        assert (report.ok, report.first_bad_seq) == (False, 9)

    async def test_unreadable_values_are_reported_not_raised(self, db: AsyncSession, tenant_id: uuid.UUID) -> None:
        await self.chain_of(db, tenant_id, 6)
        if db.get_bind().dialect.name == "sqlite":
            await tamper(db, "UPDATE audit_entries SET occurred_at = 'yesterday' WHERE seq = 5")
            expected = "日時"
        else:  # PostgreSQL only stores valid JSON and times; a number JSON allows but no encoder writes back
            await tamper(db, """UPDATE audit_entries SET detail = '{"n": 1e999}' WHERE seq = 5""")
            expected = "MAC"

        report = await verify_chain(db, tenant_id)

        assert (report.ok, report.first_bad_seq) == (False, 5)
        assert expected in report.reason
