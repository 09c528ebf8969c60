"""重複の疑い: the admin sees both people of a number held twice and settles it (same person, or a mistake)."""

from __future__ import annotations

import uuid
from typing import Annotated, Any
from urllib.parse import urlencode

import msgspec
from litestar import Controller, Request, get, post
from litestar.plugins.flash import flash
from litestar.response import Redirect, Template
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.principal import Principal, number_handlers, stepup_guard
from app.forms import Form
from app.pager import PageRequest, page_links
from app.vault import Vault
from tenants import services
from tenants.services._records import RecordError

DUPLICATES_PATH = "/admin/duplicates"


class MistakeForm(msgspec.Struct, kw_only=True):
    wrong: str = ""  # the person whose number is wrong


class DuplicatesController(Controller):
    """/admin/duplicates: open cases with both people, and the two ways to settle one."""

    path = DUPLICATES_PATH
    guards = [number_handlers]
    include_in_schema = False

    @get("/", name="duplicates_list")
    async def duplicate_list(
        self,
        db_session: AsyncSession,
        vault: Vault,
        principal: Principal,
        page: str = "1",
        after: str = "",
        before: str = "",
    ) -> Template:
        found = await services.duplicate_page(db_session, vault, principal, PageRequest.parse(page, after, before))
        return Template(
            template_name="tenants/numbers/duplicates.html",
            context={
                "open": found.rows,
                "total": found.total,
                "pager": page_links(found.window, found.total, lambda params: f"{DUPLICATES_PATH}?{urlencode(params)}"),
                "settled": await services.list_duplicates(db_session, None, principal, settled=True, limit=20),
            },
        )

    @post("/{duplicate_id:str}/same", name="duplicates_same_person")
    async def same_person(
        self,
        request: Request[Any, Any, Any],
        db_session: AsyncSession,
        vault: Vault,
        principal: Principal,
        duplicate_id: str,
    ) -> Redirect:
        case = await services.get_duplicate(db_session, principal, duplicate_id)
        resolution = services.DuplicateResolution(same_person=True)
        try:
            await services.resolve_duplicate(db_session, vault, principal, case, resolution)
        except RecordError as exc:
            flash(request, exc.message, "error")
            return Redirect(path=DUPLICATES_PATH)
        flash(request, "同一人物として確認しました。両方の登録をそのまま残します。", "success")
        return Redirect(path=DUPLICATES_PATH)

    @post("/{duplicate_id:str}/mistake", name="duplicates_mistake", guards=[stepup_guard])
    async def mistake(
        self,
        request: Request[Any, Any, Any],
        db_session: AsyncSession,
        vault: Vault,
        principal: Principal,
        duplicate_id: str,
        data: Annotated[MistakeForm, Form],
    ) -> Redirect:
        case = await services.get_duplicate(db_session, principal, duplicate_id)
        try:
            wrong = uuid.UUID(data.wrong)
        except ValueError:
            wrong = None
        resolution = services.DuplicateResolution(same_person=False, wrong_person_id=wrong)
        try:
            erased = await services.resolve_duplicate(db_session, vault, principal, case, resolution)
        except RecordError as exc:
            flash(request, exc.message, "error")
            return Redirect(path=DUPLICATES_PATH)
        assert erased is not None
        flash(
            request,
            f"{erased.name} さんの番号を削除しました（操作履歴に記録しました）。"
            "正しい番号を本人に登録してもらうか、代理登録してください。",
            "success",
        )
        return Redirect(path=DUPLICATES_PATH)
