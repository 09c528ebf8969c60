"""番号の取扱い履歴: the operations on the employee's own and their dependants' numbers, as the employee sees them.

The data subject may ask the company how their personal information was handled (個人情報保護法 第33条 開示請求,
and the 取扱状況 a company must be able to show under the My Number guideline's 組織的安全管理措置); this page
offers the answer before anyone asks. It shows only entries whose subject is the employee or one of their
dependants, never another person's, never an IP address or a user agent, and of the actors only the name and role
of whoever acted. Reading it writes no audit entry (an employee looking at their own history is not an operation
on a number).

Cost: one index range per person id (``ix_audit_entries_tenant_id_subject_person_id_seq``: tenant_id,
subject_person_id, seq), merged newest first by :func:`app.pager.read_page`; an employee has a handful of
dependants, so a page reads at most ``(1 + dependants) * NUMBERED_PAGES * per_page`` index entries whatever the
size of the tenant or of its log.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.events import AuditAction, AuditResult
from app.audit.models import AuditEntry
from app.auth.principal import Principal
from app.auth.scoping import scoped
from app.pager import KeysetPage, PageRequest, read_page
from app.paging import SortColumn
from tenants.models import Person, PersonKind

HISTORY_PER_PAGE = 20
NEWEST_FIRST = [SortColumn(AuditEntry.seq, "seq", descending=True)]

# The operations on a number (and on the record that carries it) that the page lists. Sign-ins, settings and
# account changes, key rotation and maintenance are about no one's number and are left out.
NUMBER_OPERATIONS: tuple[AuditAction, ...] = (
    AuditAction.REGISTER,
    AuditAction.PROXY_REGISTER,
    AuditAction.SELF_CONFIRM,
    AuditAction.ADMIN_CONFIRM,
    AuditAction.VIEW,
    AuditAction.REVEAL,
    AuditAction.PRINT,
    AuditAction.UPDATE,
    AuditAction.DELETE,
    AuditAction.DECLINE,
    AuditAction.CSV_EXPORT,
    AuditAction.IMPORT,
    AuditAction.CORRECTION_REQUEST,
    AuditAction.CORRECTION_APPROVE,
)

SYSTEM_ACTOR = "システム"
YOURSELF = "ご本人"


@dataclass(frozen=True, slots=True)
class HistoryRow:
    """One line of the page: when (JST), what, by which function, by whom, why, and the result when not 成功.

    ``subject`` is the employee's or the dependant's name as the page knows it today (never the stored snapshot,
    which may name the employee's department and code).
    """

    occurred_at: dt.datetime
    operation: str
    function: str
    subject: str
    actor: str
    actor_role: str
    actor_organisation: str
    purpose: str
    result: str


@dataclass(frozen=True, slots=True)
class HistoryPage:
    rows: list[HistoryRow]
    window: KeysetPage


async def family_ids(session: AsyncSession, principal: Principal, employee: Person) -> dict[uuid.UUID, str]:
    """The employee's and their dependants' ids with their names (the employee first); scoped to the tenant."""
    statement = (
        scoped(Person, principal)
        .with_only_columns(Person.id, Person.name)
        .where(Person.kind == PersonKind.DEPENDANT, Person.employee_id == employee.id)
        .order_by(Person.created_at, Person.id)
    )
    names = {employee.id: employee.name}
    names.update({person_id: name for person_id, name in await session.execute(statement)})
    return names


def _ranges(tenant_id: uuid.UUID, person_ids: list[uuid.UUID]) -> list[Select[Any]]:
    """One index range per person: (tenant_id, subject_person_id = id) newest first, number operations only."""
    return [
        select(AuditEntry).where(
            AuditEntry.tenant_id == tenant_id,
            AuditEntry.subject_person_id == person_id,
            AuditEntry.action.in_(NUMBER_OPERATIONS),
        )
        for person_id in person_ids
    ]


async def number_history(
    session: AsyncSession,
    principal: Principal,
    employee: Person,
    request: PageRequest,
    *,
    per_page: int = HISTORY_PER_PAGE,
) -> HistoryPage:
    """One page (newest first) of the operations on the numbers of ``employee`` and their dependants.

    ``employee`` must be the signed-in principal's own record (``own_employee``). Reads only; writes nothing.
    """
    names = await family_ids(session, principal, employee)
    window = await read_page(
        session, _ranges(principal.tenant_id, list(names)), NEWEST_FIRST, request, per_page=per_page
    )
    seqs = [key.seq for key in window.keys]
    if not seqs:
        return HistoryPage([], window)
    found = await session.execute(
        select(AuditEntry).where(AuditEntry.tenant_id == principal.tenant_id, AuditEntry.seq.in_(seqs))
    )
    by_seq = {entry.seq: entry for entry in found.scalars()}
    rows = [
        _row(by_seq[seq], principal, names)
        for seq in seqs
        if seq in by_seq and by_seq[seq].subject_person_id in names  # the range said so; checked again
    ]
    return HistoryPage(rows, window)


def _row(entry: AuditEntry, principal: Principal, names: dict[uuid.UUID, str]) -> HistoryRow:
    assert entry.subject_person_id is not None
    if entry.actor_user_id is not None and entry.actor_user_id == principal.account_id:
        actor, role = YOURSELF, ""
    elif entry.actor_user_id is None and entry.actor_role == "system":
        actor, role = SYSTEM_ACTOR, ""
    else:
        actor, role = entry.actor_name, entry.actor_role
    # The company is who handles the number; another organisation (a partner office) is named.
    organisation = entry.actor_organisation if entry.actor_organisation not in ("", principal.tenant_name) else ""
    if actor == SYSTEM_ACTOR:
        organisation = ""
    return HistoryRow(
        occurred_at=entry.occurred_at,
        operation=entry.action.value,
        function=entry.function,
        subject=names[entry.subject_person_id],
        actor=actor,
        actor_role=role,
        actor_organisation=organisation,
        purpose=entry.purpose or "",
        result="" if entry.result is AuditResult.SUCCESS else entry.result.value,
    )
