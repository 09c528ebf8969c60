"""API tokens for tests: issue one through the service, and the header that carries it."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.events import Actor
from app.tenancy import Tenant
from app.vault import Vault
from exchange.services import SCOPES, TokenRequest, create_token

ALL_SCOPES = tuple(SCOPES)
ISSUER = Actor(user_id=None, login_id="test", name="テスト管理者", role="管理者", organisation="test")


async def make_token(
    db: AsyncSession,
    vault: Vault,
    tenant: Tenant,
    *,
    scopes: Sequence[str] = ALL_SCOPES,
    name: str = "給与ソフト",
    days: int = 90,
    networks: Sequence[str] = (),
) -> str:
    """Issue a token for the tenant (committed) and return its text."""
    request = TokenRequest(name=name, scopes=list(scopes), days=days, networks=list(networks))
    issued = await create_token(db, vault, tenant_id=tenant.id, actor=ISSUER, created_by=None, request=request)
    await db.commit()
    return issued.text


def bearer(token: str) -> dict[str, str]:
    """The Authorization header of a token."""
    return {"authorization": f"Bearer {token}"}
