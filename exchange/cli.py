"""``mnvault tokens create | list | revoke``: API tokens from the command line (automation), returning lines to print.

The same service as the settings page (checks, Japanese messages, audit entries); the actor is the command line.
``create`` ends with the token alone on its last line, so a script can take it with ``tail -n 1``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, TypeVar

from litestar.exceptions import NotFoundException
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.audit.events import Actor
from app.db import make_engine
from app.forms import FormInvalid
from app.pager import PageRequest
from app.tenancy import Tenant, TenantKind
from app.text import format_date
from exchange import services
from exchange.models import ApiToken

if TYPE_CHECKING:
    from app.config import Settings
    from app.vault import Vault

T = TypeVar("T")

CLI_ACTOR = Actor(user_id=None, login_id="mnvault tokens", name="コマンドライン", role="system", organisation="")


class TokenCommandError(Exception):
    """The command cannot do what was asked; the message (Japanese) says what to change."""


async def _with_session(settings: Settings, work: Callable[[AsyncSession, Vault], Awaitable[T]]) -> T:
    """Run ``work`` in one transaction on the main database with the vault open (keys, audit key source)."""
    from app.vault import Vault

    vault = Vault.from_settings(settings)
    engine = make_engine(settings.effective_database_url, pool_size=1)
    try:
        async with async_sessionmaker(engine, expire_on_commit=False)() as session:
            result = await work(session, vault)
            await session.commit()
            return result
    finally:
        await engine.dispose()
        await vault.close()


async def _company(session: AsyncSession, code: str) -> Tenant:
    tenant = (await session.execute(select(Tenant).where(Tenant.code == code))).scalar_one_or_none()
    if tenant is None or tenant.kind is not TenantKind.COMPANY:
        raise TokenCommandError(f"事業者 {code} が見つかりません（事業者コードを指定してください）")
    return tenant


def _refusal(exc: FormInvalid) -> TokenCommandError:
    options = {"name": "--name", "scopes": "--scopes", "days": "--days", "networks": "--allow"}
    return TokenCommandError(" / ".join(f"{options.get(k, k)}: {message}" for k, message in exc.errors.items()))


async def run_create(
    settings: Settings, tenant_code: str, name: str, scopes: str, days: int | None, allow: Sequence[str]
) -> list[str]:
    """Issue a token; the last line is the token alone (shown this once, never stored in clear)."""

    async def work(session: AsyncSession, vault: Vault) -> list[str]:
        tenant = await _company(session, tenant_code)
        wanted = services.TokenRequest(
            name=name,
            scopes=scopes.split(","),
            days=services.DEFAULT_DAYS if days is None else days,
            networks=list(allow),
        )
        try:
            issued = await services.create_token(
                session, vault, tenant_id=tenant.id, actor=CLI_ACTOR, created_by=None, request=wanted
            )
        except FormInvalid as exc:
            raise _refusal(exc) from None
        token = issued.token
        return [
            f"APIトークン「{token.name}」を {tenant.code}（{tenant.name}）に発行しました。",
            f"ID: {token.id}",
            f"権限: {', '.join(token.scopes)}",
            f"有効期限: {format_date(token.expires_at, time='minutes')}",
            f"許可する接続元: {', '.join(token.allowed_networks or ['制限なし'])}",
            "トークンはこの一度しか表示されません（次の行）:",
            issued.text,
        ]

    return await _with_session(settings, work)


async def run_revoke(settings: Settings, tenant_code: str, *, name: str | None, token_id: str | None) -> list[str]:
    """Revoke the tenant's token named ``name`` (not revoked yet) or with ``token_id``."""
    if (name is None) == (token_id is None):
        raise TokenCommandError("--name か --id のどちらか一方を指定してください")

    async def work(session: AsyncSession, vault: Vault) -> list[str]:
        tenant = await _company(session, tenant_code)
        token = await _token(session, tenant, name=name, token_id=token_id)
        if not await services.revoke_token(session, tenant_id=tenant.id, actor=CLI_ACTOR, token=token):
            return [f"APIトークン「{token.name}」（{token.id}）はすでに失効しています。"]
        return [f"APIトークン「{token.name}」（{token.id}）を失効させました。"]

    return await _with_session(settings, work)


async def _token(session: AsyncSession, tenant: Tenant, *, name: str | None, token_id: str | None) -> ApiToken:
    if name is not None:
        token = await services.active_token_named(session, tenant.id, name)
        if token is None:
            raise TokenCommandError(f"失効していない「{name}」という名前のトークンは {tenant.code} にありません")
        return token
    try:
        return await services.get_token(session, tenant.id, str(token_id))
    except NotFoundException:  # a malformed id and another tenant's id read alike
        raise TokenCommandError(f"ID {token_id} のトークンは {tenant.code} にありません") from None


async def run_list(settings: Settings, tenant_code: str) -> list[str]:
    """The tenant's tokens, newest first, with state, scopes, expiry, last use and allowed networks."""

    async def work(session: AsyncSession, vault: Vault) -> list[str]:
        tenant = await _company(session, tenant_code)
        lines: list[str] = []
        request = PageRequest()
        while True:
            page = await services.token_page(session, tenant.id, request)
            for token in page.tokens:
                used = format_date(token.last_used_at, time="minutes") if token.last_used_at else "未使用"
                lines.append(
                    f"{token.id}  {services.token_state(token)}  {token.name}  [{','.join(token.scopes)}]"
                    f"  期限 {format_date(token.expires_at, time='minutes')}  最終利用 {used}"
                    f"  接続元 {','.join(token.allowed_networks) if token.allowed_networks else '制限なし'}"
                )
            if not page.window.has_next:
                break
            request = PageRequest(after=page.window.last_cursor)
        return lines or [f"{tenant.code} にAPIトークンはありません。"]

    return await _with_session(settings, work)
