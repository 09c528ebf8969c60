"""削除予定日: proposed from the tenant's retention rule whenever a 退職日 is set, edited or cancelled by an admin.

Every path that sets or clears a 退職日 (the employee form, 退職処理, 退職の取消, the full-layout import, the API)
calls :func:`follow_retirement` on the people it changed; the bulk path computes the same proposal with
:func:`tenants.retention_rule.propose_due_date` for the rows it inserts. A dependant without a date of its own goes
by its employee's, copied onto its row whenever the employee's date changes (``tenants.due_following``, on flush). A
date an admin set by hand (:func:`change_deletion_due`) is kept: only a proposal follows the 退職日 and is cleared by
退職の取消. Nothing here erases a number (seed 000: only an admin does).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.events import Actor, AuditAction, AuditEvent
from app.audit.log import record, record_many
from app.auth.principal import Principal
from app.forms import Checker, FormInvalid
from app.tenancy import Tenant
from tenants.due_following import followed_dates
from tenants.models import CollectionStatus, Person, PersonKind
from tenants.retention_rule import RetentionPurpose, propose_due_date, tenant_purposes
from tenants.services._erasure import check_role
from tenants.services._people import log_change, text_field
from tenants.services._records import context_of, person_subject

CHANGE_FUNCTION = "削除予定日の変更"
CANCEL_FUNCTION = "削除予定の解除"
RETENTION_FUNCTION = "保存期間の設定"
REASON_MAX = 200


async def retention_purposes(session: AsyncSession, tenant_id: uuid.UUID) -> tuple[RetentionPurpose, ...]:
    """The retention purposes the tenant chose (the default 源泉徴収 when it chose none)."""
    tenant = await session.get(Tenant, tenant_id)
    return tenant_purposes(tenant)


def _follow(person: Person, proposal: dt.date | None) -> None:
    """Set a proposal where no date is set (or the set one is a proposal, or a dependant's inherited one); clear a
    proposal when there is none."""
    if proposal is None:
        if person.deletion_due_proposed:
            person.deletion_due_on = None
            person.deletion_due_proposed = False
        return
    if person.deletion_due_on is None or person.deletion_due_proposed or person.deletion_due_inherited:
        person.deletion_due_on = proposal
        person.deletion_due_proposed = True
        person.deletion_due_inherited = False


async def log_followed_dates(session: AsyncSession, actor: Actor) -> None:
    """Flush, then log one 削除予定日の変更 entry per dependant whose date followed its employee's in this session
    (``tenants.due_following`` notes them), with ``actor`` as the one who changed the employee's date; detail
    ``event=deletion_due_followed``, the old and new dates (ISO, JST; "" for none) and the employee's 社員コード. In
    the caller's transaction, like the employee's own entry (a commit with such changes unlogged fails)."""
    await session.flush()
    events: list[AuditEvent] = []
    for followed in followed_dates(session.sync_session):
        employee = await context_of(session, await _person(session, followed.tenant_id, followed.employee_id))
        statement = select(Person).where(
            Person.tenant_id == followed.tenant_id, Person.id.in_(followed.dependant_ids)
        )  # one IN list of primary keys: a family, never the tenant
        dependants = sorted((await session.execute(statement)).scalars(), key=lambda p: (p.kana, str(p.id)))
        detail = {
            "event": "deletion_due_followed",
            "old": followed.old.isoformat() if followed.old else "",
            "new": followed.new.isoformat() if followed.new else "",
            "employee_code": employee.person.employee_code or "",
        }
        events += [
            AuditEvent(
                tenant_id=followed.tenant_id,
                action=AuditAction.UPDATE,
                actor=actor,
                function=CHANGE_FUNCTION,
                subject=person_subject(dependant, employee.person, employee.department),
                detail=dict(detail),
            )
            for dependant in dependants
        ]
    if events:
        await record_many(session, events)


async def _person(session: AsyncSession, tenant_id: uuid.UUID, person_id: uuid.UUID) -> Person:
    statement = select(Person).where(Person.tenant_id == tenant_id, Person.id == person_id)
    return (await session.execute(statement)).scalar_one()


async def follow_retirement(session: AsyncSession, people: Sequence[Person], actor: Actor) -> None:
    """Make the 削除予定日 of these employees (and payees) follow their 退職日.

    A 退職日 with no date set (or a proposed one): the tenant's rule proposes it (``tenants.retention_rule``). No 退職日
    (退職の取消): a proposed date is cleared. A date an admin set by hand is never touched. The dependants that go by
    the employee's date follow (``tenants.due_following``), each logged with ``actor`` (:func:`log_followed_dates`;
    this flushes). ``people`` are ORM objects of one or more tenants.
    """
    by_tenant: dict[uuid.UUID, list[Person]] = {}
    for person in people:
        if person.kind is not PersonKind.DEPENDANT:
            by_tenant.setdefault(person.tenant_id, []).append(person)
    for tenant_id, members in by_tenant.items():
        purposes = await retention_purposes(session, tenant_id)
        for person in members:
            proposal = propose_due_date(person.retirement_date, purposes) if person.retirement_date else None
            _follow(person, proposal)
    await log_followed_dates(session, actor)


async def follow_dependant_end(session: AsyncSession, dependant: Person) -> None:
    """A dependant who left the employee's 扶養 (their ``retirement_date``, from a 扶養異動 notice) gets the 削除予定日
    the tenant's rule proposes from that day (a date set by hand is kept), as an employee's 退職日 does."""
    if dependant.retirement_date is None:
        return
    purposes = await retention_purposes(session, dependant.tenant_id)
    _follow(dependant, propose_due_date(dependant.retirement_date, purposes))


ERASED_MESSAGE = (
    "この方のマイナンバーは削除済みのため、削除予定日は変更できません（削除記録は削除証明書で確認できます）。"
)


def _refuse_erased(check: Checker, person: Person) -> None:
    """A number already erased has no disposal left to plan: its 削除予定日 is history, not to be changed."""
    if person.status is CollectionStatus.ERASED:
        check.fail("due_on", ERASED_MESSAGE)


def _reason(check: Checker, value: str) -> str:
    reason = text_field(check, "reason", value, "理由", required=True, max_length=REASON_MAX)
    return reason


async def change_deletion_due(
    session: AsyncSession, principal: Principal, person: Person, due_on: str, reason: str
) -> None:
    """削除予定日の変更: set the date by hand (西暦 or 和暦, JST) with a reason; logged as an 更新 entry with the old
    and new dates and the reason, in the caller's transaction.

    PermissionDeniedException unless an admin (seed 000: the admin decides disposal); FormInvalid (Japanese, by
    field ``due_on`` / ``reason``) for a missing or unreadable date, a date equal to the current one, or a
    missing reason.
    """
    check_role(principal)
    check = Checker()
    _refuse_erased(check, person)
    new = check.date("due_on", due_on, "削除予定日", required=True)
    note = _reason(check, reason)
    own = not (person.deletion_due_proposed or person.deletion_due_inherited)
    if new is not None and new == person.deletion_due_on and own:
        check.fail("due_on", "削除予定日が変わっていません。新しい日付を入力してください。")
    check.done()
    assert new is not None
    old = person.deletion_due_on
    person.deletion_due_on = new
    person.deletion_due_proposed = False
    person.deletion_due_inherited = False
    person.deletion_due_note = note
    detail: dict[str, object] = {
        "event": "deletion_due_changed",
        "old": old.isoformat() if old else "",
        "new": new.isoformat(),
        "reason": note,
    }
    await log_change(session, principal, person, CHANGE_FUNCTION, detail)
    await log_followed_dates(session, principal.actor())


def inherited_due(person: Person) -> dt.date | None:
    """The employee's 削除予定日 a dependant without a date of its own goes by (copied onto its row,
    ``tenants.due_following``); None for anyone else, a dependant with its own date, or one whose plan an admin
    cancelled."""
    return person.deletion_due_on if person.deletion_due_inherited else None


async def cancel_deletion_due(session: AsyncSession, principal: Principal, person: Person, reason: str) -> None:
    """予定解除: remove the 削除予定日 with a reason (the number then has no date until one is set again); logged
    as an 更新 entry with the old date and the reason. A dependant going by its employee's date (no date of its
    own) can be cancelled too: it then no longer goes by it (``inherited`` in the entry's detail).

    PermissionDeniedException unless an admin (seed 000: the admin decides disposal); FormInvalid when no date
    applies or no reason is given.
    """
    check_role(principal)
    check = Checker()
    _refuse_erased(check, person)
    note = _reason(check, reason)
    inherited = inherited_due(person)
    if person.deletion_due_on is None and person.status is not CollectionStatus.ERASED:
        check.fail("due_on", "削除予定日は設定されていません。")
    check.done()
    old = person.deletion_due_on
    assert old is not None
    person.deletion_due_on = None
    person.deletion_due_proposed = False
    person.deletion_due_inherited = False
    person.deletion_due_note = note
    detail: dict[str, object] = {"event": "deletion_due_cancelled", "old": old.isoformat(), "new": "", "reason": note}
    if inherited is not None:
        detail["inherited"] = True
    await log_change(session, principal, person, CANCEL_FUNCTION, detail)
    await log_followed_dates(session, principal.actor())


async def update_retention_rule(
    session: AsyncSession, principal: Principal, tenant: Tenant, chosen: Sequence[str]
) -> bool:
    """Save the tenant's retention purposes (admins; the controller's guard checks the role); logged. Returns
    whether anything changed. FormInvalid when none is chosen or one is unknown.

    Dates already proposed stay as they are (the rule applies to 退職日 entered from now on).
    """
    values = list(dict.fromkeys(chosen))
    known = {p.value for p in RetentionPurpose}
    if not values:
        raise FormInvalid({"retention_purposes": "保存期間の対象を1つ以上選んでください。"})
    if any(value not in known for value in values):
        raise FormInvalid({"retention_purposes": "保存期間の対象は一覧から選んでください。"})
    ordered: list[str] = [str(p.value) for p in RetentionPurpose if p.value in values]
    before = [p.value for p in tenant_purposes(tenant)]
    if ordered == before:
        return False
    tenant.retention_purposes = ordered
    detail: dict[str, object] = {"event": "retention_rule_changed", "old": before, "new": ordered}
    await record(session, principal.event(AuditAction.SETTINGS_CHANGE, RETENTION_FUNCTION, detail))
    return True
