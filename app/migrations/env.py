"""Alembic environment of the main database: every package's models."""

from __future__ import annotations

from app.migrate import run_environment
from app.schema import load_models


def include_object(obj: object, name: str | None, kind: str, reflected: bool, compare_to: object) -> bool:
    """advanced-alchemy's store table has dialect-conditional DDL that autogenerate cannot compare: skip it."""
    table = getattr(obj, "table", obj)
    return getattr(table, "name", name) != "kv_store"


run_environment(load_models(), include_object=include_object)
