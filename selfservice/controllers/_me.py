"""じぶんで登録 over HTTP: the employee's own number and their dependants', on a phone (/me)."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, get, post
from litestar.plugins.flash import flash
from litestar.response import Redirect, Template
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.principal import Principal, employees_only
from app.forms import Form, FormInvalid, scrubbed
from app.vault import Vault
from app.vault.numbers import is_repeated_digit
from selfservice import services
from selfservice.guards import EmployeeOutOfService, employee_in_service, out_of_service_page
from selfservice.schemas import CorrectionForm, DeclineForm, DependantForm, NumberForm
from tenants.models import CollectionStatus, Person, PersonKind
from tenants.purposes import notice_text
from tenants.services import RELATIONSHIPS, own_tenant, today
from tenants.services._records import CORRECTION_REASONS

# Session keys: person ids typed in this session and not yet shown; per person, the one-time confirmation token
# (its hash and the number row) of the page that showed the number in full.
_TO_SHOW = "selfservice_to_show"
_CONFIRMATIONS = "selfservice_confirmations"
ENTER_AGAIN = "番号を確認するには、もう一度番号を入力してください。"


class ConfirmForm(msgspec.Struct):
    confirmation: str = ""


class SelfServiceController(Controller):
    """じぶんで登録: the employee's own number and their dependants', on a phone."""

    path = "/me"
    guards = [employees_only, employee_in_service]  # every write passes the one guard for the employee's state
    exception_handlers = {EmployeeOutOfService: out_of_service_page}
    include_in_schema = False

    @get("/", name="selfservice_home")
    async def home(self, db_session: AsyncSession, principal: Principal, vault: Vault) -> Template | Redirect:
        employee = await services.own_employee(db_session, principal)
        if employee is None:
            return Template(template_name="selfservice/home.html", context={"employee": None})
        if services.notice_pending(employee):
            return Redirect(path="/me/notice")
        cards = await services.person_cards(db_session, vault, principal, employee)
        return Template(
            template_name="selfservice/home.html",
            context={
                "employee": employee,
                "cards": cards,
                "retired": services.is_retired(employee, today()),
                # 本人確認オプション: the link to /me/verification (verification/)
                "verification": (await own_tenant(db_session, principal)).verification_enabled,
            },
        )

    @get("/notice", name="selfservice_notice")
    async def notice_page(self, db_session: AsyncSession, principal: Principal) -> Template | Redirect:
        employee = await services.own_employee(db_session, principal)
        if employee is None:
            return Redirect(path="/me")
        tenant = await own_tenant(db_session, principal)
        return Template(
            template_name="selfservice/notice.html",
            context={"employee": employee, "notice": notice_text(tenant), "jst": services.JST},
        )

    @post("/notice", name="selfservice_notice_acknowledge")
    async def notice_acknowledge(self, db_session: AsyncSession, principal: Principal) -> Redirect:
        employee = await services.own_employee(db_session, principal)
        if employee is not None:
            await services.acknowledge_notice(db_session, principal, employee)
        return Redirect(path="/me")

    @get("/number", name="selfservice_number")
    async def number_page(self, db_session: AsyncSession, principal: Principal) -> Template | Redirect:
        employee, blocked = await _ready(db_session, principal)
        if blocked is not None:
            return blocked
        assert employee is not None
        if employee.status is CollectionStatus.ADMIN_CONFIRMED:
            return Redirect(path=f"/me/people/{employee.id}/correction")
        return _number_form(employee, {})

    @post("/number", name="selfservice_number_submit")
    async def number_submit(
        self,
        request: Request[Any, Any, Any],
        db_session: AsyncSession,
        principal: Principal,
        vault: Vault,
        data: Annotated[NumberForm, Form],
    ) -> Template | Redirect:
        employee, blocked = await _ready(db_session, principal)
        if blocked is not None:
            return blocked
        assert employee is not None
        try:
            await services.register(db_session, vault, principal, employee, data.number)
        except FormInvalid as exc:
            return _number_form(employee, exc.errors, status_code=400)
        return _to_confirmation(request, employee)

    @get("/dependants/new", name="selfservice_dependant_new")
    async def dependant_new(self, db_session: AsyncSession, principal: Principal) -> Template | Redirect:
        _, blocked = await _ready(db_session, principal)
        return blocked or _dependant_form(None, DependantForm(), {})

    @post("/dependants/new", name="selfservice_dependant_create")
    async def dependant_create(
        self,
        request: Request[Any, Any, Any],
        db_session: AsyncSession,
        principal: Principal,
        vault: Vault,
        data: Annotated[DependantForm, Form],
    ) -> Template | Redirect:
        employee, blocked = await _ready(db_session, principal)
        if blocked is not None:
            return blocked
        assert employee is not None
        try:
            dependant = await services.add_dependant(db_session, vault, principal, employee, data)
        except FormInvalid as exc:
            return _dependant_form(None, scrubbed(data), exc.errors, status_code=400)
        if dependant.status.has_number:
            return _to_confirmation(request, dependant)
        flash(request, f"{dependant.name} さんを追加しました。番号は後から登録できます。", "success")
        return Redirect(path="/me")

    @get("/dependants/{person_id:str}/edit", name="selfservice_dependant_edit")
    async def dependant_edit(
        self, db_session: AsyncSession, principal: Principal, person_id: str
    ) -> Template | Redirect:
        _, dependant, blocked = await _ready_for(db_session, principal, person_id, dependant=True)
        if blocked is not None:
            return blocked
        if dependant.status is CollectionStatus.ADMIN_CONFIRMED:
            return Redirect(path=f"/me/people/{dependant.id}/correction")
        return _dependant_form(dependant, _form_of(dependant), {})

    @post("/dependants/{person_id:str}/edit", name="selfservice_dependant_update")
    async def dependant_update(
        self,
        request: Request[Any, Any, Any],
        db_session: AsyncSession,
        principal: Principal,
        vault: Vault,
        person_id: str,
        data: Annotated[DependantForm, Form],
    ) -> Template | Redirect:
        _, dependant, blocked = await _ready_for(db_session, principal, person_id, dependant=True)
        if blocked is not None:
            return blocked
        try:
            renumbered = await services.update_dependant(db_session, vault, principal, dependant, data)
        except FormInvalid as exc:
            return _dependant_form(dependant, scrubbed(data), exc.errors, status_code=400)
        if renumbered:
            return _to_confirmation(request, dependant)
        flash(request, f"{dependant.name} さんの情報を保存しました。", "success")
        return Redirect(path="/me")

    @get("/people/{person_id:str}/confirm", name="selfservice_confirm", opt={"no_compression": True})
    async def confirm_page(
        self,
        request: Request[Any, Any, Any],
        db_session: AsyncSession,
        principal: Principal,
        vault: Vault,
        person_id: str,
    ) -> Template | Redirect:
        _, person, blocked = await _ready_for(db_session, principal, person_id)
        if blocked is not None:
            return blocked
        key = str(person.id)
        if person.status is not CollectionStatus.REGISTERED:
            return Redirect(path="/me")
        _drop_confirmation(request, key)  # a reload or a return: the page that showed the number is gone
        if key not in _ids(request, _TO_SHOW):
            flash(request, ENTER_AGAIN, "warning")
            return Redirect(path=services.entry_path(person))
        number, token = await services.show_for_confirmation(db_session, vault, principal, person)
        _forget(request, _TO_SHOW, key)
        request.session[_CONFIRMATIONS] = {**_confirmations(request), key: token.kept}
        return Template(
            template_name="selfservice/confirm.html",
            context={
                "person": person,
                "number": number,
                "confirmation": token.token,
                "repeated": is_repeated_digit(number),
                "retry": services.entry_path(person),
            },
        )

    @post("/people/{person_id:str}/confirm", name="selfservice_confirm_submit")
    async def confirm_submit(
        self,
        request: Request[Any, Any, Any],
        db_session: AsyncSession,
        principal: Principal,
        vault: Vault,
        person_id: str,
        data: Annotated[ConfirmForm, Form],
    ) -> Redirect:
        _, person, blocked = await _ready_for(db_session, principal, person_id)
        if blocked is not None:
            return blocked
        kept = _drop_confirmation(request, str(person.id))  # single use, whatever happens next
        try:
            await services.confirm(db_session, vault, principal, person, kept, data.confirmation)
        except services.NotShown:
            flash(request, ENTER_AGAIN, "warning")
            return Redirect(path=services.entry_path(person))
        except FormInvalid as exc:
            flash(request, exc.message, "error")
            return Redirect(path="/me")
        flash(request, f"{person.name} さんの番号を確定しました（本人番号確認）。", "success")
        return Redirect(path="/me")

    @get("/people/{person_id:str}/correction", name="selfservice_correction")
    async def correction_page(
        self, db_session: AsyncSession, principal: Principal, person_id: str
    ) -> Template | Redirect:
        _, person, blocked = await _ready_for(db_session, principal, person_id)
        if blocked is not None:
            return blocked
        if person.status is not CollectionStatus.ADMIN_CONFIRMED:
            return Redirect(path=services.entry_path(person))
        pending = await services.pending_correction(db_session, person)
        return _correction_form(person, CorrectionForm(), {}, pending=pending is not None)

    @post("/people/{person_id:str}/correction", name="selfservice_correction_submit")
    async def correction_submit(
        self,
        request: Request[Any, Any, Any],
        db_session: AsyncSession,
        principal: Principal,
        person_id: str,
        data: Annotated[CorrectionForm, Form],
    ) -> Template | Redirect:
        _, person, blocked = await _ready_for(db_session, principal, person_id)
        if blocked is not None:
            return blocked
        try:
            await services.request_correction(db_session, principal, person, data)
        except FormInvalid as exc:
            return _correction_form(person, scrubbed(data), exc.errors, pending=False, status_code=400)
        flash(request, "修正を依頼しました。担当者が承認すると、番号を登録し直せるようになります。", "success")
        return Redirect(path="/me")

    @get("/people/{person_id:str}/decline", name="selfservice_decline")
    async def decline_page(self, db_session: AsyncSession, principal: Principal, person_id: str) -> Template | Redirect:
        _, person, blocked = await _ready_for(db_session, principal, person_id)
        if blocked is not None:
            return blocked
        return _decline_form(person, DeclineForm(), {})

    @post("/people/{person_id:str}/decline", name="selfservice_decline_submit")
    async def decline_submit(
        self,
        request: Request[Any, Any, Any],
        db_session: AsyncSession,
        principal: Principal,
        person_id: str,
        data: Annotated[DeclineForm, Form],
    ) -> Template | Redirect:
        _, person, blocked = await _ready_for(db_session, principal, person_id)
        if blocked is not None:
            return blocked
        try:
            await services.decline(db_session, principal, person, data)
        except FormInvalid as exc:
            return _decline_form(person, scrubbed(data), exc.errors, status_code=400)
        flash(request, f"{person.name} さんの番号は「提供しない」と届け出ました。", "success")
        return Redirect(path="/me")

    @post("/people/{person_id:str}/withdraw", name="selfservice_decline_withdraw")
    async def decline_withdraw(
        self, request: Request[Any, Any, Any], db_session: AsyncSession, principal: Principal, person_id: str
    ) -> Redirect:
        _, person, blocked = await _ready_for(db_session, principal, person_id)
        if blocked is not None:
            return blocked
        await services.withdraw_decline(db_session, principal, person)
        flash(request, "「提供しない」を取り下げました。番号を登録してください。", "success")
        return Redirect(path=services.entry_path(person))


async def _ready(db_session: AsyncSession, principal: Principal) -> tuple[Person | None, Redirect | None]:
    """The employee, and where to go first if anywhere (see ``_first_stop``)."""
    employee = await services.own_employee(db_session, principal)
    return employee, _first_stop(employee)


def _first_stop(employee: Person | None) -> Redirect | None:
    """Home when the account is not linked to an employee or is out of service, the purpose notice until it is
    acknowledged."""
    if employee is None or services.is_retired(employee, today()):
        return Redirect(path="/me")
    if services.notice_pending(employee):
        return Redirect(path="/me/notice")
    return None


async def _ready_for(
    db_session: AsyncSession, principal: Principal, person_id: str, *, dependant: bool = False
) -> tuple[Person | None, Person, Redirect | None]:
    """The employee's own person or dependant (anyone else: 404, checked before anything else)."""
    employee = await services.own_employee(db_session, principal)
    person = await services.own_person(db_session, principal, employee, person_id)
    if dependant and person.kind is not PersonKind.DEPENDANT:
        return employee, person, Redirect(path="/me/number")
    return employee, person, _first_stop(employee)


