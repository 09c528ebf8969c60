"""One rule for every erasure of a number: it leaves a deletion record (削除記録).

Whatever erases a number through the vault (``Vault.erase``, ``Vault.erase_many``, ``Vault.replace_number``) writes
the ``DeletionRecord`` of each erased number in the same transaction, with the acting person as handler: the
削除 screen (``_erasure.erase_row``), a replaced number (代理登録 or 本人登録 over a live one, an import replacing
numbers), an approved correction request and a duplicate resolved as 誤り. So a 削除証明書 (seed 000: 削除ログ →
削除証明書) covers every number that was erased, however it went. The records never hold the number.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.events import Actor, Subject
from app.db import insert_many, utcnow
from tenants.models import DeletionRecord, DeletionResult, PersonKind

# Reasons the service records by itself (not offered on the 削除 screen, whose list is ``ERASURE_REASONS``); the
# records page and the certificate print their labels.
SYSTEM_ERASURE_REASONS: dict[str, str] = {
    "replaced": "番号の変更",
    "correction": "修正依頼の承認",
    "mistake": "誤登録",
}
RECORD_BATCH = 1000  # records built and inserted per batch (an import replacing many numbers)


@dataclass(frozen=True, slots=True)
class ErasedNumber:
    """One number the vault just erased: whose (the log's subject snapshot and the person's kind) and its row id."""

    subject: Subject
    kind: PersonKind
    number_id: uuid.UUID | None


def deletion_record_values(
    tenant_id: uuid.UUID,
    erased: ErasedNumber,
    *,
    handler: tuple[str, str],
    reason: str,
    reason_text: str = "",
    erased_at: dt.datetime,
    approver: tuple[str, str] = ("", ""),
    request_id: uuid.UUID | None = None,
) -> dict[str, Any]:
    """The columns of one ``DeletionRecord`` (snapshots cut to their column lengths; never the number).

    ``handler`` and ``approver`` are (login id, name); ``reason`` a key of ``ERASURE_REASONS`` or
    :data:`SYSTEM_ERASURE_REASONS`; ``erased_at`` UTC.
    """
    subject = erased.subject
    if subject.person_id is None:
        raise ValueError("an erased number belongs to a person: subject.person_id is required")
    return {
        "tenant_id": tenant_id,
        "erased_at": erased_at,
        "person_id": subject.person_id,
        "number_id": erased.number_id,
        "handler_login_id": handler[0][:100],
        "handler_name": handler[1][:100],
        "approver_login_id": approver[0][:100],
        "approver_name": approver[1][:100],
        "reason": reason,
        "reason_text": reason_text[:200],
        "subject_name": subject.name[:250],
        "subject_kind": erased.kind,
        "department_code": subject.department_code[:32],
        "department_name": subject.department_name[:100],
        "employee_code": subject.employee_code[:32],
        "result": DeletionResult.ERASED,
        "early_request_id": request_id,
    }


async def record_erasures(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    erased: Sequence[ErasedNumber],
    actor: Actor,
    reason: str,
    reason_text: str = "",
) -> int:
    """Write the deletion record of each erased number (``actor`` as handler), in batches of ``RECORD_BATCH`` rows,
    in the caller's transaction (the one that erased them); returns how many. Nothing to write for none."""
    erased_at = utcnow()
    handler = (actor.login_id, actor.name)
    table: Table = DeletionRecord.__table__  # type: ignore[assignment]
    for start in range(0, len(erased), RECORD_BATCH):
        rows = [
            deletion_record_values(
                tenant_id, item, handler=handler, reason=reason, reason_text=reason_text, erased_at=erased_at
            )
            for item in erased[start : start + RECORD_BATCH]
        ]
        await insert_many(session, table, rows)
    return len(erased)
