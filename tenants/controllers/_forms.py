"""様式集: the forms library page and its .docx downloads (admins and handlers; the forms hold no personal data)."""

from __future__ import annotations

from litestar import Controller, get
from litestar.exceptions import NotFoundException
from litestar.response import Response, Template
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.principal import Principal, number_handlers
from app.http import attachment
from app.text import today_in_japan
from tenants import services
from tenants.forms_library import DOCX_MEDIA_TYPE, FORMS, find_form, render_form

_SUFFIX = ".docx"


class FormsLibraryController(Controller):
    path = "/admin/forms"
    guards = [number_handlers]
    include_in_schema = False

    @get("/", name="forms_library")
    async def forms_page(self, db_session: AsyncSession, principal: Principal) -> Template:
        tenant = await services.own_tenant(db_session, principal)
        return Template(template_name="tenants/forms.html", context={"tenant": tenant, "forms": FORMS})

    @get("/{filename:str}", name="forms_library_download")
    async def download(self, db_session: AsyncSession, principal: Principal, filename: str) -> Response[bytes]:
        """``/admin/forms/<code>.docx``: the form filled with the principal's own tenant; unknown → 404."""
        form = find_form(filename.removesuffix(_SUFFIX)) if filename.endswith(_SUFFIX) else None
        if form is None:
            raise NotFoundException()
        tenant = await services.own_tenant(db_session, principal)
        content = await render_form(form, tenant, today_in_japan(), releasing=db_session)
        return Response(
            content=content,
            media_type=DOCX_MEDIA_TYPE,
            headers={"Content-Disposition": attachment(form.filename), "Cache-Control": "no-store"},
        )
