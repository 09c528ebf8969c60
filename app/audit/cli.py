"""What ``mnvault audit verify`` does: check every chain (or one tenant's) and say where the first one breaks."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.audit.log import TENANTS, ChainReport, verify_all, verify_chain
from app.db import make_engine


class UnknownTenant(LookupError):
    """The --tenant value names no tenant."""


@dataclass
class VerifyOutcome:
    """Lines to print, and the failure message when a chain is broken."""

    lines: list[str] = field(default_factory=list)
    failure: str | None = None


async def run_verify(database_url: str, tenant: str | None) -> VerifyOutcome:
    """Verify one tenant (id or code) or all tenants on the database at ``database_url``."""
    engine = make_engine(database_url, pool_size=1)
    try:
        async with async_sessionmaker(engine)() as session:
            if tenant is None:
                reports = await verify_all(session)
            else:
                reports = [await verify_chain(session, await _find_tenant(session, tenant))]
            codes = await _tenant_codes(session)
    finally:
        await engine.dispose()
    return _outcome(reports, codes)


async def _find_tenant(session: AsyncSession, tenant: str) -> uuid.UUID:
    try:
        by_id = TENANTS.c.id == uuid.UUID(tenant)
    except ValueError:
        by_id = None
    condition = TENANTS.c.code == tenant if by_id is None else or_(by_id, TENANTS.c.code == tenant)
    found = (await session.execute(select(TENANTS.c.id).where(condition))).scalar()
    if found is None:
        raise UnknownTenant(f"テナント {tenant} が見つかりません（ID かコードを指定してください）")
    return found


async def _tenant_codes(session: AsyncSession) -> dict[uuid.UUID, str]:
    rows = (await session.execute(select(TENANTS.c.id, TENANTS.c.code))).all()
    return {row.id: row.code for row in rows}


def _outcome(reports: list[ChainReport], codes: dict[uuid.UUID, str]) -> VerifyOutcome:
    outcome = VerifyOutcome()
    for report in reports:
        name = f"{codes.get(report.tenant_id, '?')} ({report.tenant_id})"
        if report.ok:
            outcome.lines.append(f"OK  {name}: {report.entries} 件")
        else:
            outcome.lines.append(f"NG  {name}: 番号 {report.first_bad_seq}: {report.reason}")
    broken = [r for r in reports if not r.ok]
    if broken:
        first = broken[0]
        outcome.failure = (
            f"操作履歴の改ざんを検出しました（{len(broken)} テナント; "
            f"最初は {codes.get(first.tenant_id, first.tenant_id)} の番号 {first.first_bad_seq}）"
        )
    elif not reports:
        outcome.lines.append("操作履歴はまだありません。")
    return outcome
