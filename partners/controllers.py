"""Partner pages: the operator's offices, the office's home, staff, client links and log, and the client's side."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Annotated, Any
from urllib.parse import urlencode

from litestar import Controller, Request, get, post
from litestar.plugins.flash import flash
from litestar.response import Redirect, Template
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.passwords import PasswordHasher
from app.auth.principal import (
    ACTING_CLIENT_KEY,
    Principal,
    admin_only,
    partner_admin_only,
    partner_members,
    stepup_guard,
)
from app.forms import Form, FormInvalid
from app.pager import PageLink, PageRequest, page_links
from app.text import format_date, today_in_japan
from partners import services
from partners.box_controllers import PersonBoxController
from partners.document_controllers import DOCUMENT_ROUTES
from partners.exchange_controllers import EXCHANGE_ROUTES
from partners.models import LinkStatus
from partners.notice_controllers import NOTICE_ROUTES
from partners.operator_controllers import OperatorPartnersController
from partners.schemas import (
    AcceptRequestForm,
    InviteOfficeForm,
    OfficeStaffEditForm,
    OfficeStaffForm,
    RequestClientForm,
)

STAFF_PATH = "/partner/staff"


class PartnerHomeController(Controller):
    """/partner: the office's home (its active clients), links, entering a client, the staff's log."""

    path = "/partner"
    guards = [partner_members]
    include_in_schema = False

    @get("/", name="partner_home")
    async def home(
        self,
        db_session: AsyncSession,
        principal: Principal,
        q: str = "",
        page: str = "1",
        after: str = "",
        before: str = "",
    ) -> Template:
        listing = ClientListing.parse(q, "", page, after, before)
        found = await services.office_client_page(
            db_session, principal, listing.request, query=listing.query, statuses=(LinkStatus.ACTIVE,)
        )
        pending = await services.pending_notice_count(db_session, principal)
        # Notices live NOTICE_KEEP_DAYS: from that far back the list holds every one still 未.
        since = format_date(today_in_japan() - dt.timedelta(days=services.NOTICE_KEEP_DAYS))
        context = {
            "rows": found.rows,
            "pager": listing.pager(found, "/partner"),
            "q": listing.query,
            "pending_notices": pending,
            "pending_since": since,
        }
        return Template(template_name="partners/home.html", context=context)

    @get("/clients", name="partner_clients")
    async def clients(
        self,
        db_session: AsyncSession,
        principal: Principal,
        q: str = "",
        status: str = "",
        page: str = "1",
        after: str = "",
        before: str = "",
    ) -> Template:
        listing = ClientListing.parse(q, status, page, after, before)
        return await _clients_page(db_session, principal, RequestClientForm(), {}, listing)

    @post("/clients", name="partner_client_request", guards=[partner_admin_only])
    async def request_client(
        self,
        request: Request[Any, Any, Any],
        db_session: AsyncSession,
        principal: Principal,
        data: Annotated[RequestClientForm, Form],
    ) -> Template | Redirect:
        try:
            await services.request_client(db_session, principal, data)
        except FormInvalid as exc:
            return await _clients_page(db_session, principal, data, exc.errors, ClientListing(), status_code=400)
        flash(request, "顧問先に連携を申請しました。顧問先の管理者が承認すると有効になります。", "success")
        return Redirect(path="/partner/clients")

    @post("/clients/{client_id:str}/accept", name="partner_client_accept", guards=[partner_admin_only])
    async def accept(
        self, request: Request[Any, Any, Any], db_session: AsyncSession, principal: Principal, client_id: str
    ) -> Redirect:
        link = await services.get_office_link(db_session, principal, client_id)
        try:
            await services.accept_invitation(db_session, principal, link)
        except FormInvalid as exc:
            flash(request, exc.message, "error")
        else:
            flash(request, "顧問先からの招待を承認しました。", "success")
        return Redirect(path="/partner/clients")

    @post("/clients/{client_id:str}/end", name="partner_client_end", guards=[partner_admin_only])
    async def end(
        self, request: Request[Any, Any, Any], db_session: AsyncSession, principal: Principal, client_id: str
    ) -> Redirect:
        link = await services.get_office_link(db_session, principal, client_id)
        try:
            await services.end_link_by_office(db_session, principal, link)
        except FormInvalid as exc:
            flash(request, exc.message, "error")
        else:
            flash(request, "顧問先との連携を終了しました。", "success")
        return Redirect(path="/partner/clients")

    @post("/clients/{client_id:str}/enter", name="partner_client_enter")
    async def enter(
        self, request: Request[Any, Any, Any], db_session: AsyncSession, principal: Principal, client_id: str
    ) -> Redirect:
        link = await services.enter_client(db_session, principal, client_id)
        session_data = dict(request.session)
        session_data[ACTING_CLIENT_KEY] = str(link.tenant_id)
        request.set_session(session_data)
        return Redirect(path="/admin")

    @post("/leave", name="partner_leave")
    async def leave(self, request: Request[Any, Any, Any]) -> Redirect:
        session_data = dict(request.session)
        session_data.pop(ACTING_CLIENT_KEY, None)
        request.set_session(session_data)
        return Redirect(path="/partner")

    @get("/log", name="partner_log")
    async def log(self, db_session: AsyncSession, principal: Principal, after: str = "") -> Template:
        page = await services.office_log(db_session, principal, after=services.LogCursor.parse(after))
        return Template(template_name="partners/log.html", context={"page": page})


@dataclass(frozen=True, slots=True)
class ClientListing:
    """An office's client list as asked: a part of the name or the start of the code, a link state, the page."""

    query: str = ""
    status: str = ""
    request: PageRequest = field(default_factory=PageRequest)

    @classmethod
    def parse(cls, q: str, status: str, page: str, after: str, before: str) -> ClientListing:
        chosen = status if status in services.STATUS_FILTERS else ""
        return cls(q.strip()[:100], chosen, PageRequest.parse(page, after, before))

    @property
    def statuses(self) -> tuple[LinkStatus, ...]:
        return (LinkStatus(self.status),) if self.status else tuple(LinkStatus)

    def pager(self, found: services.ClientPage, base: str) -> list[PageLink]:
        """前へ/次へ only (no count is read), keeping the search."""
        kept = {key: value for key, value in (("q", self.query), ("status", self.status)) if value}
        return page_links(found.window, None, lambda params: f"{base}?{urlencode({**kept, **params})}", numbers=False)


