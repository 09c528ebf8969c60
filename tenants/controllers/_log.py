"""操作履歴: the tenant's operation log, newest first, for every management role (viewers included)."""

from __future__ import annotations

import datetime as dt
from urllib.parse import urlencode

from litestar import Controller, get
from litestar.response import Template
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.events import AuditAction, AuditResult
from app.audit.log_page import LogFilter
from app.audit.log_page import log_page as read_log_page
from app.auth.principal import Principal, company_staff
from app.http import PageNumber
from app.pager import PageRequest, page_links
from app.text import DateRejected, parse_date
from tenants.services import JST

PER_PAGE = 50


def _day(value: str) -> dt.date | None:
    try:
        return parse_date(value)  # app.text: 西暦 or 和暦, as every date field
    except DateRejected:
        return None


def _start_of(day: dt.date | None) -> dt.datetime | None:
    return None if day is None else dt.datetime.combine(day, dt.time(), JST)


class OperationLogController(Controller):
    path = "/admin/log"
    guards = [company_staff]
    include_in_schema = False

    @get("/", name="operation_log")
    async def log_page(
        self,
        db_session: AsyncSession,
        principal: Principal,
        action: str = "",
        result: str = "",
        since: str = "",
        until: str = "",
        page: PageNumber = 1,
        after: str = "",
        before: str = "",
    ) -> Template:
        chosen_action = AuditAction(action) if action in AuditAction._value2member_map_ else None
        chosen_result = AuditResult(result) if result in AuditResult._value2member_map_ else None
        since_day, until_day = _day(since), _day(until)
        narrowed = LogFilter(
            action=chosen_action,
            result=chosen_result,
            since=_start_of(since_day),
            until=_start_of(until_day + dt.timedelta(days=1)) if until_day else None,
        )
        found = await read_log_page(
            db_session, principal.tenant_id, narrowed, PageRequest.parse(page, after, before), per_page=PER_PAGE
        )
        filters: dict[str, str] = {
            "action": chosen_action.value if chosen_action else "",
            "result": chosen_result.value if chosen_result else "",
            "since": since_day.isoformat() if since_day else "",
            "until": until_day.isoformat() if until_day else "",
        }
        kept = {key: value for key, value in filters.items() if value}
        return Template(
            template_name="tenants/log.html",
            context={
                "entries": found.entries,
                "pager": page_links(
                    found.window, None, lambda params: f"/admin/log?{urlencode({**kept, **params})}", numbers=False
                ),
                "filters": filters,
                "actions": [a.value for a in AuditAction],
                "results": [r.value for r in AuditResult],
                "jst": JST,
            },
        )
