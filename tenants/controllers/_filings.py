"""届出書の印刷: choose employees, 届出区分 and the purpose, get the PDF (numbers opened only while it is built).

``GET /admin/filings/employment-insurance-number`` lists the employees (the employee list's filters and keyset
paging) with what each one still lacks; ``POST …/print`` (CSRF, step-up) answers with the PDF itself: no
redirect, no copy on disk or in a cache (``no-store``), not gzipped (``no_compression``, as the exports).
Admins and handlers only, partner staff inside a client with 番号の取扱い included (they act as a handler).
"""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.response import Template
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.principal import Principal, number_handlers, stepup_guard
from app.forms import FormInvalid
from app.http import attachment
from app.paging import PageRequest
from app.vault import Vault
from tenants import services
from tenants.controllers._people import window_link
from tenants.services._filings import (
    DEFAULT_FILING_PURPOSE,
    FILING_KINDS,
    FilingKind,
    filing_purposes,
    filing_rows,
    office_problems,
    parse_person_ids,
    print_employment_insurance_filings,
)

FILING_PATH = "/admin/filings/employment-insurance-number"
_FILTERS = ("q", "department", "employment")


def _filters(source: Any) -> dict[str, str]:
    params = {key: str(source.get(key) or "") for key in _FILTERS}
    if params["employment"] not in services.EMPLOYMENT_CHOICES:
        params["employment"] = "active"
    return params


async def _page(
    db_session: AsyncSession,
    vault: Vault,
    principal: Principal,
    params: dict[str, str],
    paging: PageRequest,
    *,
    chosen: tuple[set[str], str, str] = (set(), FilingKind.NEW.value, ""),
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Template:
    filters = services.EmployeeFilter(
        name=params["q"],
        department_id=params["department"],
        employment=params["employment"],
        page=paging.page,
        after=paging.after,
        before=paging.before,
    )
    ticked, kind, purpose = chosen
    purposes = await filing_purposes(db_session, principal)
    return Template(
        template_name="tenants/filings/employment_insurance.html",
        context={
            "rows": await filing_rows(db_session, vault, principal, filters),
            "params": params,
            "link": window_link(FILING_PATH, params),
            "departments": await services.department_choices(db_session, principal),
            "employment_choices": services.EMPLOYMENT_CHOICES,
            "kinds": FILING_KINDS,
            "kind": kind,
            "purposes": [(p, p) for p in purposes],
            "purpose": purpose or (DEFAULT_FILING_PURPOSE if DEFAULT_FILING_PURPOSE in purposes else ""),
            "ticked": ticked,
            "office_problems": office_problems(await services.own_tenant(db_session, principal)),
            "errors": errors or {},
            "path": FILING_PATH,
        },
        status_code=status_code,
    )


class FilingController(Controller):
    path = FILING_PATH
    guards = [number_handlers, stepup_guard]
    include_in_schema = False

    @get("/", name="filings_employment_insurance")
    async def filing_page(
        self, request: Request[Any, Any, Any], db_session: AsyncSession, vault: Vault, principal: Principal
    ) -> Template:
        """The employees to choose from (masked numbers only), 届出区分 and the purpose."""
        params = _filters(request.query_params)
        return await _page(db_session, vault, principal, params, PageRequest.from_query(request.query_params))

    @post("/print", name="filings_employment_insurance_print", opt={"no_compression": True})
    async def print_filings(
        self, request: Request[Any, Any, Any], db_session: AsyncSession, vault: Vault, principal: Principal
    ) -> Template | Response[bytes]:
        """The PDF of the ticked employees, one 印刷 entry each; the page again (400) with what to fix."""
        form = await request.form()
        params = _filters(form)
        values = [str(value) for value in form.getall("person", [])]
        kind, purpose = str(form.get("kind") or ""), str(form.get("purpose") or "")
        try:
            ids = parse_person_ids(values)
            printed = await print_employment_insurance_filings(db_session, vault, principal, ids, kind, purpose)
        except FormInvalid as exc:
            await db_session.rollback()
            return await _page(
                db_session,
                vault,
                principal,
                params,
                PageRequest(),
                chosen=(set(values), kind, purpose),
                errors=exc.errors,
                status_code=400,
            )
        return Response(
            content=printed.pdf,
            status_code=200,
            media_type="application/pdf",
            headers={
                "Content-Disposition": attachment(printed.filename),
                "Cache-Control": "no-store",
                "Pragma": "no-cache",
                "X-Content-Type-Options": "nosniff",
            },
        )
