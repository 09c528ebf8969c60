"""Fixtures of the exchange tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from app.config import Settings
from app.vault import Vault


@pytest.fixture
async def vault(settings: Settings) -> AsyncIterator[Vault]:
    """A vault for arranging and checking, with its own key-store connections (the app's live on another loop)."""
    arranging = Vault.from_settings(settings)
    yield arranging
    await arranging.close()
