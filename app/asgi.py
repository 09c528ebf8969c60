"""ASGI entry point for servers: ``uvicorn --factory app.asgi:application``."""

from __future__ import annotations

from litestar import Litestar

from app.config import load_settings
from app.main import create_app


def application() -> Litestar:
    """Build the app from the environment (called once per worker process)."""
    return create_app(load_settings())
