"""``mnvault purge``'s step for verification: images past their keeping time, records of erased numbers."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import async_sessionmaker

from app.config import Settings
from app.db import make_engine
from app.vault import Vault
from verification.services import maintenance_step


async def run_purge(settings: Settings) -> int:
    """Purge as the periodic maintenance does (``verification.services.maintenance_step``); returns how many
    submissions and records were purged. The vault is open for the run: it keys the audit entries."""
    vault = Vault.from_settings(settings)
    engine = make_engine(settings.effective_database_url, pool_size=1)
    try:
        return await maintenance_step(settings)(async_sessionmaker(engine, expire_on_commit=False))
    finally:
        await engine.dispose()
        await vault.close()
