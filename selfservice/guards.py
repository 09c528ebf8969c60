"""The one server-side guard for the employee's state: every self-service write passes it (/me).

Signing in and the session already stop on the 退職日 (the employee account carries the moment access ends), but
the guard does not rely on that flag: it reads the employee record and compares its 退職日 with today in Japan.
"""

from __future__ import annotations

from typing import Any

from advanced_alchemy.extensions.litestar import SQLAlchemyPlugin
from litestar import Request, Response
from litestar.connection import ASGIConnection
from litestar.exceptions import PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler
from litestar.response import Template
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.principal import principal_of
from tenants.models import Person, PersonKind
from tenants.services import today

RETIRED_MESSAGE = "退職済みのため、登録・変更はできません。ご不明な点は会社の担当者にお問い合わせください。"
_READS = frozenset({"GET", "HEAD", "OPTIONS"})


class EmployeeOutOfService(PermissionDeniedException):
    """A self-service write by an employee whose 退職日 has come (or whose record is gone)."""

    detail = RETIRED_MESSAGE


def _db_session(connection: ASGIConnection[Any, Any, Any, Any]) -> AsyncSession:
    """The request's own database session (the one the handler will get)."""
    config = connection.app.plugins.get(SQLAlchemyPlugin).config[0]
    session = config.provide_session(connection.app.state, connection.scope)
    assert isinstance(session, AsyncSession)
    return session


async def employee_in_service(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """Refuse every write (POST and the like) unless the signed-in employee is in service today (JST).

    Reads pass (the home page tells a retired employee what happened). Errors: ``EmployeeOutOfService`` (403).
    """
    if connection.scope.get("method", "GET") in _READS:
        return
    principal = principal_of(connection)
    if principal is None or principal.person_id is None:
        return  # anonymous: the role guard answers; an unlinked account has nothing to write
    statement = select(Person.retirement_date).where(
        Person.tenant_id == principal.tenant_id, Person.id == principal.person_id, Person.kind == PersonKind.EMPLOYEE
    )
    found = (await _db_session(connection).execute(statement)).one_or_none()
    if found is None:
        raise EmployeeOutOfService()
    (retirement_date,) = found
    if retirement_date is not None and retirement_date <= today():
        raise EmployeeOutOfService()


def out_of_service_page(request: Request[Any, Any, Any], exc: EmployeeOutOfService) -> Response[Any]:
    """The Japanese page for a refused write: what happened and whom to ask."""
    return Template(
        template_name="error.html",
        context={"status": 403, "title": "退職済みのため操作できません", "hint": RETIRED_MESSAGE, "error_id": None},
        status_code=403,
    )  # type: ignore[return-value]


__all__ = ["RETIRED_MESSAGE", "EmployeeOutOfService", "employee_in_service", "out_of_service_page"]
