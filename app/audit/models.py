"""Operation-log tables: the append-only entries and one chain head per tenant."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, ForeignKey, Index, Integer, String, Uuid, text
from sqlalchemy.orm import Mapped, mapped_column

from app.audit.events import AuditAction, AuditResult
from app.db import Base, str_enum

GENESIS_HASH = "0" * 64
PARTNER_ENTRY_SQL = "actor_partner_id IS NOT NULL"
DEFAULT_CHAIN = "log"

# Text columns and their lengths: values are clipped to these before hashing, so what is stored is what was hashed.
TEXT_LENGTHS = {
    "actor_login_id": 254,
    "actor_name": 200,
    "actor_role": 50,
    "actor_organisation": 200,
    "ip": 45,
    "user_agent": 512,
    "function": 100,
    "subject_name": 300,
    "subject_department_code": 50,
    "subject_department_name": 200,
    "subject_employee_code": 50,
    "purpose": 100,
}


def _tenant_column() -> Any:
    return mapped_column(Uuid(), ForeignKey("tenants.id", ondelete="RESTRICT"), primary_key=True)


class AuditEntry(Base):
    """One operation (操作履歴): who did what to whom, why, with what result. Never updated, never deleted."""

    __tablename__ = "audit_entries"
    __table_args__ = (
        # seq included: a date filter becomes a range of seq with one probe (time never runs backwards in a chain).
        Index("ix_audit_entries_tenant_id_occurred_at", "tenant_id", "occurred_at", "seq"),
        # One person's entries newest first (the log's 対象者名 filter; an employee's own page reads several ids).
        Index("ix_audit_entries_tenant_id_subject_person_id_seq", "tenant_id", "subject_person_id", "seq"),
        # The log search's other filters (tenants.services._log_search): each one range ending in seq.
        Index("ix_audit_entries_tenant_id_subject_employee_code_seq", "tenant_id", "subject_employee_code", "seq"),
        Index("ix_audit_entries_tenant_id_subject_department_code_seq", "tenant_id", "subject_department_code", "seq"),
        Index("ix_audit_entries_tenant_id_actor_login_id_seq", "tenant_id", "actor_login_id", "seq"),
        # The log page's filters pick one range each, newest first (app.audit.log_page): an action (and a result),
        # or a result alone.
        Index("ix_audit_entries_tenant_id_action_result_seq", "tenant_id", "action", "result", "seq"),
        Index("ix_audit_entries_tenant_id_result_seq", "tenant_id", "result", "seq"),
        # A 社労士事務所's log of its staff's actions across its clients (partners/): only their entries are in it.
        Index(
            "ix_audit_entries_actor_partner_id_occurred_at",
            "actor_partner_id",
            "occurred_at",
            "tenant_id",
            "seq",
            sqlite_where=text(PARTNER_ENTRY_SQL),
            postgresql_where=text(PARTNER_ENTRY_SQL),
        ),
    )

    tenant_id: Mapped[uuid.UUID] = _tenant_column()
    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    occurred_at: Mapped[dt.datetime]
    actor_user_id: Mapped[uuid.UUID | None]
    actor_login_id: Mapped[str] = mapped_column(String(TEXT_LENGTHS["actor_login_id"]))
    actor_name: Mapped[str] = mapped_column(String(TEXT_LENGTHS["actor_name"]))
    actor_role: Mapped[str] = mapped_column(String(TEXT_LENGTHS["actor_role"]))
    actor_organisation: Mapped[str] = mapped_column(String(TEXT_LENGTHS["actor_organisation"]))
    ip: Mapped[str | None] = mapped_column(String(TEXT_LENGTHS["ip"]))
    user_agent: Mapped[str | None] = mapped_column(String(TEXT_LENGTHS["user_agent"]))
    action: Mapped[AuditAction] = mapped_column(str_enum(AuditAction))
    function: Mapped[str] = mapped_column(String(TEXT_LENGTHS["function"]))
    subject_person_id: Mapped[uuid.UUID | None]
    subject_name: Mapped[str] = mapped_column(String(TEXT_LENGTHS["subject_name"]))
    subject_department_code: Mapped[str] = mapped_column(String(TEXT_LENGTHS["subject_department_code"]))
    subject_department_name: Mapped[str] = mapped_column(String(TEXT_LENGTHS["subject_department_name"]))
    subject_employee_code: Mapped[str] = mapped_column(String(TEXT_LENGTHS["subject_employee_code"]))
    purpose: Mapped[str | None] = mapped_column(String(TEXT_LENGTHS["purpose"]))
    result: Mapped[AuditResult] = mapped_column(str_enum(AuditResult))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))
    # The audit key version of ``hash`` (an HMAC); NULL for legacy entries hashed with bare SHA-256.
    key_version: Mapped[int | None] = mapped_column(Integer, default=None)
    # The 社労士事務所 (partner tenant) whose staff member acted inside this tenant (partners/); NULL otherwise. Its
    # value is also in the (hashed) detail as ``partner_id``, so the chain covers it.
    actor_partner_id: Mapped[uuid.UUID | None] = mapped_column(default=None)


class AuditChainHead(Base):
    """The last sequence number and hash of a tenant's chain; its row lock serializes writers.

    Keyed (tenant_id, chain) like every tenant table; one chain per tenant today.
    """

    __tablename__ = "audit_chain_heads"

    tenant_id: Mapped[uuid.UUID] = _tenant_column()
    chain: Mapped[str] = mapped_column(String(16), primary_key=True, default=DEFAULT_CHAIN)
    last_seq: Mapped[int] = mapped_column(BigInteger)
    last_hash: Mapped[str] = mapped_column(String(64))


class AuditChainCheck(Base):
    """The last check of a tenant's chain of one ``kind``, shown at the top of the 操作履歴 page.

    ``kind`` is ``checkpoint`` (the periodic maintenance verified the entries since the last checkpoint, and wrote a
    new one when they were intact: app.vault.maintenance) or ``full`` (the whole chain against its head and every
    checkpoint: the 今すぐ検証 job). ``through_seq`` is the last entry the check read; ``first_bad_seq`` and
    ``reason`` name the first break when ``ok`` is False. ``checkpoint_at``: when the newest checkpoint was written.
    Rewritten on every check (it is a cache of the verification, not evidence: the evidence is the chain itself).
    """

    __tablename__ = "audit_chain_checks"

    tenant_id: Mapped[uuid.UUID] = mapped_column(Uuid(), ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    checked_at: Mapped[dt.datetime]
    ok: Mapped[bool] = mapped_column(Boolean)
    entries: Mapped[int] = mapped_column(BigInteger)
    through_seq: Mapped[int] = mapped_column(BigInteger)
    first_bad_seq: Mapped[int | None] = mapped_column(BigInteger)
    reason: Mapped[str] = mapped_column(String(300))
    checkpoint_seq: Mapped[int | None] = mapped_column(BigInteger)
    checkpoint_at: Mapped[dt.datetime | None]