async def _clients_page(
    db_session: AsyncSession,
    principal: Principal,
    form: RequestClientForm,
    errors: dict[str, str],
    listing: ClientListing,
    status_code: int = 200,
) -> Template:
    found = await services.office_client_page(
        db_session, principal, listing.request, query=listing.query, statuses=listing.statuses
    )
    return Template(
        template_name="partners/clients.html",
        context={
            "rows": found.rows,
            "pager": listing.pager(found, "/partner/clients"),
            "q": listing.query,
            "status": listing.status,
            "statuses": services.STATUS_FILTERS,
            "form": form,
            "errors": errors,
            "powers": services.POWER_CHOICES,
        },
        status_code=status_code,
    )


class PartnerStaffController(Controller):
    """/partner/staff: the office admin's staff accounts (ID, 名前, 有効状態, 最終ログイン日時, 変更, 削除)."""

    path = STAFF_PATH
    guards = [partner_admin_only]
    include_in_schema = False

    @get("/", name="partner_staff")
    async def staff_list(self, db_session: AsyncSession, principal: Principal) -> Template:
        return await _staff_page(db_session, principal, OfficeStaffForm(), {})

    @post("/", name="partner_staff_create")
    async def staff_create(
        self,
        db_session: AsyncSession,
        hasher: PasswordHasher,
        principal: Principal,
        data: Annotated[OfficeStaffForm, Form],
    ) -> Template:
        try:
            account, password = await services.add_office_staff(db_session, hasher, principal, data)
        except FormInvalid as exc:
            return await _staff_page(db_session, principal, data, exc.errors, status_code=400)
        return _one_time(principal, account, password)

    @get("/{account_id:str}/edit", name="partner_staff_edit")
    async def staff_edit(self, db_session: AsyncSession, principal: Principal, account_id: str) -> Template:
        account = await services.get_office_staff(db_session, principal, account_id)
        form = OfficeStaffEditForm(
            name=account.name,
            email=account.email,
            role=account.role.value,
            confidential_access="on" if account.confidential_access else "",
        )
        return _edit_page(account, form, {})

    @post("/{account_id:str}/edit", name="partner_staff_update")
    async def staff_update(
        self,
        request: Request[Any, Any, Any],
        db_session: AsyncSession,
        principal: Principal,
        account_id: str,
        data: Annotated[OfficeStaffEditForm, Form],
    ) -> Template | Redirect:
        account = await services.get_office_staff(db_session, principal, account_id)
        try:
            await services.update_office_staff(db_session, principal, account, data)
        except FormInvalid as exc:
            return _edit_page(account, data, exc.errors, status_code=400)
        flash(request, f"{account.name} さんのアカウントを変更しました。", "success")
        return Redirect(path=STAFF_PATH)

    @post("/{account_id:str}/disable", name="partner_staff_disable")
    async def staff_disable(
        self, request: Request[Any, Any, Any], db_session: AsyncSession, principal: Principal, account_id: str
    ) -> Redirect:
        return await _set_enabled(request, db_session, principal, account_id, enabled=False)

    @post("/{account_id:str}/enable", name="partner_staff_enable")
    async def staff_enable(
        self, request: Request[Any, Any, Any], db_session: AsyncSession, principal: Principal, account_id: str
    ) -> Redirect:
        return await _set_enabled(request, db_session, principal, account_id, enabled=True)

    @post("/{account_id:str}/delete", name="partner_staff_delete")
    async def staff_delete(
        self, request: Request[Any, Any, Any], db_session: AsyncSession, principal: Principal, account_id: str
    ) -> Redirect:
        account = await services.get_office_staff(db_session, principal, account_id)
        name = account.name
        try:
            await services.delete_office_staff(db_session, principal, account)
        except FormInvalid as exc:
            flash(request, exc.message, "error")
        else:
            flash(request, f"{name} さんのアカウントを削除しました。", "success")
        return Redirect(path=STAFF_PATH)

    @post("/{account_id:str}/reset-password", name="partner_staff_reset_password", guards=[stepup_guard])
    async def staff_reset_password(
        self, db_session: AsyncSession, hasher: PasswordHasher, principal: Principal, account_id: str
    ) -> Template:
        account = await services.get_office_staff(db_session, principal, account_id)
        password = await services.reset_office_staff_password(db_session, hasher, principal, account)
        return _one_time(principal, account, password)