def _to_confirmation(request: Request[Any, Any, Any], person: Person) -> Redirect:
    _remember(request, _TO_SHOW, str(person.id))
    _drop_confirmation(request, str(person.id))
    return Redirect(path=f"/me/people/{person.id}/confirm")


def _confirmations(request: Request[Any, Any, Any]) -> dict[str, dict[str, str]]:
    kept = request.session.get(_CONFIRMATIONS)
    return dict(kept) if isinstance(kept, dict) else {}


def _drop_confirmation(request: Request[Any, Any, Any], person_id: str) -> dict[str, str] | None:
    """Forget (and return) the person's confirmation token: it is spent or its page is gone."""
    kept = _confirmations(request)
    token = kept.pop(person_id, None)
    if token is not None:
        request.session[_CONFIRMATIONS] = kept
    return token if isinstance(token, dict) else None


def _ids(request: Request[Any, Any, Any], key: str) -> set[str]:
    return set(request.session.get(key) or [])


def _remember(request: Request[Any, Any, Any], key: str, person_id: str) -> None:
    request.session[key] = sorted(_ids(request, key) | {person_id})


def _forget(request: Request[Any, Any, Any], key: str, person_id: str) -> None:
    request.session[key] = sorted(_ids(request, key) - {person_id})


def _number_form(employee: Person, errors: dict[str, str], status_code: int = 200) -> Template:
    return Template(
        template_name="selfservice/number.html",
        context={"person": employee, "errors": errors},
        status_code=status_code,
    )


