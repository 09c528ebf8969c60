"""Vault fixtures: the vault on the test's databases, a tenant with its keys."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import Settings
from app.vault import Vault
from tests.vault.helpers import make_tenant


@pytest.fixture
async def vault(settings: Settings) -> AsyncIterator[Vault]:
    vault = Vault.from_settings(settings)
    yield vault
    await vault.close()


@pytest.fixture
async def tenant_id(db: AsyncSession, vault: Vault) -> uuid.UUID:
    tenant_id = await make_tenant(db)
    await vault.create_tenant_keys(db, tenant_id)
    await db.commit()
    return tenant_id
