"""届出書の印刷: 雇用保険被保険者個人番号登録・変更届 for chosen employees (issue 15, seed 004).

Seed 004 keeps numbers in a locker that opens only to print filings (「届出書類の印字以外にはアクセス不可」). Here
the number is opened through the vault for the chosen employees only, while the PDF is laid out in memory; the
PDF goes to the user and is never stored; one 印刷 entry per person (with the purpose) is written in the same
transaction, before the response starts (``app.db.commit_before_response``).

Nothing is printed when one chosen employee cannot be: a filing left out silently is a filing missed, so the
page lists who lacks what (番号, 被保険者番号, 性別, 生年月日, 退職) and the admin fixes it or unticks them.

変更前個人番号: the vault keeps only the live number (a corrected number is erased with its key, crypto-shredding),
so a 変更 filing prints that box blank, to be written by hand from the old number's document.
"""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from litestar.exceptions import NotFoundException
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.events import AuditAction
from app.auth.principal import Principal
from app.auth.scoping import scoped
from app.forms import FormInvalid
from app.paging import Window
from app.tenancy import Tenant
from app.text import today_in_japan
from app.vault import NumberField, NumberInfo, Vault
from app.workers import DOCUMENTS, run_in_worker
from tenants.filing_forms import EmploymentInsuranceFiling, FilingOffice, render_employment_insurance_filings
from tenants.models import Person, PersonKind
from tenants.purposes import Audience, notified_purposes
from tenants.services._employees import EmployeeFilter, EmployeeRow, search_employees
from tenants.services._organisations import own_tenant
from tenants.services._reveal import MAX_REVEAL_BATCH, reveal_numbers

FILING_FUNCTION = "雇用保険被保険者個人番号登録・変更届の印刷"
FILING_TITLE = "雇用保険被保険者個人番号登録・変更届"
DEFAULT_FILING_PURPOSE = "雇用保険届出事務"


class FilingKind(enum.StrEnum):
    """届出区分 as the form codes it: 1 新規 (登録), 2 変更."""

    NEW = "1"
    CHANGE = "2"

    @property
    def label(self) -> str:
        return {"1": "新規", "2": "変更"}[self.value]


FILING_KINDS = [(kind.value, kind.label) for kind in FilingKind]


@dataclass(frozen=True, slots=True)
class FilingRow:
    """An employee of the list with the masked number and what would keep their filing from printing."""

    employee: EmployeeRow
    number: NumberInfo | None
    problems: list[str]

    @property
    def printable(self) -> bool:
        return not self.problems


@dataclass(frozen=True, slots=True)
class FilingPrint:
    """The filings laid out: the PDF (to stream, never to keep), its name, and how many pages (people)."""

    pdf: bytes
    filename: str
    people: int


def filing_problems(person: Person, has_number: bool, today: dt.date) -> list[str]:
    """What keeps an employee's filing from printing, in Japanese (empty when it can print)."""
    problems = []
    if person.retired_on(today):
        problems.append("退職済み")
    if not has_number:
        problems.append("個人番号が未登録")
    if not person.employment_insurance_number:
        problems.append("被保険者番号が未設定")
    if person.gender not in ("male", "female"):
        problems.append("性別が未設定")
    if person.birth_date is None:
        problems.append("生年月日が未設定")
    return problems


async def filing_rows(
    session: AsyncSession, vault: Vault, principal: Principal, filters: EmployeeFilter
) -> Window[FilingRow]:
    """A page of the employee list (``search_employees``: its filters and keyset paging) with each row's masked
    My Number and the problems that would keep its filing from printing (no number is opened)."""
    window: Window[Any] = await search_employees(session, principal, filters)
    ids = [row.person.id for row in window.rows]
    numbers = await vault.number_info(session, principal.tenant_id, ids, NumberField.MY_NUMBER)
    today = today_in_japan()
    rows = [
        FilingRow(row, numbers.get(row.person.id), filing_problems(row.person, row.person.id in numbers, today))
        for row in window.rows
    ]
    return replace(window, rows=rows)


async def filing_purposes(session: AsyncSession, principal: Principal) -> list[str]:
    """The purposes a filing may name: those the tenant notified to employees (雇用保険届出事務 first when there)."""
    purposes = notified_purposes(await own_tenant(session, principal), Audience.EMPLOYEE)
    return sorted(purposes, key=lambda p: p != DEFAULT_FILING_PURPOSE)


def office_problems(tenant: Tenant) -> list[str]:
    """What the tenant still has to enter before any filing prints (the 事業所番号 box of the form)."""
    return [] if tenant.employment_insurance_office_number else ["雇用保険の適用事業所番号が未設定です（設定画面）"]


