"""Tenant-owned tables of the tenants package: departments, people (employees, dependants, payees), requests.

The tenant row itself is core (``app.tenancy``). Numbers never live here: the vault keeps them, keyed by person id.
"""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from typing import Any

from sqlalchemy import (
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    and_,
    event,
    false,
    literal,
    literal_column,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from app.audit.models import AuditEntry
from app.db import Base, TenantMixin, str_enum, tenant_fk
from app.tenancy import Tenant, TenantKind, TenantStatus
from app.text import person_search_key, search_key

NO_DEPARTMENT = uuid.UUID(int=0)  # people_counts.department_id of people without a department, and of payees
# Name-search objects a migration (0012) creates on one database only and the models do not describe: PostgreSQL's
# trigram and code-point-order indexes, SQLite's people_search table and its FTS5 index. Autogenerate skips them.
SEARCH_ONLY_OBJECTS = ("people_search", "ix_people_search_")
_JST = dt.timezone(dt.timedelta(hours=9), "JST")


class PersonKind(enum.StrEnum):
    EMPLOYEE = "employee"
    DEPENDANT = "dependant"
    PAYEE = "payee"

    @property
    def label(self) -> str:
        return {"employee": "従業員", "dependant": "扶養家族", "payee": "取引先"}[self.value]


class Relationship(enum.StrEnum):
    """続柄: the fixed list a dependant's relation is chosen from."""

    SPOUSE = "配偶者"
    CHILD = "子"
    FATHER = "父"
    MOTHER = "母"
    GRANDFATHER = "祖父"
    GRANDMOTHER = "祖母"
    SIBLING = "兄弟姉妹"
    GRANDCHILD = "孫"
    OTHER = "その他"


class PayeeType(enum.StrEnum):
    INDIVIDUAL = "individual"
    CORPORATION = "corporation"

    @property
    def label(self) -> str:
        return {"individual": "個人", "corporation": "法人"}[self.value]


class CollectionStatus(enum.StrEnum):
    """Where a person's number stands; the value is the Japanese label."""

    NOT_REGISTERED = "未登録"
    REGISTERED = "登録済"
    PROXY_REGISTERED = "代理登録済"
    SELF_CONFIRMED = "本人番号確認済"
    ADMIN_CONFIRMED = "管理者確認済"
    DECLINED = "提供拒否"
    ERASED = "削除済"

    @property
    def has_number(self) -> bool:
        return self in (
            CollectionStatus.REGISTERED,
            CollectionStatus.PROXY_REGISTERED,
            CollectionStatus.SELF_CONFIRMED,
            CollectionStatus.ADMIN_CONFIRMED,
        )


class Department(TenantMixin, Base):
    """部門."""

    __tablename__ = "departments"
    __table_args__ = (UniqueConstraint("tenant_id", "code"),)

    code: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(100))


# The masked list's sorts: (section, key, *tail). Sections put missing values last in both directions; the key
# follows the chosen direction; the tail (the family, the employee before their dependants) is always ascending.
LIST_TAIL = ("family_id", "family_rank", "id")
LIST_SORTS: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "department": ("department_section", "list_department_code", ("list_owner_code", *LIST_TAIL)),
    "code": ("code_section", "list_owner_code", LIST_TAIL),
    "registered": ("registered_section", "registered_at", LIST_TAIL),
}


def listing_indexes() -> list[Index]:
    """``ix_people_list_<sort>_<asc|desc>``: (tenant_id, section, key [DESC], *tail) for each sort."""
    indexes = []
    for sort, (section, key, tail) in LIST_SORTS.items():
        indexes.append(Index(f"ix_people_list_{sort}_asc", "tenant_id", section, key, *tail))
        indexes.append(Index(f"ix_people_list_{sort}_desc", "tenant_id", section, literal_column(key).desc(), *tail))
    return indexes


