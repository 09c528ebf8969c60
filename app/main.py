"""Composition root: ``create_app(settings)`` wires every package into one Litestar app."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from advanced_alchemy.extensions.litestar import (
    AsyncSessionConfig,
    SQLAlchemyAsyncConfig,
    SQLAlchemyPlugin,
)
from jinja2 import Environment, FileSystemLoader
from litestar import Litestar, Router
from litestar.config.compression import CompressionConfig
from litestar.contrib.jinja import JinjaTemplateEngine
from litestar.datastructures import State
from litestar.openapi.config import OpenAPIConfig
from litestar.openapi.plugins import JsonRenderPlugin
from litestar.openapi.spec import Components, SecurityScheme
from litestar.plugins.flash import FlashConfig, FlashPlugin
from litestar.static_files import create_static_files_router
from litestar.stores.base import Store
from litestar.template.config import TemplateConfig
from sqlalchemy.ext.asyncio import async_sessionmaker

from app import __version__
from app.auth.controllers import AccountController, ReauthController, SignInController, signin_rate_limit
from app.auth.csrf import CSRFMiddleware, SessionBoundCSRF
from app.auth.passwords import hasher_from_settings
from app.auth.principal import PrincipalMiddleware
from app.auth.sessions import session_config
from app.clientaddr import ClientAddressMiddleware
from app.config import STATIC_DIR, Settings
from app.db import commit_before_response, ensure_sqlite_dir, make_engine, pool_options
from app.deps import DEPENDENCIES
from app.http import (
    EXCEPTION_HANDLERS,
    RefuseOddRequestsMiddleware,
    keep_uploads_in_memory,
    refuse_undecodable_form_fields,
    security_headers,
)
from app.jobs.worker import JobSystem
from app.logs import configure_logging
from app.problems import BEARER_SCHEME
from app.retention import run_retention
from app.text import format_date, format_insurance_number
from app.vault import Vault
from app.vault.periodic import PeriodicMaintenance
from app.web import HealthController, RootController

ROOT = Path(__file__).resolve().parent.parent
TEMPLATES_DIR = ROOT / "templates"


def _build_store(settings: Settings, db_config: SQLAlchemyAsyncConfig, namespace: str) -> Store:
    if settings.store == "redis":
        from litestar.stores.redis import RedisStore

        return RedisStore.with_client(url=settings.redis_url, namespace=f"mnvault:{namespace}")
    from advanced_alchemy.extensions.litestar.store import SQLAlchemyStore

    from app.kvstore import KeyValueItem

    return SQLAlchemyStore(db_config, model=KeyValueItem, namespace=namespace)


API_DESCRIPTION = (
    "給与ソフト連携 API（/api/v1）。APIトークン（Bearer）で認証し、トークンの権限（scope）の範囲で呼び出せます。"
    "エラーは RFC 9457 の application/problem+json（detail は日本語、項目ごとの誤りは errors）で返します。"
    "番号を返す・受け取る呼び出しは操作履歴に記録されます。"
)


def create_app(settings: Settings) -> Litestar:
    """Build the application from explicit settings (nothing is read from the environment here)."""
    configure_logging(settings.log_level, settings.log_format)
    # Uploaded files (import files: My Numbers in clear) never spill to a temporary file on disk.
    keep_uploads_in_memory()
    refuse_undecodable_form_fields()
    vault = Vault.from_settings(settings)
    ensure_sqlite_dir(settings.effective_database_url)
    engine = make_engine(settings.effective_database_url, **pool_options(settings))
    db_config = SQLAlchemyAsyncConfig(
        engine_instance=engine,
        session_config=AsyncSessionConfig(expire_on_commit=False),
        set_default_exception_handler=False,
    )
    stores: dict[str, Store] = {
        "sessions": _build_store(settings, db_config, "sessions"),
        "rate_limit": _build_store(settings, db_config, "rate_limit"),
        # Import files between their check and their commit, sealed by the vault (exchange.services._uploads).
        "imports": _build_store(settings, db_config, "imports"),
    }
    # Templates are read once per process: checking each file's mtime on every render cost ~4 % of a list page.
    templates = Environment(loader=FileSystemLoader(TEMPLATES_DIR), autoescape=True, auto_reload=False)
    template_config = TemplateConfig(engine=JinjaTemplateEngine.from_environment(templates))
    template_config.engine_instance.engine.globals["reveal_seconds"] = settings.reveal_seconds
    template_config.engine_instance.engine.globals.update(feature_template_globals(settings))
    # The one display of dates and times (YYYY/MM/DD, JST): {{ value|ymd }}, {{ value|ymd(time="minutes") }}.
    template_config.engine_instance.engine.filters["ymd"] = format_date
    # 雇用保険's 11-digit numbers as printed on the 被保険者証: {{ digits|insurance_number }} → 1234-567890-1.
    template_config.engine_instance.engine.filters["insurance_number"] = format_insurance_number
    static_router = create_static_files_router(path="/static", directories=[STATIC_DIR], include_in_schema=False)
    sign_in_router = Router(
        path="/",
        route_handlers=[SignInController],
        middleware=[signin_rate_limit(settings).middleware],
        include_in_schema=False,
    )
    routes: list[Any] = [
        RootController,
        HealthController,
        static_router,
        sign_in_router,
        AccountController,
        ReauthController,
        *feature_routes(),
    ]
    sessions = session_config(settings)
    load_retention_kinds(settings)
    load_ledger_hooks()
    # Retention first (expired links, sessions, uploads, job reports...), then the vault's keys and checkpoints.
    maintenance = PeriodicMaintenance(
        vault,
        async_sessionmaker(engine, expire_on_commit=False),
        settings,
        steps=[run_retention, *feature_maintenance(settings)],
    )
    jobs = JobSystem(engine, vault, settings)

    async def close_resources() -> None:
        await engine.dispose()
        await vault.close()

    return Litestar(
        route_handlers=[Router(path="/", route_handlers=routes)],
        plugins=[SQLAlchemyPlugin(config=db_config), FlashPlugin(FlashConfig(template_config=template_config))],
        dependencies=DEPENDENCIES,
        template_config=template_config,
        stores=stores,
        # zlib's default level: level 9 (Litestar's default) cost ~10 % of a list page for ~1 % smaller bodies.
        compression_config=CompressionConfig(backend="gzip", exclude_opt_key="no_compression", gzip_compress_level=6),
        middleware=[
            RefuseOddRequestsMiddleware(),
            ClientAddressMiddleware(settings.trusted_proxy_networks),
            sessions.middleware,
            PrincipalMiddleware(settings, db_config.provide_session),
            CSRFMiddleware(
                SessionBoundCSRF(vault.derive_secret("csrf")), session_key=sessions.key, tls=settings.served_over_tls
            ),
            *feature_middleware(settings, db_config),
            commit_before_response(db_config.session_scope_key)(),
        ],
        exception_handlers=EXCEPTION_HANDLERS,
        # Logging is configured once per process by app.logs.configure_logging. Litestar's own default config would
        # start a queue-listener thread for every app built and never stop it (thousands in a test run).
        logging_config=None,
        before_send=[security_headers(hsts=settings.served_over_tls)],
        openapi_config=OpenAPIConfig(
            title="MyNumber Vault API",
            version=__version__,
            path="/schema",
            render_plugins=[JsonRenderPlugin()],
            description=API_DESCRIPTION
            + f"呼び出しは APIトークンごとに1分間に{settings.api_rate_per_minute:,}回までです（超えると 429、"
            "Retry-After ヘッダーの秒数だけ待ってから呼び出してください）。",
            components=Components(
                security_schemes={
                    BEARER_SCHEME: SecurityScheme(
                        type="http",
                        scheme="bearer",
                        bearer_format="mnv_<事業者と鍵のID 64桁の16進数>_<秘密 43文字>",
                        description="管理画面の「設定 > APIトークン」か mnvault tokens create で発行したトークン。"
                        "Authorization: Bearer <トークン> で送ります。",
                    )
                }
            ),
        ),
        on_startup=[finish_api_description, maintenance.start, jobs.start],
        on_shutdown=[jobs.stop, maintenance.stop, close_resources],
        debug=False,
        state=State(
            {
                "settings": settings,
                "vault": vault,
                "hasher": hasher_from_settings(settings),
                "maintenance": maintenance,
                "jobs": jobs,
            }
        ),
    )


def finish_api_description(app: Litestar) -> None:
    """Complete the OpenAPI description with what the feature packages know and Litestar cannot infer (the API's
    closed request bodies, its file responses: ``exchange.controllers._openapi``), before the first request."""
    from exchange.controllers._openapi import finish_api_description as finish_exchange

    finish_exchange(app.openapi_schema)


def load_job_kinds() -> None:
    """Register every package's job kinds (``app.jobs.job_kind``) in a process without the app (``mnvault
    worker``): a package's kinds are registered when its controllers are imported, as in the app."""
    feature_routes()