def parse_person_ids(values: Sequence[str]) -> list[uuid.UUID]:
    """The ticked employees' ids; FormInvalid (``person``) for none, too many, or a value that is not an id."""
    ids: list[uuid.UUID] = []
    for value in values:
        try:
            ids.append(uuid.UUID(value.strip()))
        except ValueError:
            raise FormInvalid({"person": "対象者の指定が正しくありません。一覧から選び直してください。"}) from None
    ids = list(dict.fromkeys(ids))
    if not ids:
        raise FormInvalid({"person": "印刷する従業員を一覧で選択してください。"})
    if len(ids) > MAX_REVEAL_BATCH:
        raise FormInvalid({"person": f"一度に印刷できるのは{MAX_REVEAL_BATCH}人までです。分けて印刷してください。"})
    return ids


async def print_employment_insurance_filings(
    session: AsyncSession,
    vault: Vault,
    principal: Principal,
    person_ids: Sequence[uuid.UUID],
    kind: str,
    purpose: str,
) -> FilingPrint:
    """Lay out one A4 page per chosen employee, numbers opened for this purpose only, one 印刷 entry each.

    FormInvalid (Japanese, by field: ``kind``, ``purpose``, ``person``, ``office``) for a bad choice or when a
    chosen employee cannot be printed (nothing is opened then); NotFoundException when an id is not one of the
    tenant's employees (another tenant's id looks exactly like a missing one). The entries are written in the
    caller's transaction: the caller must send the PDF only once it commits.
    """
    if kind not in FilingKind.__members__.values():
        raise FormInvalid({"kind": "届出区分を「新規」「変更」から選択してください。"})
    if purpose not in await filing_purposes(session, principal):
        raise FormInvalid({"purpose": "利用目的を一覧から選択してください（従業員に通知した利用目的）。"})
    people = await _chosen_employees(session, principal, person_ids)
    tenant = await own_tenant(session, principal)
    _check_printable(tenant, people, await vault.number_info(session, principal.tenant_id, list(person_ids)))
    opened = await reveal_numbers(
        session, vault, principal, person_ids, purpose, function=FILING_FUNCTION, action=AuditAction.PRINT
    )
    if opened.without_number:  # erased since the check: nothing goes out, the entries roll back with the 400
        raise FormInvalid({"person": "個人番号が削除された従業員がいます。一覧を開き直してください。"})
    numbers = {revealed.person_id: revealed.number for revealed in opened.numbers}
    filed_on = today_in_japan()
    filings = [_filing(people[person_id], FilingKind(kind), numbers[person_id]) for person_id in person_ids]
    office = FilingOffice(
        number=tenant.employment_insurance_office_number,
        name=tenant.name,
        address=tenant.address,
        representative=tenant.representative,
        phone=tenant.phone,
    )
    pdf = await run_in_worker(
        DOCUMENTS, render_employment_insurance_filings, filings, office, filed_on, releasing=session
    )
    stamp = filed_on.strftime("%Y%m%d")
    return FilingPrint(pdf=pdf, filename=f"雇用保険被保険者個人番号登録・変更届_{stamp}.pdf", people=len(filings))


async def _chosen_employees(
    session: AsyncSession, principal: Principal, person_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, Person]:
    found = await session.execute(
        scoped(Person, principal).where(Person.kind == PersonKind.EMPLOYEE, Person.id.in_(list(person_ids)))
    )
    people = {person.id: person for person in found.scalars()}
    if any(person_id not in people for person_id in person_ids):
        raise NotFoundException()
    return people


def _check_printable(tenant: Tenant, people: dict[uuid.UUID, Person], numbers: dict[uuid.UUID, NumberInfo]) -> None:
    today = today_in_japan()
    lines = [
        f"{person.name}（{'、'.join(problems)}）"
        for person in people.values()
        if (problems := filing_problems(person, person.id in numbers, today))
    ]
    errors = {}
    if lines:
        errors["person"] = "次の従業員は届出書を印刷できません。情報を登録するか、選択を外してください: " + "／".join(
            lines
        )
    if office := office_problems(tenant):
        errors["office"] = office[0]
    if errors:
        raise FormInvalid(errors)


def _filing(person: Person, kind: FilingKind, number: str) -> EmploymentInsuranceFiling:
    assert person.birth_date is not None and person.employment_insurance_number is not None
    return EmploymentInsuranceFiling(
        kind=kind.value,
        my_number=number,
        previous_my_number="",  # the vault keeps no previous number (see the module's docstring)
        insured_number=person.employment_insurance_number,
        kana=person.kana,
        name=person.name,
        gender="1" if person.gender == "male" else "2",
        birth_date=person.birth_date,
    )