class Person(TenantMixin, Base):
    """Anyone whose number the tenant keeps: an employee, an employee's dependant, or a payee."""

    __tablename__ = "people"
    __table_args__ = (
        UniqueConstraint("tenant_id", "employee_code"),
        tenant_fk("department_id", "departments", ondelete="RESTRICT"),
        tenant_fk("employee_id", "people", ondelete="RESTRICT"),
        Index("ix_people_tenant_id_kind_status", "tenant_id", "kind", "status"),
        # An employee's dependants: all three conditions on one index (no plan reads every dependant instead).
        Index("ix_people_tenant_id_employee_id_kind", "tenant_id", "employee_id", "kind"),
        Index("ix_people_tenant_id_search_key", "tenant_id", "search_key"),
        # The masked list's sorts (tenants.listing): one index per sort and direction, so a page is a range read.
        *listing_indexes(),
        # The payee list's order (フリガナ, name, id) and the employee list's 在籍/退職 filter.
        Index("ix_people_list_payees", "tenant_id", "kind", "kana_key", "search_key", "id"),
        Index("ix_people_tenant_id_retirement_date", "tenant_id", "retirement_date"),
        # The invitation list (selfservice): employees by account state, still in service (no 退職日), by 社員コード;
        # with and without a department (tenants.account_listing keeps ``account_state``).
        Index(
            "ix_people_invitations",
            "tenant_id",
            "kind",
            "account_state",
            "retirement_date",
            "list_owner_code",
            "id",
        ),
        Index(
            "ix_people_invitations_department",
            "tenant_id",
            "kind",
            "department_id",
            "account_state",
            "retirement_date",
            "list_owner_code",
            "id",
        ),
    )

    kind: Mapped[PersonKind] = mapped_column(str_enum(PersonKind))
    employee_code: Mapped[str | None] = mapped_column(String(32), default=None)  # 社員コード (employees only)
    name: Mapped[str] = mapped_column(String(100))
    kana: Mapped[str] = mapped_column(String(100), default="")
    # Name and kana as searches compare them (app.text.person_search_key), kept in step on every insert/update.
    search_key: Mapped[str] = mapped_column(String(250), default="")
    # The フリガナ's search key alone (what follows the separator in search_key): short queries match its start.
    kana_key: Mapped[str] = mapped_column(String(250), default="", server_default="")
    birth_date: Mapped[dt.date | None] = mapped_column(Date, default=None)
    department_id: Mapped[uuid.UUID | None] = mapped_column(default=None, active_history=True)
    hire_date: Mapped[dt.date | None] = mapped_column(Date, default=None)
    retirement_date: Mapped[dt.date | None] = mapped_column(Date, default=None)
    social_insurance_acquired_on: Mapped[dt.date | None] = mapped_column(Date, default=None)
    social_insurance_lost_on: Mapped[dt.date | None] = mapped_column(Date, default=None)
    employment_insurance_acquired_on: Mapped[dt.date | None] = mapped_column(Date, default=None)
    employment_insurance_lost_on: Mapped[dt.date | None] = mapped_column(Date, default=None)
    # For filings (issue 15, 雇用保険被保険者個人番号登録・変更届): 性別 ("male"/"female", None when not given) and
    # 雇用保険 被保険者番号 (11 digits, kept without hyphens; None when not given).
    gender: Mapped[str | None] = mapped_column(String(8), default=None)
    employment_insurance_number: Mapped[str | None] = mapped_column(String(11), default=None)
    # Dependants
    employee_id: Mapped[uuid.UUID | None] = mapped_column(default=None)
    relationship: Mapped[Relationship | None] = mapped_column(str_enum(Relationship), default=None)
    # Payees
    payee_type: Mapped[PayeeType | None] = mapped_column(str_enum(PayeeType), default=None)
    address: Mapped[str] = mapped_column(String(300), default="")
    payment_kind: Mapped[str] = mapped_column(String(100), default="")
    email: Mapped[str] = mapped_column(String(254), default="")
    # Collection
    status: Mapped[CollectionStatus] = mapped_column(
        str_enum(CollectionStatus), default=CollectionStatus.NOT_REGISTERED, active_history=True
    )
    registered_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    self_confirmed_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    admin_confirmed_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    admin_confirmed_by: Mapped[str] = mapped_column(String(100), default="")
    declined_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    decline_reason: Mapped[str] = mapped_column(Text, default="")
    identity_changed_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    notice_acknowledged_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    retired_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    # 削除予定日 (issue 11): the earliest JST date the number may be erased; unset while employed. Proposed from the
    # tenant's retention rule when a retirement date (a payee's end of business) is entered; editable, cancellable.
    deletion_due_on: Mapped[dt.date | None] = mapped_column(Date, default=None)
    deletion_due_note: Mapped[str] = mapped_column(Text, default="", server_default="")
    # True while the date is the rule's proposal (it follows the 退職日, and 退職の取消 clears it); False once an
    # admin set it by hand (tenants.services.change_deletion_due).
    deletion_due_proposed: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # True on a dependant whose date is its employee's, copied (tenants.due_following, on every ORM write; the bulk
    # path copies it itself): it follows the employee's date whenever that is set, proposed, changed or cancelled.
    # False for a date of the dependant's own (set by hand, or proposed from its own end of 扶養) and everyone else.
    deletion_due_inherited: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # Where the person stands in the lists, kept by tenants.listing on every write (never set these by hand):
    # the family (the employee's id for the employee and their dependants), the employee's department and 社員コード
    # (a dependant is listed under its employee), and a section per sort that puts missing values last.
    family_id: Mapped[uuid.UUID | None] = mapped_column(default=None)
    family_rank: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    list_department_id: Mapped[uuid.UUID | None] = mapped_column(default=None, active_history=True)
    list_department_code: Mapped[str] = mapped_column(String(32), default="", server_default="")
    list_owner_code: Mapped[str] = mapped_column(String(32), default="", server_default="")
    department_section: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    code_section: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    registered_section: Mapped[int] = mapped_column(Integer, default=1, server_default=text("1"))
    # The employee's sign-in account as the invitation list reads it (tenants.account_listing, kept on every ORM
    # write of an account; never set by hand): 0 none, 1 one-time password issued, 2 in use, 3 access end set.
    account_state: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))

    @property
    def is_employee(self) -> bool:
        return self.kind is PersonKind.EMPLOYEE

    @property
    def is_retired(self) -> bool:
        """Out of service today (JST)."""
        return self.retired_on(dt.datetime.now(_JST).date())

    @property
    def retirement_scheduled(self) -> bool:
        """A 退職日 in the future: still in service until that day."""
        return self.retirement_date is not None and not self.is_retired

    def retired_on(self, day: dt.date) -> bool:
        """Out of service on that day (a JST date): the 退職日 is that day or earlier.

        The one rule for every path (retire form, edit form, self-service guard, lists): access ends on the 退職日.
        """
        return self.retirement_date is not None and self.retirement_date <= day

    @property
    def is_payee(self) -> bool:
        return self.kind is PersonKind.PAYEE

    @property
    def identity_warning(self) -> bool:
        """Name, kana or birth date changed after the number was confirmed: it may be someone else's."""
        return (
            self.identity_changed_at is not None
            and self.admin_confirmed_at is not None
            and self.identity_changed_at > self.admin_confirmed_at
        )


