"""Retention of payee links (取引先用リンク): links whose expiry is more than ``PAYEE_LINK_GRACE`` ago.

Only a hash of a link's token is kept, but the row says who was sent a link and when; a month after its expiry it
serves no one. Used and revoked links go by the same rule (a link lives ``MNV_PAYEE_LINK_DAYS``, 14 days by
default, so a used one goes at most about six weeks after its use): the admin's payee page shows the latest link,
and the grace lets the admin still see 期限切れ / 使用済み / 無効 for a recent one. The payee's number and their
record are untouched. Run by ``mnvault purge`` and the periodic maintenance through ``app.retention``; each
removal is logged per tenant.
"""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import any_of
from app.retention import Removed, register_retention
from tenants.models import PayeeLink

PAYEE_LINK_GRACE = dt.timedelta(days=30)


async def remove_finished_payee_links(session: AsyncSession, now: dt.datetime, limit: int) -> Removed:
    """Delete up to ``limit`` payee links that expired before ``now - PAYEE_LINK_GRACE`` (read by
    ``ix_payee_links_expires_at``); returns the count per tenant."""
    finished = PayeeLink.expires_at <= now - PAYEE_LINK_GRACE
    statement = select(PayeeLink.tenant_id, PayeeLink.id).where(finished).order_by(PayeeLink.expires_at).limit(limit)
    rows = list((await session.execute(statement)).all())
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
