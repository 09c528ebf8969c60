"""``mnvault tenants erase --tenant CODE``: the contract-end erasure of a whole tenant from the command line."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import async_sessionmaker

from app.audit.events import Actor
from app.blobs import blob_store_from_settings
from app.config import Settings
from app.db import make_engine
from app.tenancy import Tenant, TenantKind
from app.text import format_date, today_in_japan
from app.vault import Vault
from billing.tenant_erasure import TenantErasureRefused, erase_tenant, operator_organisation

CLI_ACTOR_LOGIN = "cli"


class EraseCommandError(Exception):
    """A failure the operator can act on (Japanese, one line)."""


async def run_erase_tenant(settings: Settings, tenant_code: str) -> list[str]:
    """Erase the tenant with this code (the same rule, record and log entries as the operator's screen; the actor
    is the command line). Returns the lines to print (the certificate number among them); EraseCommandError for an
    unknown code or before the grace period is over. Running it again on an erased tenant changes nothing."""
    vault = Vault.from_settings(settings)
    store = blob_store_from_settings(settings)
    engine = make_engine(settings.effective_database_url, pool_size=2)
    try:
        sessions = async_sessionmaker(engine, expire_on_commit=False)
        async with sessions() as session:
            code = tenant_code.strip().lower()
            statement = select(Tenant).where(Tenant.code == code, Tenant.kind == TenantKind.COMPANY)
            tenant = (await session.execute(statement)).scalar_one_or_none()
            if tenant is None:
                raise EraseCommandError(f"事業者 {tenant_code} が見つかりません（事業者コードを指定してください）")
            already = tenant.erased_at is not None
            operator = await operator_organisation(session)
        actor = Actor(
            user_id=None, login_id=CLI_ACTOR_LOGIN, name="コマンドライン", role="system", organisation=operator.name
        )
        try:
            erasure = await erase_tenant(
                sessions,
                vault,
                store,
                tenant.id,
                actor,
                today=today_in_japan(),
                grace_days=settings.contract_grace_days,
            )
        except TenantErasureRefused as exc:
            raise EraseCommandError(exc.message) from None
    finally:
        await engine.dispose()
        await store.close()
        await vault.close()
    head = "すでに消去されています" if already else "すべてのデータを消去しました"
    return [
        f"{erasure.tenant_code}（{erasure.tenant_name}）: {head}（{format_date(erasure.erased_at, time='minutes')}）",
        f"マイナンバー {erasure.numbers_erased}件、本人確認書類画像 {erasure.documents_erased}件、"
        f"対象者 {erasure.people}名",
        f"削除証明書番号: {erasure.certificate_number}",
    ]
