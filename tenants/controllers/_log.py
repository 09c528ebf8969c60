"""操作履歴: the tenant's operation log, newest first, for every management role (viewers included)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from litestar import Controller, get
from litestar.response import Template
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.events import AuditAction, AuditResult
from app.audit.log import list_entries
from app.auth.principal import Principal, company_staff
from app.http import PageNumber
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
    ) -> Template:
        chosen_action = AuditAction(action) if action in AuditAction._value2member_map_ else None
        chosen_result = AuditResult(result) if result in AuditResult._value2member_map_ else None
        since_day, until_day = _day(since), _day(until)
        rows = await list_entries(
            db_session,
            principal.tenant_id,
            limit=PER_PAGE + 1,
            offset=(page - 1) * PER_PAGE,
            action=chosen_action,
            result=chosen_result,
            since=_start_of(since_day),
            until=_start_of(until_day + dt.timedelta(days=1)) if until_day else None,
        )
        filters: dict[str, Any] = {
            "action": chosen_action.value if chosen_action else "",
            "result": chosen_result.value if chosen_result else "",
            "since": since_day.isoformat() if since_day else "",
            "until": until_day.isoformat() if until_day else "",
        }
        return Template(
            template_name="tenants/log.html",
            context={
                "entries": rows[:PER_PAGE],
                "has_next": len(rows) > PER_PAGE,
                "page": page,
                "filters": filters,
                "actions": [a.value for a in AuditAction],
                "results": [r.value for r in AuditResult],
                "jst": JST,
            },
        )
