"""Alembic environment of the key store database: only the key store's own table."""

from __future__ import annotations

from app.migrate import run_environment
from app.vault.keystore import VERSION_TABLE, KeystoreBase

run_environment(KeystoreBase.metadata, version_table=VERSION_TABLE)