# The admin home's 要対応 lists read a few rows each, most recent first, from these (never the whole tenant):
# unconfirmed numbers per status by registration time; declined people and identity changes after confirmation from
# partial indexes that hold only those people.
Index("ix_people_tenant_id_status_registered_at", Person.tenant_id, Person.status, Person.registered_at, Person.id)
Index(
    "ix_people_declined",
    Person.tenant_id,
    Person.declined_at,
    Person.id,
    postgresql_where=Person.declined_at.is_not(None),
    sqlite_where=Person.declined_at.is_not(None),
)
Index(
    "ix_people_identity_changed",
    Person.tenant_id,
    Person.identity_changed_at,
    Person.id,
    postgresql_where=Person.identity_changed_at.is_not(None),
    sqlite_where=Person.identity_changed_at.is_not(None),
)
# 削除管理 (issue 11): numbers by due date (the home's reminder, the list's 削除予定日超過 filter) from a partial index
# holding only people with a due date; retired people by 退職日; people without a number in the code order.
Index(
    "ix_people_deletion_due",
    Person.tenant_id,
    Person.deletion_due_on,
    Person.id,
    postgresql_where=Person.deletion_due_on.is_not(None),
    sqlite_where=Person.deletion_due_on.is_not(None),
)
Index(
    "ix_people_retired",
    Person.tenant_id,
    Person.retirement_date,
    Person.id,
    postgresql_where=Person.retirement_date.is_not(None),
    sqlite_where=Person.retirement_date.is_not(None),
)
Index(
    "ix_people_deletion_status_code",
    Person.tenant_id,
    Person.status,
    Person.code_section,
    Person.list_owner_code,
    Person.family_id,
    Person.family_rank,
    Person.id,
)


