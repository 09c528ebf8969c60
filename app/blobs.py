# STAND-IN: replaced by ft12-store at merge
"""Blob stores (stand-in): a local directory under the data dir."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Protocol

from app.config import Settings


class BlobMissing(Exception):
    """No blob under that key."""


class BlobStore(Protocol):
    async def put(self, key: str, data: bytes) -> None: ...
    async def get(self, key: str) -> bytes: ...
    async def delete(self, key: str) -> None: ...
    async def close(self) -> None: ...


_SAFE = re.compile(r"^[A-Za-z0-9/_.-]+$")


class LocalBlobStore:
    """Blobs as files under ``root`` (outside any static path)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, key: str) -> Path:
        if not _SAFE.match(key) or ".." in key:
            raise ValueError("bad blob key")
        return self.root / key

    async def put(self, key: str, data: bytes) -> None:
        path = self._path(key)

        def write() -> None:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)

        await asyncio.to_thread(write)

    async def get(self, key: str) -> bytes:
        path = self._path(key)
        try:
            return await asyncio.to_thread(path.read_bytes)
        except FileNotFoundError:
            raise BlobMissing(key) from None

    async def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    async def close(self) -> None:
        return None


def blob_store_from_settings(settings: Settings) -> BlobStore:
    """The configured store: a local directory ``<data dir>/blobs``."""
    return LocalBlobStore(settings.data_path / "blobs")
