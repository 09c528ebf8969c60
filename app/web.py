"""The top page and the health check."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, get
from litestar.response import Template
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from app.logs import get_logger

log = get_logger("web")


class RootController(Controller):
    include_in_schema = False

    @get("/", name="home")
    async def home(self, request: Request[Any, Any, Any]) -> Template:
        return Template(template_name="home.html")


class HealthController(Controller):
    @get("/healthz", name="healthz", summary="Health check (database reachable)")
    async def healthz(self, db_engine: AsyncEngine) -> Response[dict[str, str]]:
        try:
            async with db_engine.connect() as connection:
                await connection.execute(text("SELECT 1"))
        except Exception as exc:  # any failure to reach the database means "not ready"
            log.warning("health check failed", extra={"error": type(exc).__name__})
            return Response({"status": "unavailable"}, status_code=503)
        return Response({"status": "ok"})
