"""Alembic environment of the main database: every package's models."""

from __future__ import annotations

from app.migrate import run_environment
from app.schema import include_object, load_models

run_environment(load_models(), include_object=include_object)