def load_retention_kinds(settings: Settings | None = None) -> None:
    """Register the feature packages' retention kinds (``app.retention``), for the app and ``mnvault purge``; with
    ``settings``, also the kinds that need the blob store (the exchanged files of partners)."""
    import importlib

    for module in ("tenants.retention", "exchange.retention"):
        importlib.import_module(module)
    if settings is not None:
        from partners.retention import register as register_exchange_files

        register_exchange_files(settings)


def load_ledger_hooks() -> None:
    """Register the feature packages' flush hooks that keep ledgers in each change's transaction (billing's id
    usage: ``billing.usage``), for the app and every command (``app.cli``)."""
    import importlib

    importlib.import_module("billing.usage")


def feature_maintenance(settings: Settings) -> list[Any]:
    """Feature packages' steps of the in-app maintenance: the daily 削除予定日 reminder mail (when SMTP is set), and
    ID-document images and verification records past their time or made unopenable by an erasure."""
    from tenants.services import deletion_reminder_step
    from verification.services import maintenance_step as verification_purge

    return [deletion_reminder_step(settings), verification_purge(settings)]


def feature_middleware(settings: Settings, db_config: SQLAlchemyAsyncConfig) -> list[Any]:
    """Feature packages' middleware, after the principal and CSRF: billing's read-only rule for tenants whose trial
    or contract ended (billing.readonly); the count of unread exchanged files for the nav (partners.badge)."""
    from billing.readonly import ReadOnlyMiddleware
    from partners.badge import UnreadFilesMiddleware

    return [ReadOnlyMiddleware(settings, db_config.provide_session), UnreadFilesMiddleware(db_config.provide_session)]


