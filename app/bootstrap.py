"""Start-up tasks shared by the CLI and tests: migrations, first-run initialisation, demo data."""

from __future__ import annotations

from collections.abc import Iterator

from app.config import Settings
from app.db import ensure_sqlite_dir
from app.migrate import upgrade


def migrate_all(settings: Settings) -> None:
    """Apply every migration to the main database."""
    ensure_sqlite_dir(settings.effective_database_url)
    upgrade(settings.effective_database_url)


def initialize(settings: Settings) -> Iterator[str]:
    """Create the data directory and schema. Idempotent."""
    settings.data_path.mkdir(parents=True, exist_ok=True)
    migrate_all(settings)
    yield f"データディレクトリ: {settings.data_path.resolve()}"
    yield "スキーマを最新にしました。"


def check_ready(settings: Settings) -> None:
    """Refuse to serve when the installation is incomplete."""
    settings.data_path.mkdir(parents=True, exist_ok=True)


def run_demo(settings: Settings) -> Iterator[str]:
    """Fill a demo tenant (idempotent)."""
    migrate_all(settings)
    yield "デモデータは後続の機能で追加されます。"
