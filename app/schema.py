"""Every table of the main database, imported in one place (composition root for Alembic and tests)."""

from __future__ import annotations

from sqlalchemy import MetaData

from app.db import Base


def load_models() -> list[MetaData]:
    """Import every package's models and return the metadata objects Alembic compares against."""
    import app.audit.models
    import app.auth.models
    import app.documents
    import app.jobs.models
    import app.kvstore
    import app.tenancy
    import app.vault.models
    import billing.models  # noqa: F401
    import exchange.models  # noqa: F401
    import partners.models  # noqa: F401
    import tenants.models  # noqa: F401
    import verification.models  # noqa: F401

    return [Base.metadata, app.kvstore.KeyValueItem.metadata]


def include_object(obj: object, name: str | None, kind: str, reflected: bool, compare_to: object) -> bool:
    """Whether Alembic's autogenerate compares this object (the main database's environment and the schema test).

    Skipped: advanced-alchemy's store table (dialect-conditional DDL), and the name-search objects a migration
    creates on one database only (``tenants.models.SEARCH_ONLY_OBJECTS``: trigram indexes, FTS5 tables).
    """
    from tenants.models import SEARCH_ONLY_OBJECTS

    table = getattr(obj, "table", obj)
    if getattr(table, "name", name) == "kv_store":
        return False
    return not (name or "").startswith(SEARCH_ONLY_OBJECTS)
