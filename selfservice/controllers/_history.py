"""番号の取扱い履歴 over HTTP: who handled the employee's and their dependants' numbers, on a phone (/me/history)."""

from __future__ import annotations

from urllib.parse import urlencode

from litestar import Controller, get
from litestar.response import Redirect, Template
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.principal import Principal, employees_only
from app.http import PageNumber
from app.pager import PageRequest, page_links
from selfservice import services


class NumberHistoryController(Controller):
    """The employee's own 番号の取扱い履歴: a read-only page that writes no audit entry."""

    path = "/me/history"
    guards = [employees_only]  # a read: a retired employee may still see how their numbers were handled
    include_in_schema = False

    @get("/", name="selfservice_history")
    async def history(
        self,
        db_session: AsyncSession,
        principal: Principal,
        page: PageNumber = "1",
        after: str = "",
        before: str = "",
    ) -> Template | Redirect:
        employee = await services.own_employee(db_session, principal)
        if employee is None:
            return Redirect(path="/me")
        found = await services.number_history(db_session, principal, employee, PageRequest.parse(page, after, before))
        return Template(
            template_name="selfservice/history.html",
            context={
                "rows": found.rows,
                "pager": page_links(
                    found.window, None, lambda params: f"/me/history?{urlencode(params)}", numbers=False
                ),
                "jst": services.JST,
            },
        )
