"""Every table of the main database, imported in one place (composition root for Alembic and tests)."""

from __future__ import annotations

from sqlalchemy import MetaData

from app.db import Base


def load_models() -> list[MetaData]:
    """Import every package's models and return the metadata objects Alembic compares against."""
    import app.audit.models
    import app.auth.models
    import app.kvstore
    import app.tenancy
    import app.vault.models
    import tenants.models  # noqa: F401

    return [Base.metadata, app.kvstore.KeyValueItem.metadata]