async def _set_enabled(
    request: Request[Any, Any, Any], db_session: AsyncSession, principal: Principal, account_id: str, *, enabled: bool
) -> Redirect:
    account = await services.get_office_staff(db_session, principal, account_id)
    try:
        await services.set_office_staff_enabled(db_session, principal, account, enabled)
    except FormInvalid as exc:
        flash(request, exc.message, "error")
    else:
        flash(request, f"{account.name} さんのアカウントを{'有効' if enabled else '無効'}にしました。", "success")
    return Redirect(path=STAFF_PATH)


def _one_time(principal: Principal, account: Any, password: str) -> Template:
    office = {"code": principal.tenant_code, "name": principal.tenant_name}
    return Template(
        template_name="tenants/one_time_password.html",
        context={"tenant": office, "account": account, "password": password, "back": STAFF_PATH},
    )


async def _staff_page(
    db_session: AsyncSession,
    principal: Principal,
    form: OfficeStaffForm,
    errors: dict[str, str],
    status_code: int = 200,
) -> Template:
    used, allowed = await services.office_seats(db_session, principal)
    return Template(
        template_name="partners/staff.html",
        context={
            "accounts": await services.list_office_staff(db_session, principal),
            "seats_used": used,
            "seats_allowed": allowed,
            "roles": services.OFFICE_ROLES,
            "form": form,
            "errors": errors,
        },
        status_code=status_code,
    )


def _edit_page(account: Any, form: OfficeStaffEditForm, errors: dict[str, str], status_code: int = 200) -> Template:
    return Template(
        template_name="partners/staff_edit.html",
        context={"account": account, "form": form, "errors": errors, "roles": services.OFFICE_ROLES},
        status_code=status_code,
    )


class ClientPartnersController(Controller):
    """/admin/partners: the client admin's links with offices (invite, consent, end)."""

    path = "/admin/partners"
    guards = [admin_only]
    include_in_schema = False

    @get("/", name="client_partners")
    async def links(self, db_session: AsyncSession, principal: Principal) -> Template:
        return await _client_page(db_session, principal, InviteOfficeForm(), {})

    @post("/", name="client_partner_invite")
    async def invite(
        self,
        request: Request[Any, Any, Any],
        db_session: AsyncSession,
        principal: Principal,
        data: Annotated[InviteOfficeForm, Form],
    ) -> Template | Redirect:
        try:
            await services.invite_office(db_session, principal, data)
        except FormInvalid as exc:
            return await _client_page(db_session, principal, data, exc.errors, status_code=400)
        flash(request, "社労士事務所を招待しました。事務所が承認すると連携が有効になります。", "success")
        return Redirect(path="/admin/partners")

    @post("/{link_id:str}/accept", name="client_partner_accept")
    async def accept(
        self,
        request: Request[Any, Any, Any],
        db_session: AsyncSession,
        principal: Principal,
        link_id: str,
        data: Annotated[AcceptRequestForm, Form],
    ) -> Redirect:
        link = await services.get_client_link(db_session, principal, link_id)
        try:
            await services.accept_request(db_session, principal, link, data)
        except FormInvalid as exc:
            flash(request, exc.message, "error")
        else:
            flash(request, "社労士事務所との連携を承認しました。", "success")
        return Redirect(path="/admin/partners")

    @post("/{link_id:str}/end", name="client_partner_end")
    async def end(
        self, request: Request[Any, Any, Any], db_session: AsyncSession, principal: Principal, link_id: str
    ) -> Redirect:
        link = await services.get_client_link(db_session, principal, link_id)
        try:
            await services.end_link_by_client(db_session, principal, link)
        except FormInvalid as exc:
            flash(request, exc.message, "error")
        else:
            flash(
                request,
                "社労士事務所との連携を終了しました。事務所の職員はこの事業者の情報を見られなくなりました。",
                "success",
            )
        return Redirect(path="/admin/partners")


async def _client_page(
    db_session: AsyncSession,
    principal: Principal,
    form: InviteOfficeForm,
    errors: dict[str, str],
    status_code: int = 200,
) -> Template:
    return Template(
        template_name="partners/client_links.html",
        context={
            "rows": await services.client_links(db_session, principal),
            "form": form,
            "errors": errors,
            "powers": services.POWER_CHOICES,
        },
        status_code=status_code,
    )


ROUTES: list[Any] = [
    OperatorPartnersController,
    PersonBoxController,
    PartnerHomeController,
    PartnerStaffController,
    ClientPartnersController,
    *EXCHANGE_ROUTES,
    *NOTICE_ROUTES,
    *DOCUMENT_ROUTES,
]
