"""Database and key files are created readable by their owner only (0600), whatever the umask."""

from __future__ import annotations

import os
import sqlite3
import stat
from pathlib import Path

import pytest

from app.bootstrap import initialize
from app.config import load_settings
from app.db import ensure_sqlite_dir


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")
def test_init_creates_every_database_and_key_file_0600(tmp_path: Path) -> None:
    data_dir = tmp_path / "var"
    settings = load_settings({}, data_dir=str(data_dir), argon2_time_cost=1, argon2_memory_kib=64)
    old_umask = os.umask(0o022)
    try:
        list(initialize(settings))
        for name in ("mnvault.db", "keystore.db"):
            with sqlite3.connect(data_dir / name) as connection:  # a writer: the -wal and -shm files exist now
                connection.execute("PRAGMA journal_mode=WAL")
                connection.execute("CREATE TABLE IF NOT EXISTS mode_probe (x INTEGER)")
                connection.execute("INSERT INTO mode_probe VALUES (1)")
                files = [data_dir / name, data_dir / f"{name}-wal", data_dir / f"{name}-shm"]
                assert all(f.exists() for f in files)
                for file in files:
                    assert mode(file) == 0o600, (file.name, oct(mode(file)))
    finally:
        os.umask(old_umask)
    assert mode(data_dir / "master.key") == 0o600


@pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")
def test_an_existing_database_readable_by_others_is_tightened(tmp_path: Path) -> None:
    database = tmp_path / "old.db"
    for file in (database, tmp_path / "old.db-wal"):
        file.write_bytes(b"")
        file.chmod(0o644)
    ensure_sqlite_dir(f"sqlite+aiosqlite:///{database}")
    assert mode(database) == 0o600
    assert mode(tmp_path / "old.db-wal") == 0o600
