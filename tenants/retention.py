"""Retention of payee links (取引先用リンク): links expired, used or revoked more than ``PAYEE_LINK_GRACE`` ago.

Only a hash of a link's token is kept, but the row says who was sent a link and when; once its use is over and a
month has passed it serves no one (the admin's payee page shows the latest link: a month of grace lets the admin
still see 期限切れ / 使用済み for a recent one). The payee's number and their record are untouched. Run by
``mnvault purge`` and the periodic maintenance through ``app.retention``; each removal is logged per tenant.
"""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import delete, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import any_of
from app.retention import Removed, register_retention
from tenants.models import PayeeLink

PAYEE_LINK_GRACE = dt.timedelta(days=30)


async def remove_finished_payee_links(session: AsyncSession, now: dt.datetime, limit: int) -> Removed:
    """Delete up to ``limit`` payee links expired, used or revoked before ``now - PAYEE_LINK_GRACE``."""
    cutoff = now - PAYEE_LINK_GRACE
    finished = or_(PayeeLink.expires_at <= cutoff, PayeeLink.used_at <= cutoff, PayeeLink.revoked_at <= cutoff)
    rows = list((await session.execute(select(PayeeLink.tenant_id, PayeeLink.id).where(finished).limit(limit))).all())
    by_tenant: dict[uuid.UUID, list[uuid.UUID]] = {}
    for tenant_id, link_id in rows:
        by_tenant.setdefault(tenant_id, []).append(link_id)
    dialect = session.get_bind().dialect.name
    counts: Removed = {}
    for tenant_id, ids in by_tenant.items():
        result = await session.execute(
            delete(PayeeLink)
            .where(PayeeLink.tenant_id == tenant_id, any_of(PayeeLink.id, ids, dialect=dialect), finished)
            .execution_options(synchronize_session=False)
        )
        counts[tenant_id] = int(getattr(result, "rowcount", 0) or 0)
    return counts


PAYEE_LINKS = register_retention("payee_links", remove_finished_payee_links, label="取引先用リンク")