def search_columns(name: str, kana: str) -> dict[str, str]:
    """The columns name searches read, derived from name and kana: set by the hook below on every ORM write and
    by bulk inserts (``tenants.services.bulk``) for the rows they write."""
    return {"search_key": person_search_key(name, kana), "kana_key": search_key(kana)}


@event.listens_for(Person, "before_insert")
@event.listens_for(Person, "before_update")
def _keep_search_key(mapper: Any, connection: Any, person: Person) -> None:
    for column, value in search_columns(person.name or "", person.kana or "").items():
        setattr(person, column, value)


class PeopleCount(Base):
    """How many people of a tenant stand in one (department, kind, status): the source of every count on a page.

    Kept by ``tenants.listing`` in the same transaction as each change; ``department_id`` is the person's list
    department (a dependant's is its employee's), ``NO_DEPARTMENT`` for none and for payees.
    """

    __tablename__ = "people_counts"

    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True)
    department_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    kind: Mapped[PersonKind] = mapped_column(str_enum(PersonKind), primary_key=True)
    status: Mapped[CollectionStatus] = mapped_column(str_enum(CollectionStatus), primary_key=True)
    count: Mapped[int] = mapped_column(Integer, default=0)


class RequestStatus(enum.StrEnum):
    PENDING = "承認待ち"
    APPROVED = "承認済"
    REJECTED = "却下"


class CorrectionRequest(TenantMixin, Base):
    """An employee's request to correct an admin-confirmed number (or report a re-issued one)."""

    __tablename__ = "correction_requests"
    __table_args__ = (
        tenant_fk("person_id", "people", ondelete="CASCADE"),
        # Pending requests oldest first, decided ones newest first: each list is one index range.
        Index("ix_correction_requests_tenant_id_status_created_at", "tenant_id", "status", "created_at", "id"),
        Index("ix_correction_requests_tenant_id_decided_at", "tenant_id", "decided_at", "id"),
    )

    person_id: Mapped[uuid.UUID] = mapped_column()
    requested_by: Mapped[uuid.UUID] = mapped_column()  # account id
    reason: Mapped[str] = mapped_column(String(50))
    note: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[RequestStatus] = mapped_column(str_enum(RequestStatus), default=RequestStatus.PENDING)
    decided_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    decided_by: Mapped[str] = mapped_column(String(100), default="")


class PayeeLink(TenantMixin, Base):
    """A one-time link for a payee to enter their number; only a hash of the token is kept."""

    __tablename__ = "payee_links"
    __table_args__ = (
        tenant_fk("person_id", "people", ondelete="CASCADE"),
        UniqueConstraint("tenant_id", "token_hash"),
        # The retention run's one range across tenants (tenants.retention, migration 0021).
        Index("ix_payee_links_expires_at", "expires_at"),
    )

    person_id: Mapped[uuid.UUID] = mapped_column()
    token_hash: Mapped[str] = mapped_column(String(64))
    expires_at: Mapped[dt.datetime] = mapped_column()
    used_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    created_by: Mapped[str] = mapped_column(String(100), default="")
    # Failed entries through the link (wrong check digit...): the link locks at payees.MAX_FAILURES.
    failures: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    locked_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    # The confirmation token of the last screen that showed the number in full (SHA-256), and the number it showed.
    confirm_token_hash: Mapped[str | None] = mapped_column(String(64), default=None)
    confirm_number_id: Mapped[uuid.UUID | None] = mapped_column(default=None)


