"""Composition root: ``create_app(settings)`` wires every package into one Litestar app."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from advanced_alchemy.extensions.litestar import (
    AsyncSessionConfig,
    SQLAlchemyAsyncConfig,
    SQLAlchemyPlugin,
)
from litestar import Litestar, Router
from litestar.config.compression import CompressionConfig
from litestar.config.csrf import CSRFConfig
from litestar.contrib.jinja import JinjaTemplateEngine
from litestar.datastructures import State
from litestar.openapi.config import OpenAPIConfig
from litestar.openapi.plugins import JsonRenderPlugin
from litestar.static_files import create_static_files_router
from litestar.stores.base import Store
from litestar.template.config import TemplateConfig

from app.config import Settings
from app.db import ensure_sqlite_dir, make_engine
from app.http import EXCEPTION_HANDLERS, SecurityHeadersMiddleware
from app.logs import configure_logging
from app.web import HealthController, RootController

ROOT = Path(__file__).resolve().parent.parent
TEMPLATES_DIR = ROOT / "templates"
STATIC_DIR = Path(__file__).resolve().parent / "static"


def _build_store(settings: Settings, db_config: SQLAlchemyAsyncConfig, namespace: str) -> Store:
    if settings.store == "redis":
        from litestar.stores.redis import RedisStore

        return RedisStore.with_client(url=settings.redis_url, namespace=f"mnvault:{namespace}")
    from advanced_alchemy.extensions.litestar.store import SQLAlchemyStore

    from app.kvstore import KeyValueItem

    return SQLAlchemyStore(db_config, model=KeyValueItem, namespace=namespace)


def derive_secret(master_material: bytes, purpose: str) -> str:
    """A stable per-purpose secret (the same in every worker and after restarts)."""
    return hashlib.sha256(b"mnvault:" + purpose.encode() + b":" + master_material).hexdigest()


def create_app(settings: Settings) -> Litestar:
    """Build the application from explicit settings (nothing is read from the environment here)."""
    configure_logging(settings.log_level, settings.log_format)
    ensure_sqlite_dir(settings.effective_database_url)
    engine = make_engine(settings.effective_database_url)
    db_config = SQLAlchemyAsyncConfig(
        engine_instance=engine,
        session_config=AsyncSessionConfig(expire_on_commit=False),
        before_send_handler="autocommit_include_redirects",
        set_default_exception_handler=False,
    )
    stores: dict[str, Store] = {
        "sessions": _build_store(settings, db_config, "sessions"),
        "rate_limit": _build_store(settings, db_config, "rate_limit"),
    }
    csrf_secret = derive_secret(settings.effective_database_url.encode(), "csrf")
    template_config = TemplateConfig(directory=TEMPLATES_DIR, engine=JinjaTemplateEngine)
    static_router = create_static_files_router(path="/static", directories=[STATIC_DIR], include_in_schema=False)
    routes: list[Any] = [RootController, HealthController, static_router]

    async def dispose_engine() -> None:
        await engine.dispose()

    app = Litestar(
        route_handlers=[Router(path="/", route_handlers=routes)],
        plugins=[SQLAlchemyPlugin(config=db_config)],
        template_config=template_config,
        stores=stores,
        csrf_config=CSRFConfig(
            secret=csrf_secret,
            cookie_secure=settings.served_over_tls,
            cookie_httponly=True,
            cookie_samesite="lax",
            exclude=["/api/"],
        ),
        compression_config=CompressionConfig(backend="gzip", exclude_opt_key="no_compression"),
        middleware=[SecurityHeadersMiddleware(hsts=settings.served_over_tls)],
        exception_handlers=EXCEPTION_HANDLERS,
        openapi_config=OpenAPIConfig(
            title="MyNumber Vault API",
            version="0.1.0",
            path="/schema",
            render_plugins=[JsonRenderPlugin()],
        ),
        on_shutdown=[dispose_engine],
        debug=False,
        state=State({"settings": settings}),
    )
    return app
