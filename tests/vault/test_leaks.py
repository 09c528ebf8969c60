"""No number in clear anywhere: not in the database files, not in a log line, not in an error message."""

from __future__ import annotations

import logging
import uuid
from pathlib import Path

import pytest
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.events import AuditAction
from app.config import Settings
from app.vault import NumberField, Vault, VaultError
from app.vault.models import VaultNumber
from app.vault.numbers import InvalidNumber
from tests.vault.helpers import ADMIN, corporate_number, my_number, person
from tests.vault.test_sealing import reveal, store

FULL_WIDTH = str.maketrans("0123456789", "０１２３４５６７８９")


async def exercise_the_vault(db: AsyncSession, vault: Vault, tenant_id: uuid.UUID) -> tuple[list[str], list[str]]:
    """Every operation, including the failing ones; returns (numbers used, error messages seen)."""
    numbers: list[str] = []
    errors: list[str] = []
    people = []
    for _ in range(3):
        number = my_number()
        subject, _ = await store(db, vault, tenant_id, number)
        numbers.append(number)
        people.append(subject)
        assert await reveal(db, vault, tenant_id, subject) == number
    batch = [(person(), my_number()) for _ in range(5)]
    numbers += [n for _, n in batch]
    await vault.store_many(
        db, tenant_id=tenant_id, entries=batch, field=NumberField.MY_NUMBER, actor=ADMIN, function="取込"
    )
    await vault.reveal_many(
        db, tenant_id=tenant_id, subjects=[p for p, _ in batch], field=NumberField.MY_NUMBER, actor=ADMIN,
        purpose="源泉徴収", function="CSV出力", action=AuditAction.CSV_EXPORT,
    )  # fmt: skip
    corporate = corporate_number()
    numbers.append(corporate)
    await vault.store_number(
        db, tenant_id=tenant_id, subject=person(), field=NumberField.CORPORATE_NUMBER, number=corporate,
        actor=ADMIN, action=AuditAction.REGISTER, function="取引先",
    )  # fmt: skip
    replacement = my_number()
    numbers.append(replacement)
    await vault.replace_number(
        db, tenant_id=tenant_id, subject=people[0], field=NumberField.MY_NUMBER, number=replacement,
        actor=ADMIN, action=AuditAction.UPDATE, function="変更",
    )  # fmt: skip
    await vault.erase(db, tenant_id=tenant_id, subject=people[1], actor=ADMIN, function="削除", reason="退職")
    await vault.commit(db)
    # Failures: a wrong check digit, a duplicate, a batch with bad rows, a tampered row.
    wrong = numbers[2][:11] + str((int(numbers[2][11]) + 1) % 10)
    numbers.append(wrong)
    attempts = [
        store(db, vault, tenant_id, wrong),
        store(db, vault, tenant_id, numbers[2].translate(FULL_WIDTH)),
        vault.store_many(
            db, tenant_id=tenant_id, entries=[(person(), numbers[3]), (person(), wrong)],
            field=NumberField.MY_NUMBER, actor=ADMIN, function="取込",
        ),
    ]  # fmt: skip
    for attempt in attempts:
        with pytest.raises((InvalidNumber, VaultError)) as excinfo:
            await attempt
        errors.append(str(excinfo.value))
        errors.append(repr(getattr(excinfo.value, "errors", "")))
    await db.rollback()
    await db.execute(update(VaultNumber).where(VaultNumber.subject_id == people[2].person_id).values(nonce=b"0" * 12))
    await db.commit()
    with pytest.raises(VaultError) as integrity:
        await reveal(db, vault, tenant_id, people[2])
    errors.append(str(integrity.value))
    await db.rollback()
    return numbers, errors


def read_database_files(directory: Path) -> tuple[set[str], bytes]:
    """The main database and the key store, with their WAL and shared-memory files."""
    files = [p for p in directory.iterdir() if p.name.startswith(("mnvault.db", "keystore.db"))]
    return {p.name for p in files}, b"".join(p.read_bytes() for p in files)


def _forms(number: str) -> list[bytes]:
    return [number.encode(), number.encode("utf-16-le"), number.translate(FULL_WIDTH).encode()]


async def test_no_number_appears_in_logs_or_errors(
    db: AsyncSession, vault: Vault, tenant_id: uuid.UUID, caplog: pytest.LogCaptureFixture
) -> None:
    # SQLAlchemy's statement and parameter logging too: the values sent to the database are scanned as well.
    with caplog.at_level(logging.DEBUG), caplog.at_level(logging.INFO, logger="sqlalchemy.engine"):
        numbers, errors = await exercise_the_vault(db, vault, tenant_id)
    # The scan did see the SQL; its parameters are never logged at all (engines hide them).
    assert any("INSERT INTO vault_numbers" in r.getMessage() for r in caplog.records)
    assert "hide_parameters=True" in caplog.text
    logged = caplog.text + "\n".join(repr(r.__dict__) for r in caplog.records)
    for number in numbers:
        assert number not in logged
        assert all(number not in message for message in errors)


async def test_no_number_appears_in_the_database_files(
    db: AsyncSession, vault: Vault, tenant_id: uuid.UUID, settings: Settings
) -> None:
    if not settings.is_sqlite:
        pytest.skip("a file scan needs the SQLite files")
    numbers, _ = await exercise_the_vault(db, vault, tenant_id)
    await db.close()
    await vault.wait_for_shredding()
    names, content = read_database_files(Path(settings.data_dir))
    assert {"mnvault.db", "keystore.db"} <= names
    assert b"**********" in content  # the masked forms are there, so the scan does read the rows
    for number in numbers:
        for form in _forms(number):
            assert form not in content