# Links locked after repeated wrong entries and not yet replaced: the admin home lists them (a partial index).
LOCKED_LINK = (PayeeLink.locked_at.is_not(None), PayeeLink.revoked_at.is_(None), PayeeLink.used_at.is_(None))
Index(
    "ix_payee_links_locked",
    PayeeLink.tenant_id,
    PayeeLink.locked_at,
    PayeeLink.id,
    postgresql_where=and_(*LOCKED_LINK),
    sqlite_where=and_(*LOCKED_LINK),
)


class DuplicateStatus(enum.StrEnum):
    """Where a 重複の疑い stands; the value is the Japanese label."""

    OPEN = "重複の疑い"
    SAME_PERSON = "同一人物"
    MISTAKE = "誤りを削除"
    SUPERSEDED = "番号変更で解消"


class NumberDuplicate(TenantMixin, Base):
    """重複の疑い: a number was stored for ``person_id`` while ``other_person_id`` already held the same number.

    Nobody but the tenant's admins learns of it: the person who typed it sees the same pages as for a fresh number.
    Made by ``tenants.services.flag_duplicates`` (every input path), resolved by an admin.
    """

    __tablename__ = "number_duplicates"
    __table_args__ = (
        tenant_fk("person_id", "people", ondelete="CASCADE"),
        tenant_fk("other_person_id", "people", ondelete="CASCADE"),
        # Open cases oldest first, settled ones newest first: each list is one index range.
        Index("ix_number_duplicates_tenant_id_status_created_at", "tenant_id", "status", "created_at", "id"),
        Index("ix_number_duplicates_tenant_id_resolved_at", "tenant_id", "resolved_at", "id"),
    )

    person_id: Mapped[uuid.UUID] = mapped_column()
    other_person_id: Mapped[uuid.UUID] = mapped_column()
    number_id: Mapped[uuid.UUID] = mapped_column()  # the vault row stored flagged
    other_number_id: Mapped[uuid.UUID] = mapped_column()
    function: Mapped[str] = mapped_column(String(50), default="")  # the path it came in by (じぶんで登録...)
    status: Mapped[DuplicateStatus] = mapped_column(str_enum(DuplicateStatus), default=DuplicateStatus.OPEN)
    resolved_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    resolved_by: Mapped[str] = mapped_column(String(100), default="")
    erased_person_id: Mapped[uuid.UUID | None] = mapped_column(default=None)


class DeletionResult(enum.StrEnum):
    """結果 of one erasure as the deletion record and the certificate show it."""

    ERASED = "削除済"
    FAILED = "失敗"


class DeletionRecord(TenantMixin, Base):
    """削除記録: one number's erasure, kept after the number and the person are gone (seed 000: 削除ログ → 削除証明書).

    Snapshots only (who erased, who approved, why, whom: name, kind, department, 社員コード) and the vault row's id;
    never the number. ``person_id`` has no foreign key on purpose: the record outlives the person.
    """

    __tablename__ = "deletion_records"
    __table_args__ = (
        # The records page (newest first, a date range) and a range certificate: one index range each.
        Index("ix_deletion_records_tenant_id_erased_at", "tenant_id", "erased_at", "id"),
        # One person's certificate.
        Index("ix_deletion_records_tenant_id_person_id", "tenant_id", "person_id", "erased_at"),
    )

    erased_at: Mapped[dt.datetime] = mapped_column()
    person_id: Mapped[uuid.UUID] = mapped_column()
    number_id: Mapped[uuid.UUID | None] = mapped_column(default=None)  # the vault row (its key is destroyed)
    handler_login_id: Mapped[str] = mapped_column(String(100))
    handler_name: Mapped[str] = mapped_column(String(100))
    approver_login_id: Mapped[str] = mapped_column(String(100), default="")
    approver_name: Mapped[str] = mapped_column(String(100), default="")
    reason: Mapped[str] = mapped_column(String(20))  # a key of ERASURE_REASONS or SYSTEM_ERASURE_REASONS
    reason_text: Mapped[str] = mapped_column(String(200), default="")
    subject_name: Mapped[str] = mapped_column(String(250))  # a dependant as "employee > dependant"
    subject_kind: Mapped[PersonKind] = mapped_column(str_enum(PersonKind))
    department_code: Mapped[str] = mapped_column(String(32), default="")
    department_name: Mapped[str] = mapped_column(String(100), default="")
    employee_code: Mapped[str] = mapped_column(String(32), default="")
    result: Mapped[DeletionResult] = mapped_column(str_enum(DeletionResult), default=DeletionResult.ERASED)
    early_request_id: Mapped[uuid.UUID | None] = mapped_column(default=None)


