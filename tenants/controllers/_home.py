"""The admin home page (管理者ホーム)."""

from __future__ import annotations

from litestar import Controller, get
from litestar.response import Template

from app.auth.principal import company_staff


class AdminHomeController(Controller):
    path = "/admin"
    guards = [company_staff]
    include_in_schema = False

    @get("/", name="admin_home")
    async def home(self) -> Template:
        return Template(template_name="tenants/home.html")