def feature_routes() -> list[Any]:
    """Controllers of the feature packages (the only place app/ imports them)."""
    from billing.contract_controllers import CONTRACT_ROUTES
    from billing.controllers import ROUTES as BILLING_ROUTES
    from billing.erasure_controllers import ERASURE_ROUTES
    from exchange.controllers import ROUTES as EXCHANGE_ROUTES
    from partners.controllers import ROUTES as PARTNER_ROUTES
    from selfservice.controllers import ROUTES as SELF_ROUTES
    from tenants.controllers import ROUTES as TENANT_ROUTES
    from verification.controllers import ROUTES as VERIFICATION_ROUTES
    from verification.payee_controllers import PAYEE_ROUTES as PAYEE_VERIFICATION_ROUTES

    return [
        *TENANT_ROUTES,
        *SELF_ROUTES,
        *EXCHANGE_ROUTES,
        *VERIFICATION_ROUTES,
        *PAYEE_VERIFICATION_ROUTES,
        *BILLING_ROUTES,
        *CONTRACT_ROUTES,
        *ERASURE_ROUTES,
        *PARTNER_ROUTES,
    ]


def feature_template_globals(settings: Settings) -> dict[str, Any]:
    """Jinja globals the feature packages offer to every template (the operator's tenant pages; whether the
    principal sees 個人ボックス, for the person pages)."""
    from billing.erasure_controllers import template_globals
    from partners.services import may_see_boxes

    return {**template_globals(settings), "may_see_boxes": may_see_boxes, "person_box_limit": settings.person_box_limit}