class EarlyDeletionRequest(TenantMixin, Base):
    """予定日前の削除: an admin asked to erase a number before its 削除予定日; a second admin decides (seed 004:
    two people together). Approval erases (by the approver, the requester recorded as handler)."""

    __tablename__ = "early_deletion_requests"
    __table_args__ = (
        tenant_fk("person_id", "people", ondelete="CASCADE"),
        # Pending requests oldest first, decided ones newest first: each list is one index range.
        Index("ix_early_deletion_requests_tenant_id_status_created_at", "tenant_id", "status", "created_at", "id"),
        Index("ix_early_deletion_requests_tenant_id_person_id", "tenant_id", "person_id", "status"),
        Index("ix_early_deletion_requests_tenant_id_decided_at", "tenant_id", "decided_at", "id"),
    )

    person_id: Mapped[uuid.UUID] = mapped_column()
    include_dependants: Mapped[bool] = mapped_column(Boolean, default=False)
    reason: Mapped[str] = mapped_column(String(20))
    reason_text: Mapped[str] = mapped_column(String(200), default="")
    due_on: Mapped[dt.date | None] = mapped_column(Date, default=None)  # the 削除予定日 when asked (None: unset)
    requested_by: Mapped[uuid.UUID] = mapped_column()  # account id
    requested_by_login_id: Mapped[str] = mapped_column(String(100))
    requested_by_name: Mapped[str] = mapped_column(String(100))
    status: Mapped[RequestStatus] = mapped_column(str_enum(RequestStatus), default=RequestStatus.PENDING)
    decided_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    decided_by: Mapped[uuid.UUID | None] = mapped_column(default=None)
    decided_by_name: Mapped[str] = mapped_column(String(100), default="")
    decision_note: Mapped[str] = mapped_column(String(500), default="")


# The operator's acts on a tenant, which the tenant's admin home lists: a partial index of the log holds only those
# entries, so the home never reads the tenant's whole log to find the few there are. The values are rendered in
# the SQL (SQLite uses a partial index only when the query names the same literals).
OPERATOR_ADMIN_FUNCTION = "運営者による管理者の登録"
SEATS_FUNCTION = "管理者ID数の変更"
OPERATOR_ACTS = AuditEntry.function.in_(
    [literal(OPERATOR_ADMIN_FUNCTION, literal_execute=True), literal(SEATS_FUNCTION, literal_execute=True)]
)
Index(
    "ix_audit_entries_operator_acts",
    AuditEntry.tenant_id,
    AuditEntry.seq,
    postgresql_where=OPERATOR_ACTS,
    sqlite_where=OPERATOR_ACTS,
)


__all__ = [
    "CollectionStatus",
    "CorrectionRequest",
    "DeletionRecord",
    "DeletionResult",
    "Department",
    "DuplicateStatus",
    "EarlyDeletionRequest",
    "NumberDuplicate",
    "PayeeLink",
    "PayeeType",
    "PeopleCount",
    "Person",
    "PersonKind",
    "Relationship",
    "RequestStatus",
    "Tenant",
    "TenantKind",
    "TenantStatus",
]


# The hook that keeps placements and counters is registered with the models, so no session writes people without it.
import tenants.account_listing  # noqa: E402
import tenants.listing  # noqa: E402, F401