def _form_of(dependant: Person) -> DependantForm:
    return DependantForm(
        name=dependant.name,
        kana=dependant.kana,
        relationship=dependant.relationship.value if dependant.relationship else "",
        birth_date=dependant.birth_date.isoformat() if dependant.birth_date else "",
    )


def _dependant_form(
    dependant: Person | None, form: DependantForm, errors: dict[str, str], status_code: int = 200
) -> Template:
    return Template(
        template_name="selfservice/dependant.html",
        context={
            "dependant": dependant,
            "form": form,
            "errors": errors,
            "relationships": list(RELATIONSHIPS.items()),
            "today": today().isoformat(),
        },
        status_code=status_code,
    )


def _correction_form(
    person: Person, form: CorrectionForm, errors: dict[str, str], *, pending: bool, status_code: int = 200
) -> Template:
    return Template(
        template_name="selfservice/correction.html",
        context={
            "person": person,
            "form": form,
            "errors": errors,
            "pending": pending,
            "reasons": list(CORRECTION_REASONS.items()),
        },
        status_code=status_code,
    )


def _decline_form(person: Person, form: DeclineForm, errors: dict[str, str], status_code: int = 200) -> Template:
    return Template(
        template_name="selfservice/decline.html",
        context={"person": person, "form": form, "errors": errors},
        status_code=status_code,
    )
